"""Input level meters: one bar per channel, dBFS, with a peak hold that falls back slowly."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

FLOOR_DB = -60.0
HOLD_FALL_DB_PER_UPDATE = 0.6


def to_db(peak: float) -> float:
    return FLOOR_DB if peak <= 10 ** (FLOOR_DB / 20) else max(FLOOR_DB, 20 * math.log10(peak))


class Meters(Widget):
    DEFAULT_CSS = """
    Meters { height: auto; min-height: 1; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.levels: tuple[float, ...] = ()
        self.holds: list[float] = []
        self.updates = 0

    def set_levels(self, levels: tuple[float, ...]) -> None:
        db = [to_db(p) for p in levels]
        if len(self.holds) != len(db):
            self.holds = list(db)
            self.styles.height = max(1, len(db))
        self.holds = [max(d, h - HOLD_FALL_DB_PER_UPDATE) for d, h in zip(db, self.holds)]
        self.levels = tuple(db)
        self.updates += 1
        self.refresh()

    def render(self) -> Text:
        if not self.levels:
            return Text("no input", style="dim")
        width = max(10, self.size.width - 14)
        out = Text()
        for ch, (db, hold) in enumerate(zip(self.levels, self.holds)):
            label = f"{ch + 1:>2} " if len(self.levels) > 2 else ("L  " if ch == 0 else "R  ") if len(self.levels) == 2 else "   "
            filled = round((db - FLOOR_DB) / -FLOOR_DB * width)
            hold_at = min(width - 1, round((hold - FLOOR_DB) / -FLOOR_DB * width))
            out.append(label, style="dim")
            # one span per colour run, not per cell: the meters redraw 30 times a second
            green, yellow = round(48 / 60 * width), round(57 / 60 * width)   # -12 dB, -3 dB
            for lo, hi, colour in ((0, green, "green"), (green, yellow, "yellow"), (yellow, width, "red")):
                n = max(0, min(filled, hi) - lo)
                if n:
                    out.append("█" * n, style=colour)
            rest = width - max(filled, 0)
            if rest > 0:
                cells = ["·"] * rest
                if hold > FLOOR_DB and hold_at >= filled:
                    cells[hold_at - filled] = "▏"
                out.append("".join(cells), style="grey50")
            out.append(f" {db:6.1f} dB" if db > FLOOR_DB else "   -inf dB", style="bold" if db > -3 else "")
            if ch < len(self.levels) - 1:
                out.append("\n")
        return out
