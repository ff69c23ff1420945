"""A take's time line: tag glyphs where they landed, the pre-roll, a selection, a play head.

    ✓    ✗        ✓✓
    ┄┄┄┄┄─────━━━━━━━─────────┃·········
    0:00      0:10      0:20      0:30

Row 1: glyphs (a wide glyph takes two columns; a later tag in the same column wins, the
column counts how many). Row 2: the pre-roll (┄) kept from before "record" was pressed,
the recorded part (─), the selected moment's region (━), the play head or "now" (┃),
and time not recorded yet (·). Row 3: a time scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from ..moments import clock


@dataclass
class Mark:
    tap: int
    start: int
    end: int
    glyph: str
    colour: str


class Timeline(Widget):
    DEFAULT_CSS = """
    Timeline { height: 3; }
    """

    def __init__(self, *, min_span_s: float = 60.0, **kwargs):
        super().__init__(**kwargs)
        self.min_span_s = min_span_s
        self.sample_rate = 48_000
        self.length = 0            # frames recorded (or the take's length)
        self.preroll = 0           # frames of pre-roll at the start of the take
        self.marks: dict[int, Mark] = {}
        self.selected: int | None = None
        self.playhead: int | None = None
        self.live = False          # recording: "now" is drawn at the end
        self._row: list | None = None     # the glyph row, kept between frames
        self._row_key: tuple | None = None

    # -- data ------------------------------------------------------------------------------
    def set_take(self, length: int, sample_rate: int, preroll: int = 0, live: bool = False) -> None:
        self.length, self.sample_rate, self.preroll, self.live = length, sample_rate or 48_000, preroll, live
        self.refresh()

    def set_length(self, length: int) -> None:
        """The take grew: redraw only when that moves something on screen (a column, the scale)."""
        if length == self.length:
            return
        width = max(10, self.size.width)
        before = (self.column(self.length, width), self.span)
        self.length = length
        if (self.column(self.length, width), self.span) != before:
            self.refresh()

    def set_marks(self, marks: dict[int, Mark]) -> None:
        self.marks = dict(marks)
        self._row = None
        self.refresh()

    def put(self, marker_id: int, mark: Mark) -> None:
        """One more tag (a flood brings hundreds a second): placed in the kept row, not redrawn from all."""
        replaced = marker_id in self.marks
        self.marks[marker_id] = mark
        if replaced or self._row is None:
            self._row = None
        else:
            self._place(self._row, marker_id, mark, len(self._row))
        self.refresh()

    def remove(self, marker_id: int) -> None:
        if self.marks.pop(marker_id, None) is not None:
            self._row = None
            self.refresh()

    def select(self, marker_id: int | None) -> None:
        self.selected = marker_id
        self.refresh()

    def set_playhead(self, frame: int | None) -> None:
        self.playhead = frame
        self.refresh()

    def clear(self) -> None:
        self._row = None
        self.marks.clear()
        self.selected = self.playhead = None
        self.length = self.preroll = 0
        self.refresh()

    # -- drawing -------------------------------------------------------------------------
    @property
    def span(self) -> int:
        """Frames across the width. A growing take moves the scale in steps (30 s, then a
        minute, then five), so tags do not creep left on every meter reading."""
        least = max(self.length, round(self.min_span_s * self.sample_rate), 1)
        if not self.live:
            return least
        seconds = least / self.sample_rate
        step = 30 if seconds <= 300 else 60 if seconds <= 1800 else 300
        return int(-(-seconds // step) * step * self.sample_rate)

    def column(self, frame: int, width: int) -> int:
        return max(0, min(width - 1, int(frame / self.span * width)))

    def _place(self, cells: list, marker_id: int, m: Mark, width: int) -> None:
        """Put a tag's glyph in its column; the later tap (then the newer tag) wins a column."""
        col = self.column(m.tap, width)
        here = cells[col]
        if here is not None and (here[0], here[1]) > (m.tap, marker_id):
            return
        cells[col] = (m.tap, marker_id, m.glyph, m.colour)

    def glyph_row(self, width: int) -> list[tuple[str, str]]:
        key = (width, self.span)
        if self._row is None or self._row_key != key:
            cells: list = [None] * width
            for mid, m in self.marks.items():
                self._place(cells, mid, m, width)
            self._row, self._row_key = cells, key
        out: list[tuple[str, str]] = [(" ", "")] * width
        skip = False
        for col, cell in enumerate(self._row):
            if skip:
                skip = False
                continue
            if cell is None:
                continue
            glyph, colour = cell[2], cell[3]
            w = cell_len(glyph)
            if w == 2 and col + 1 < width:      # a wide glyph (emoji) takes two columns
                out[col], out[col + 1] = (glyph, colour), ("", colour)
                skip = True
            elif w != 1:
                out[col] = (glyph[:1], colour)
            else:
                out[col] = (glyph, colour)
        sel = self.marks.get(self.selected) if self.selected is not None else None
        if sel is not None:
            col = self.column(sel.tap, width)
            glyph = out[col][0] if out[col][0].strip() else sel.glyph[:1]
            out[col] = (glyph, f"reverse {sel.colour}")
        return out

    def render(self) -> Text:
        width = max(10, self.size.width)
        out = Text(no_wrap=True, overflow="crop")
        for glyph, style in self.glyph_row(width):
            if glyph:
                out.append(glyph, style=style)
        out.append("\n")
        axis = []
        pre_end = self.column(self.preroll, width) if self.preroll else -1
        end = self.column(self.length, width) if self.length else -1
        for i in range(width):
            if i <= end:
                axis.append(("┄", "grey50") if i < pre_end else ("─", "grey70"))
            else:
                axis.append(("·", "grey30"))
        sel = self.marks.get(self.selected) if self.selected is not None else None
        if sel is not None:
            for i in range(self.column(sel.start, width), self.column(sel.end, width) + 1):
                axis[i] = ("━", f"bold {sel.colour}")
        head = self.playhead if self.playhead is not None else (self.length if self.live else None)
        if head is not None:
            axis[self.column(head, width)] = ("┃", "bold white" if self.playhead is None else "bold magenta")
        for ch, style in axis:
            out.append(ch, style=style)
        out.append("\n")
        out.append(self.scale(width), style="dim")
        return out

    def scale(self, width: int) -> str:
        seconds = self.span / self.sample_rate
        step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
                     if s / seconds * width >= 10), 3600)
        line = [" "] * width
        t = 0.0
        while t <= seconds:
            col = int(t / seconds * width)
            label = clock(t, tenths=False)
            if col + len(label) <= width:
                line[col:col + len(label)] = label
            t += step
        return "".join(line)
