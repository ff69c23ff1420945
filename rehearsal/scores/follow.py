"""Where the performer is in a score: the count-in, the current event, the next ones.

`ScoreClock` turns seconds since record was pressed into a position; a pedal (or key) can
`hold` the score (the cursor stops until `go`) or `advance` it to the next event at once.
The headless `rehearsal record --score` and `rehearsal play --score` print `line()`; the TUI's
Score view draws `position()` large.

A pedal reaches the score in one way everywhere: the notation binds the actions
`score-advance` and `score-hold` (MIDI, keys, OSC; also `/rehearsal/score/advance` and
`/rehearsal/score/hold`), the marker bus tells them as `ScoreCue`s, and `ScoreClock.cue`
moves the clock at the moment of the press. `ScoreFollower` is a take following its score
(record and play, headless); the TUI's Score view moves the app's clock through `cue` too."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    count_in_s: float          # seconds of count-in left (0 once the score runs)
    index: int | None          # the event sounding now; None during the count-in or after the end
    fraction: float            # how far into it (0..1)
    score_s: float             # seconds into the score
    held: bool
    done: bool


class ScoreClock:
    def __init__(self, score):
        self.score = score
        self.offset = 0.0          # seconds the score runs behind the take (holds, advances)
        self.held_at: float | None = None
        # (take seconds, score seconds, running): the clock's course, one entry per hold,
        # go and advance, so the take can be labelled where each event was really shown
        self.course: list[tuple[float, float, bool]] = []

    def _moved(self, t: float) -> None:
        self.course.append((t, self.score_seconds(t), self.held_at is None))

    def score_seconds(self, t: float) -> float:
        if self.held_at is not None:
            return self.held_at
        return t - self.score.count_in_s - self.offset

    def hold(self, t: float) -> None:
        if self.held_at is None:
            self.held_at = self.score_seconds(t)
            self._moved(t)

    def go(self, t: float) -> None:
        if self.held_at is not None:
            self.offset = t - self.score.count_in_s - self.held_at
            self.held_at = None
            self._moved(t)

    def toggle_hold(self, t: float) -> None:
        (self.go if self.held_at is not None else self.hold)(t)

    def advance(self, t: float) -> None:
        """Jump to the start of the next event now (the performer is ahead of the score)."""
        s = self.score_seconds(t)
        nxt = next((e for e in self.score.events if e.start_s > s + 1e-9), None)
        if nxt is None:
            return
        if self.held_at is not None:
            self.held_at = nxt.start_s
        else:
            self.offset = t - self.score.count_in_s - nxt.start_s
        self._moved(t)

    def cue(self, action: str, t: float) -> bool:
        """A pedal's action at take second `t`: "score-advance" or "score-hold" (hold / go).
        False for any other action."""
        if action == "score-advance":
            self.advance(t)
        elif action == "score-hold":
            self.toggle_hold(t)
        else:
            return False
        return True

    def shown_at(self, score_s: float) -> float:
        """Seconds into the score's time line (from the end of the count-in, as if never held)
        at which the clock showed score second `score_s`: the score as it was performed."""
        t0, s0, running = 0.0, -self.score.count_in_s, True   # record pressed: the count-in starts
        for t, s, run in self.course:
            if running and s0 <= score_s < s0 + (t - t0):
                break
            if score_s < s:            # skipped by an advance: shown for a moment, at the jump
                return t - self.score.count_in_s
            t0, s0, running = t, s, run
        return t0 + (score_s - s0) - self.score.count_in_s if running else t0 - self.score.count_in_s

    def performed(self):
        """The score with each event where the clock showed it (holds and advances applied);
        the score itself when the clock never moved."""
        import dataclasses

        if not self.course:
            return self.score
        starts = [self.shown_at(e.start_s) for e in self.score.events]
        ends = starts[1:] + [self.shown_at(self.score.events[-1].end_s - 1e-6)]
        events = tuple(dataclasses.replace(e, start_s=a, duration_s=b - a)
                       for e, a, b in zip(self.score.events, starts, ends)
                       if b - a >= 0.05)          # skipped by an advance: not performed, not marked
        return dataclasses.replace(self.score, events=events)

    def position(self, t: float) -> Position:
        s = self.score_seconds(t)
        held = self.held_at is not None
        if s < 0:
            return Position(-s, None, 0.0, s, held, False)
        i = self.score.at(s)
        if i is None:
            return Position(0.0, None, 1.0, s, held, True)
        e = self.score.events[i]
        return Position(0.0, i, (s - e.start_s) / e.duration_s if e.duration_s else 1.0, s, held, False)

    def upcoming(self, index: int | None, n: int = 4):
        start = 0 if index is None else index + 1
        return self.score.events[start:start + n]

    def line(self, t: float) -> str:
        """One line for a terminal: `count-in 3` / `now ʃ mf "breathe" | next t k ə`."""
        pos = self.position(t)
        if pos.done:
            return "score: the end"
        nexts = " ".join(e.glyph for e in self.upcoming(pos.index))
        if pos.index is None:
            return f"score: count-in {int(pos.count_in_s) + 1} | first {nexts}"
        e = self.score.events[pos.index]
        what = " ".join(x for x in (e.glyph, e.dynamic or "", f'"{e.cue}"' if e.cue else "") if x)
        section = f"[{e.section}] " if e.section else ""
        return f"score: {section}now {what} | next {nexts}" + (" (held)" if pos.held else "")


def pressed_at(seconds_now: float, pressed: float | None) -> float:
    """The take second of a press at time.monotonic() `pressed` (None: now), the take being
    `seconds_now` in: a cue told late (a tap committed after its double-tap window, a busy
    bus or UI) still moves the score where the pedal was pressed."""
    late = 0.0 if pressed is None else max(0.0, time.monotonic() - pressed)
    return max(0.0, seconds_now - late)


def no_score_to_cue(msg) -> str:
    """What a `ScoreCue` says when nothing follows a score (record, play, the TUI)."""
    return f"{msg.action} ({msg.event.source}): no score is being performed (start with --score FILE)"


class ScoreFollower:
    """A take following its score: `seconds()` is the time since the count-in began (the
    take's seconds, less its pre-roll). `on_bus` takes the bus's messages: each `ScoreCue`
    moves the clock where the pedal was pressed (a tap committed after its double-tap window
    still lands at its press). Cues come on the bus thread, readings on another: a lock."""

    def __init__(self, score, seconds):
        self.score = score
        self.seconds = seconds
        self.clock = ScoreClock(score)
        self._lock = threading.Lock()
        self.cues = 0

    def cue(self, action: str, pressed: float | None = None) -> bool:
        """Move the score: `pressed` is the press's time.monotonic() (None: now)."""
        with self._lock:
            moved = self.clock.cue(action, pressed_at(self.seconds(), pressed))
            self.cues += moved
        return moved

    def on_bus(self, msg) -> None:
        from ..markers.bus import ScoreCue

        if isinstance(msg, ScoreCue):
            self.cue(msg.action, msg.event.t)

    def now(self) -> tuple[str, str | None]:
        """(the line to show, the symbol sounding now: None in a rest, the count-in, after the end)."""
        with self._lock:
            t = self.seconds()
            pos = self.clock.position(t)
            return self.clock.line(t), (self.score.events[pos.index].symbol if pos.index is not None else None)

    def performed(self):
        """The score as it was performed (ScoreClock.performed): what labels the take."""
        with self._lock:
            return self.clock.performed()
