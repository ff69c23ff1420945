"""De-duplicate near-identical clips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearsal.curation import Clip, Step
from rehearsal.curation.clipmap import feature_row


@dataclass
class Dedupe(Step):
    """Drop near-identical clips, keeping the first: regions of the same take overlapping by
    at least `min_overlap` (intersection over union; the same moment tagged twice), and, when
    `max_distance` > 0, clips anywhere whose standardised descriptors lie closer than that
    (repeated material). With `merge_labels`, the clip kept takes the symbols and people of
    the ones dropped."""

    min_overlap: float = 0.8
    max_distance: float = 0.0
    merge_labels: bool = True

    def __post_init__(self):
        if not 0 < self.min_overlap <= 1:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}")
        if self.max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {self.max_distance}")

    def apply(self, clips, ctx):
        features = None
        if self.max_distance > 0 and len(clips) > 1:
            rows = np.array([feature_row(ctx.descriptors(c)) for c in clips], dtype=np.float64)
            with np.errstate(all="ignore"):
                means = np.nanmean(np.where(np.isnan(rows), np.nan, rows), axis=0)
            rows = np.where(np.isnan(rows), np.nan_to_num(means), rows)
            std = rows.std(axis=0)
            features = (rows - rows.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)
        leaders: list[int] = []
        followers: dict[int, list[int]] = {}
        for i, c in enumerate(clips):
            match = None
            for j in leaders:
                k = clips[j]
                if c.take_id == k.take_id and c.iou(k) >= self.min_overlap:
                    match = (j, f"overlap {c.iou(k) * 100:.0f}%")
                    break
                if features is not None:
                    dist = float(np.linalg.norm(features[i] - features[j]) / np.sqrt(features.shape[1]))
                    if dist <= self.max_distance:
                        match = (j, f"descriptor distance {dist:.3f}")
                        break
            if match is None:
                leaders.append(i)
                continue
            j, how = match
            followers.setdefault(j, []).append(i)
            ctx.drop(c, f"near-identical to {clips[j].describe()} ({how})")
        out = []
        for j in leaders:
            c = clips[j]
            if self.merge_labels and j in followers:
                group = [c] + [clips[i] for i in followers[j]]
                merged = _merged_labels(c, group)
                if merged != c:
                    ctx.replace(c, [merged], f"took the labels of {len(group) - 1} near-identical clip(s)")
                    c = merged
            out.append(c)
        return out


def _merged_labels(keep: Clip, group: list[Clip]) -> Clip:
    symbols = tuple(dict.fromkeys(s for c in group for s in c.symbols))
    who = tuple(dict.fromkeys(w for c in group for w in c.who))
    markers = tuple(dict.fromkeys(m for c in group for m in c.marker_ids))
    return keep.replace(symbols=symbols, who=who, marker_ids=markers)
