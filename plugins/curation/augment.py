"""Augmentation for small datasets: more clips from the same material, each named as such."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearsal.curation import Step


@dataclass
class Augment(Step):
    """For each clip, `copies` augmented clips beside it (the original is kept as it is): a
    gain, a small pitch shift and a time stretch drawn uniformly from the given [low, high]
    ranges, and white noise at `noise_db` dBFS if given (off by default). The shift and the
    stretch are SoX's (rehearsal.curation.augment). Every clip it makes carries its parameters
    (the clip's `augment`, metadata.jsonl's `augmentation`, `made_by = "augment"`), so it is
    never taken for recorded audio; its descriptors are those of the region it comes from.
    For small datasets: it refuses one longer than `max_dataset_s`. Put it last: a step
    after it (dedupe, segment) would see copies of the same region. Never in a shipped
    pipeline; draws are seeded by `seed`, the take and the region (the same run, the same clips)."""

    copies: int = 1
    gain_db: list[float] = (-6.0, 3.0)
    pitch_semitones: list[float] = (-0.5, 0.5)
    stretch: list[float] = (0.95, 1.05)
    noise_db: float | None = None
    seed: int = 0
    max_dataset_s: float = 1800.0

    def __post_init__(self):
        if not 1 <= self.copies <= 20:
            raise ValueError(f"copies must be 1 to 20, got {self.copies}")
        for name, lo_ok, hi_ok in (("gain_db", -24, 12), ("pitch_semitones", -2, 2), ("stretch", 0.8, 1.25)):
            r = tuple(getattr(self, name))
            if len(r) != 2 or r[0] > r[1]:
                raise ValueError(f"{name} must be [low, high] with low <= high, got {list(r)}")
            if r[0] < lo_ok or r[1] > hi_ok:
                raise ValueError(f"{name} {list(r)} is not a small change: keep it within [{lo_ok}, {hi_ok}]")
            setattr(self, name, tuple(float(x) for x in r))
        if self.noise_db is not None and self.noise_db > -20:
            raise ValueError(f"noise_db {self.noise_db} is louder than -20 dBFS")

    def apply(self, clips, ctx):
        total = sum(c.duration_s for c in clips if not c.augment)
        if total > self.max_dataset_s:
            raise ValueError(f"the dataset holds {total:.0f} s, above max_dataset_s = {self.max_dataset_s:g}: "
                             "augmentation is for small datasets (raise max_dataset_s to augment anyway)")
        out = []
        for c in clips:
            out.append(c)
            if c.augment:
                continue
            for k in range(self.copies):
                rng = np.random.default_rng([self.seed, c.take_id, c.start, c.end, k])
                params = (("copy", k + 1),
                          ("gain_db", round(float(rng.uniform(*self.gain_db)), 2)),
                          ("pitch_semitones", round(float(rng.uniform(*self.pitch_semitones)), 3)),
                          ("stretch", round(float(rng.uniform(*self.stretch)), 4)))
                if self.noise_db is not None:
                    params += (("noise_db", float(self.noise_db)), ("seed", int(rng.integers(2 ** 31))))
                out.append(c.replace(augment=params))
        return out
