"""Manual keep / drop decisions made while reviewing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rehearsal.curation import Filter
from rehearsal.curation.decisions import decisions_for_take


@dataclass
class Manual(Filter):
    """Apply the keep / drop decisions stored while reviewing (`rehearsal dataset decide`, or
    the TUI). A decision applies to a clip when it covers at least `min_overlap` of it; the
    latest such decision wins. Clips no decision covers are kept (`default = "keep"`) or
    dropped (`default = "drop"`: only what someone chose to keep)."""

    default: Literal["keep", "drop"] = "keep"
    min_overlap: float = 0.5

    def __post_init__(self):
        if not 0 < self.min_overlap <= 1:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}")
        self._by_take: dict[int, list] = {}

    def reject(self, clip, ctx):
        if clip.take_id not in self._by_take:
            self._by_take[clip.take_id] = decisions_for_take(ctx.db, clip.take_id)
        length = clip.end - clip.start
        covering = [d for d in self._by_take[clip.take_id]
                    if min(clip.end, d.end) - max(clip.start, d.start) >= self.min_overlap * length]
        if covering:
            d = max(covering, key=lambda d: d.id)
            if d.decision == "drop":
                note = f": {d.note}" if d.note else ""
                return f"dropped by {d.who} while reviewing (decision #{d.id}){note}"
            return None
        if self.default == "drop":
            return "nobody chose to keep it (default drop)"
        return None
