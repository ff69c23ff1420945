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

    # -- data ------------------------------------------------------------------------------
    def set_take(self, length: int, sample_rate: int, preroll: int = 0, live: bool = False) -> None:
        self.length, self.sample_rate, self.preroll, self.live = length, sample_rate or 48_000, preroll, live
        self.refresh()

    def set_length(self, length: int) -> None:
        if length != self.length:
            self.length = length
            self.refresh()

    def set_marks(self, marks: dict[int, Mark]) -> None:
        self.marks = dict(marks)
        self.refresh()

    def put(self, marker_id: int, mark: Mark) -> None:
        self.marks[marker_id] = mark
        self.refresh()

    def remove(self, marker_id: int) -> None:
        if self.marks.pop(marker_id, None) is not None:
            self.refresh()

    def select(self, marker_id: int | None) -> None:
        self.selected = marker_id
        self.refresh()

    def set_playhead(self, frame: int | None) -> None:
        self.playhead = frame
        self.refresh()

    def clear(self) -> None:
        self.marks.clear()
        self.selected = self.playhead = None
        self.length = self.preroll = 0
        self.refresh()

    # -- drawing -------------------------------------------------------------------------
    @property
    def span(self) -> int:
        return max(self.length, round(self.min_span_s * self.sample_rate), 1)

    def column(self, frame: int, width: int) -> int:
        return max(0, min(width - 1, int(frame / self.span * width)))

    def glyph_row(self, width: int) -> list[tuple[str, str]]:
        cells: list[tuple[str, str] | None] = [None] * width
        for mid, m in sorted(self.marks.items(), key=lambda kv: (kv[1].tap, kv[0])):
            col = self.column(m.tap, width)
            w = cell_len(m.glyph)
            if w != 1:   # wide glyph (emoji): two columns, or its first char if it does not fit
                if w == 2 and col + 1 < width:
                    cells[col] = (m.glyph, m.colour)
                    cells[col + 1] = ("", m.colour)
                    continue
                cells[col] = (m.glyph[:1], m.colour)
                continue
            cells[col] = (m.glyph, m.colour)
        sel = self.marks.get(self.selected) if self.selected is not None else None
        if sel is not None:
            col = self.column(sel.tap, width)
            glyph = cells[col][0] if cells[col] and cells[col][0] else sel.glyph[:1]
            cells[col] = (glyph, f"reverse {sel.colour}")
        return [c if c is not None else (" ", "") for c in cells]

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
