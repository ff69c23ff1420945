"""The log of recent tags: when, what, who tagged and from which device.

Only what the store has committed is shown here (the flash shows a press at once; the
log shows it is on disk). Undone tags stay in the log, struck through, so nobody wonders
where their tag went.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...store.markers import Marker
from ..moments import clock

MAX_ROWS = 200


def device_label(source: str) -> str:
    kind, _, rest = source.partition(":")
    return {"key": "keyboard", "midi": f"MIDI {rest}", "osc": f"OSC {rest}"}.get(kind, source)


class TagLog(DataTable):
    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", **kwargs)
        self.ids: list[int] = []
        self.glyphs: dict[int, tuple[str, str]] = {}

    def on_mount(self) -> None:
        self.add_columns("at", "", "tag", "who", "device")

    def add(self, marker: Marker, sample_rate: int, glyph: str, colour: str, label: str) -> None:
        key = str(marker.id)
        if marker.id in self.glyphs:
            self.mark(marker, glyph, colour, label)
            return
        follow = self.cursor_row >= self.row_count - 1 or self.row_count == 0
        self.glyphs[marker.id] = (glyph, colour)
        self.add_row(clock(marker.tap_sample / sample_rate), Text(glyph, style=f"bold {colour}"),
                     Text(label, style=colour), marker.who, device_label(marker.source), key=key)
        self.ids.append(marker.id)
        while len(self.ids) > MAX_ROWS:
            old = self.ids.pop(0)
            self.glyphs.pop(old, None)
            self.remove_row(str(old))
        if follow:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def mark(self, marker: Marker, glyph: str, colour: str, label: str) -> None:
        """An undo (deleted_at set) strikes a row through; a redo restores it."""
        if marker.id not in self.glyphs:
            return
        style = "strike dim" if marker.deleted_at else ""
        key = str(marker.id)
        self.update_cell(key, self.columns_keys[1], Text(glyph, style=f"{style} bold {colour}".strip()))
        self.update_cell(key, self.columns_keys[2],
                         Text(label + (" (undone)" if marker.deleted_at else ""), style=f"{style} {colour}".strip()))

    @property
    def columns_keys(self):
        return list(self.columns.keys())

    def texts(self) -> list[str]:
        """The rows as plain text (tests, the bench)."""
        out = []
        for row_key in self.rows:
            out.append(" ".join(str(c) for c in self.get_row(row_key)))
        return out

    def reset(self) -> None:
        self.clear()
        self.ids.clear()
        self.glyphs.clear()
