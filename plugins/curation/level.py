"""Level and noise: the loudness gate and the noise / ambience filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rehearsal.curation import Filter


@dataclass
class LoudnessGate(Filter):
    """Drop clips quieter than `min_db` (RMS over the clip, dBFS); with `max_db`, also louder ones."""

    min_db: float = -40.0
    max_db: float | None = None

    def __post_init__(self):
        if self.max_db is not None and self.max_db <= self.min_db:
            raise ValueError(f"max_db ({self.max_db}) must be above min_db ({self.min_db})")

    def reject(self, clip, ctx):
        level = ctx.descriptors(clip)["loudness_db"]
        if level is None or level < self.min_db:
            return f"loudness {'-inf' if level is None else f'{level:.1f}'} dBFS is below {self.min_db:g} dBFS"
        if self.max_db is not None and level > self.max_db:
            return f"loudness {level:.1f} dBFS is above {self.max_db:g} dBFS"
        return None


@dataclass
class NoiseFilter(Filter):
    """Drop noise-like clips (room tone, hiss, ambience, other sources' bleed): mean spectral
    flatness above `max_flatness` (0 = a pure tone, about 0.56 = white noise). With
    `keep = "noisy"` it keeps only those instead ("listen to the waste")."""

    max_flatness: float = 0.3
    keep: Literal["tonal", "noisy"] = "tonal"

    def __post_init__(self):
        if not 0 < self.max_flatness < 1:
            raise ValueError(f"max_flatness must be between 0 and 1, got {self.max_flatness}")

    def reject(self, clip, ctx):
        flat = ctx.descriptors(clip)["flatness"]
        if flat is None:
            return "silent: no flatness to measure"
        noisy = flat > self.max_flatness
        if self.keep == "tonal" and noisy:
            return f"noise-like: flatness {flat:.3f} > {self.max_flatness:g}"
        if self.keep == "noisy" and not noisy:
            return f"tonal: flatness {flat:.3f} <= {self.max_flatness:g} (keeping noisy clips)"
        return None
