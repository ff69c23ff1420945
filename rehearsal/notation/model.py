"""What a notation is, once validated. Frozen: a take keeps the copy it was recorded with."""

from __future__ import annotations

from dataclasses import dataclass, field

GESTURES = ("tap", "double-tap", "long-press")
MIDI_TYPES = ("control_change", "note", "program_change")
ACTIONS = ("undo", "redo", "score-advance", "score-hold")
# the score actions move the score being performed (record / play --score, the Score view):
# rehearsal.scores.follow.ScoreClock.cue
SCORE_ACTIONS = ("score-advance", "score-hold")
# keys the TUI keeps for itself: a notation cannot bind them (the learn screen refuses them too)
RESERVED_KEYS = frozenset({"ctrl+r", "ctrl+n", "ctrl+z", "ctrl+y", "ctrl+l", "ctrl+t", "ctrl+q", "ctrl+p", "ctrl+c",
                           "question_mark", "escape", "tab", "shift+tab", *(f"f{i}" for i in range(1, 10))})


@dataclass(frozen=True)
class MidiBinding:
    """One physical control. Pedals differ: some send 127 on press, some 0 (polarity)."""

    type: str                 # control_change | note | program_change
    number: int | None        # controller, note or program number; None = any
    channel: int | None       # 0-15; None = any channel
    gesture: str = "tap"
    polarity: str = "normal"  # normal: value >= threshold is a press; inverted: below it
    threshold: int = 64

    @property
    def control_key(self) -> tuple:
        """Identifies the physical control, whatever gesture is bound to it."""
        return (self.type, self.number, self.channel)

    def describe(self) -> str:
        what = {"control_change": "CC", "note": "note", "program_change": "PC"}[self.type]
        num = "any" if self.number is None else str(self.number)
        ch = "" if self.channel is None else f" ch{self.channel + 1}"
        inv = " (inverted)" if self.polarity == "inverted" else ""
        return f"MIDI {what} {num}{ch}{inv} {self.gesture}"


@dataclass(frozen=True)
class KeyBinding:
    key: str                  # Textual key name: "g", "pagedown", "space", "ctrl+z"
    gesture: str = "tap"      # terminals report presses only: tap or double-tap


@dataclass(frozen=True)
class Symbol:
    id: str
    glyph: str
    label: str
    colour: str
    meaning: str = ""
    ascii: str = ""           # shown where the terminal cannot draw the glyph
    keys: tuple[KeyBinding, ...] = ()
    midi: tuple[MidiBinding, ...] = ()
    osc: tuple[str, ...] = ()
    before_s: float = 8.0     # players tap after they hear: a tap at t marks
    after_s: float = 2.0      # [t - before_s, t + after_s]
    region: str = ""          # what curation cuts from a tap: "phrase", "window" ("": the step says)


@dataclass(frozen=True)
class Action:
    """A bindable command that is not a tag: undo or redo the last tag; advance the score
    being performed to its next event, or hold it (and let it go)."""

    id: str
    keys: tuple[KeyBinding, ...] = ()
    midi: tuple[MidiBinding, ...] = ()
    osc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notation:
    name: str
    description: str
    symbols: tuple[Symbol, ...]
    actions: tuple[Action, ...] = ()
    source: str = ""          # file it was read from
    text: str = field(default="", repr=False)   # the TOML as read: stored with each take
    sha256: str = ""

    def symbol(self, symbol_id: str) -> Symbol | None:
        for s in self.symbols:
            if s.id == symbol_id:
                return s
        return None

    def bindings(self):
        """(target, binding) for every MIDI binding; target is a Symbol or an Action."""
        for target in (*self.symbols, *self.actions):
            for b in target.midi:
                yield target, b

    def osc_targets(self) -> dict[str, Symbol | Action]:
        return {addr: t for t in (*self.symbols, *self.actions) for addr in t.osc}

    def key_targets(self) -> dict[tuple[str, str], Symbol | Action]:
        return {(k.key, k.gesture): t for t in (*self.symbols, *self.actions) for k in t.keys}
