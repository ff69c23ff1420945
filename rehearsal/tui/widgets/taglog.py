"""The log of recent tags: when, what, who tagged and from which device.

Only what the store has committed is shown here (the flash shows a press at once; the
log shows it is on disk). Undone tags stay in the log, struck through, so nobody wonders
where their tag went.

Drawn line by line from a cache of finished rows (Textual's line API): OSC can bring
hundreds of tags a second, and a table widget that re-indexes and re-renders its rows
for each one takes the event loop away from the meters. Focus it to scroll back
(up / down / page up / page down / end); it follows the newest tag otherwise.
"""

from __future__ import annotations

from collections import deque

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from ...store.markers import Marker
from ..moments import clock

MAX_ROWS = 500
TAGLOG_TITLE = "recent tags (committed to disk)"
COLUMNS = (("at", 8), ("", 4), ("tag", 11), ("who", 9))   # then the device, as wide as there is room


def device_label(source: str) -> str:
    kind, _, rest = source.partition(":")
    return {"key": "keyboard", "midi": f"MIDI {rest}", "osc": f"OSC {rest}"}.get(kind, source)


class TagLogTitle(Static):
    """The tag log's title, which says when tags wait in the marker bus's journal (the
    database locked by another program: `Delayed`) and when they were stored. The Record
    and Play screens show the bus's `Delayed` messages here, one way for both."""

    def __init__(self, **kwargs):
        super().__init__(TAGLOG_TITLE, classes="box-title", **kwargs)
        self.delayed = False          # tags wait in the journal

    def show_delayed(self, e) -> None:
        """`e`: a `rehearsal.markers.Delayed`."""
        self.delayed = e.journalled > 0
        if self.delayed:
            self.update(Text(f"Delayed: tags wait, safe, in the journal ({e.reason}); stored in order when "
                             "the database is back", style="bold yellow"))
        else:
            self.update(Text.assemble(TAGLOG_TITLE, (f"  · delayed tags stored ({e.stored}, in order)", "green")))


class _Row:
    __slots__ = ("marker", "sample_rate", "glyph", "colour", "label")

    def __init__(self, marker: Marker, sample_rate: int, glyph: str, colour: str, label: str):
        self.marker, self.sample_rate, self.glyph, self.colour, self.label = marker, sample_rate, glyph, colour, label

    def text(self) -> Text:
        m = self.marker
        undone = m.deleted_at is not None
        extra = "strike dim " if undone else ""
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{clock(m.tap_sample / self.sample_rate):>7} ", style="dim")
        t.append(f" {self.glyph} ".ljust(4), style=f"{extra}bold {self.colour}")
        t.append(self.label[:10].ljust(11), style=f"{extra}{self.colour}")
        t.append(m.who[:8].ljust(9))
        t.append(device_label(m.source), style="dim")
        if undone:
            t.append("  (undone)", style="bold")
        return t

    def plain(self) -> str:
        return self.text().plain


class TagLog(Widget, can_focus=True):
    DEFAULT_CSS = """
    TagLog { height: 1fr; }
    TagLog:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "scroll_rows(-1)", "older", show=False),
        Binding("down", "scroll_rows(1)", "newer", show=False),
        Binding("pageup", "scroll_rows(-10)", show=False),
        Binding("pagedown", "scroll_rows(10)", show=False),
        Binding("end", "follow", show=False),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rows: deque[_Row] = deque(maxlen=MAX_ROWS)
        self.by_id: dict[int, _Row] = {}
        self.back = 0                       # rows scrolled back from the newest (0: follow)
        self._strips: dict[tuple[int, int], Strip] = {}

    # -- data ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return [r.marker.id for r in self.rows]

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def add(self, marker: Marker, sample_rate: int, glyph: str, colour: str, label: str) -> None:
        if marker.id in self.by_id:
            self.mark(marker, glyph, colour, label)
            return
        if len(self.rows) == self.rows.maxlen:
            old = self.rows[0]
            self.by_id.pop(old.marker.id, None)
        row = _Row(marker, sample_rate, glyph, colour, label)
        self.rows.append(row)
        self.by_id[marker.id] = row
        if self.back:
            self.back = min(self.back + 1, max(0, len(self.rows) - 1))   # keep what the reader looks at
        self.refresh()

    def mark(self, marker: Marker, glyph: str, colour: str, label: str) -> None:
        """An undo (deleted_at set) strikes a row through; a redo restores it."""
        row = self.by_id.get(marker.id)
        if row is None:
            return
        row.marker, row.glyph, row.colour, row.label = marker, glyph, colour, label
        for key in [k for k in self._strips if k[0] == marker.id]:
            del self._strips[key]
        self.refresh()

    def reset(self) -> None:
        self.rows.clear()
        self.by_id.clear()
        self._strips.clear()
        self.back = 0
        self.refresh()

    def texts(self) -> list[str]:
        """The rows as plain text, oldest first (tests, the bench)."""
        return [r.plain() for r in self.rows]

    # -- scrolling -------------------------------------------------------------------------
    def action_scroll_rows(self, delta: int) -> None:
        self.back = max(0, min(len(self.rows) - 1, self.back - delta))
        self.refresh()

    def action_follow(self) -> None:
        self.back = 0
        self.refresh()

    # -- drawing ---------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            head = "".join(name.ljust(w) for name, w in COLUMNS) + "device"
            return Strip([Segment(head[:width].ljust(width), Style(bold=True, dim=True))], width)
        visible = self.size.height - 1
        if len(self.rows) <= visible:
            index = y - 1                      # not full yet: from the top, like any log
        else:
            newest = len(self.rows) - 1 - self.back
            index = newest - (visible - y)     # full: the newest at the bottom
        if index < 0 or index >= len(self.rows) or y > visible:
            return Strip.blank(width)
        row = self.rows[index]
        key = (row.marker.id, width)
        strip = self._strips.get(key)
        if strip is None:
            segments = list(row.text().render(self.app.console, end=""))
            strip = Strip(segments).crop_extend(0, width, None)
            if len(self._strips) > 4 * MAX_ROWS:
                self._strips.clear()
            self._strips[key] = strip
        return strip
