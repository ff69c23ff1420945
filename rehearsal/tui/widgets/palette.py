"""The notation palette: every symbol's glyph, label, colour and how to trigger it.

A table the room can read from across the room: glyph in its colour, label, keys (with
the gesture when it is not a tap), MIDI controls, OSC addresses. Selecting a row (Enter
or a click) tags that symbol, so a mouse works too.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ...notation import Action, Notation
from ..glyphs import shown

_GESTURE = {"tap": "", "double-tap": " ×2", "long-press": " hold"}
_ACTION_GLYPH = {"undo": ("↶", "<-"), "redo": ("↷", "->")}


_KEY_NAMES = {"pagedown": "PgDn", "pageup": "PgUp", "space": "Space", "enter": "Enter", "escape": "Esc",
              "tab": "Tab", "delete": "Del", "backspace": "Backspace", "insert": "Ins", "home": "Home",
              "end": "End", "up": "Up", "down": "Down", "left": "Left", "right": "Right"}


def key_label(key: str) -> str:
    """A key as a person types it: `[` (not left_square_bracket), `=`, `-`, `ctrl+r`, `PgDn`;
    a binding's several keys ("d,delete") as `d / Del`."""
    from textual.keys import format_key

    shown = []
    for one in key.split(","):
        *mods, name = one.strip().split("+")
        shown.append("+".join([*mods, _KEY_NAMES.get(name) or format_key(name)]))
    return " / ".join(shown)


def describe_keys(target) -> str:
    return ", ".join(f"{key_label(k.key)}{_GESTURE[k.gesture]}" for k in target.keys) or "-"


def describe_midi(target) -> str:
    parts = []
    for b in target.midi:
        what = {"control_change": "CC", "note": "note", "program_change": "PC"}[b.type]
        num = "*" if b.number is None else str(b.number)
        ch = "" if b.channel is None else f"/ch{b.channel + 1}"
        inv = " inv" if b.polarity == "inverted" else ""
        parts.append(f"{what}{num}{ch}{inv}{_GESTURE[b.gesture]}")
    return ", ".join(parts) or "-"


def action_glyph(action: Action, ascii_only: bool) -> str:
    glyph, fallback = _ACTION_GLYPH.get(action.id, ("•", "*"))
    return fallback if ascii_only else glyph


class Palette(DataTable):
    class Chosen(Message):
        def __init__(self, target_id: str, is_action: bool):
            super().__init__()
            self.target_id, self.is_action = target_id, is_action

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.notation: Notation | None = None

    def on_mount(self) -> None:
        self.add_columns("", "symbol", "keys", "MIDI", "OSC")

    def show(self, notation: Notation, ascii_only: bool = False, limited: bool = False) -> None:
        self.notation = notation
        self.clear()
        for s in notation.symbols:
            glyph = shown(s, ascii_only, limited)
            self.add_row(Text(glyph, style=f"bold {s.colour}"), Text(s.label, style=s.colour),
                         describe_keys(s), describe_midi(s), ", ".join(s.osc) or "-", key=s.id)
        for a in notation.actions:
            self.add_row(Text(action_glyph(a, ascii_only), style="bold"), Text(a.id, style="italic"),
                         describe_keys(a), describe_midi(a), ", ".join(a.osc) or "-", key=f"action:{a.id}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        event.stop()
        if key.startswith("action:"):
            self.post_message(self.Chosen(key.split(":", 1)[1], True))
        else:
            self.post_message(self.Chosen(key, False))
