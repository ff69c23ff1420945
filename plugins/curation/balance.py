"""Balance: cap the duration per symbol or per person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rehearsal.curation import Step


@dataclass
class Balance(Step):
    """Cap the total duration of each symbol (or each person) at `max_s` seconds, so no one
    sound or player dominates. Clips are taken in `prefer` order until the next one would
    pass the cap; the rest are dropped. Clips with several symbols (or people) count under
    the combination ("good+breath")."""

    max_s: float = 60.0
    by: Literal["symbol", "person"] = "symbol"
    prefer: Literal["earliest", "longest", "shortest", "loudest", "random"] = "earliest"
    seed: int = 0

    def __post_init__(self):
        if self.max_s <= 0:
            raise ValueError(f"max_s must be > 0, got {self.max_s}")

    def _group(self, clip) -> str:
        return "+".join(clip.symbols if self.by == "symbol" else (clip.who or ("nobody",)))

    def apply(self, clips, ctx):
        order = list(range(len(clips)))
        if self.prefer == "longest":
            order.sort(key=lambda i: -clips[i].duration_s)
        elif self.prefer == "shortest":
            order.sort(key=lambda i: clips[i].duration_s)
        elif self.prefer == "loudest":
            order.sort(key=lambda i: -(ctx.descriptors(clips[i])["loudness_db"] or -1e9))
        elif self.prefer == "random":
            order = [int(i) for i in np.random.default_rng(self.seed).permutation(len(clips))]
        totals: dict[str, float] = {}
        keep = set()
        for i in order:
            g = self._group(clips[i])
            d = clips[i].duration_s
            if totals.get(g, 0.0) + d <= self.max_s + 1e-9:
                totals[g] = totals.get(g, 0.0) + d
                keep.add(i)
            else:
                ctx.drop(clips[i], f"{self.by} {g} already has {totals.get(g, 0.0):.1f} s of its {self.max_s:g} s "
                                   f"({self.prefer} first)")
        return [c for i, c in enumerate(clips) if i in keep]
