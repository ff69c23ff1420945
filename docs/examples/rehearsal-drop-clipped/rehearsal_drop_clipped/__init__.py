"""A complete rehearsal plugin: one curation step, `drop-clipped`.

Distortion from a clipping input is easy to miss live and easy to learn for a model. This
step reads each clip's samples and drops the clip when too many of them sit at (or very
near) full scale.

Use it in a pipeline file:

    [[steps]]
    use = "drop-clipped"
    ceiling = 0.99        # |sample| at or above this counts as clipped
    max_share = 0.001     # drop the clip when more than 0.1 % of its samples are clipped
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

__version__ = "0.1.0"


@dataclass
class DropClipped(Filter):
    """Drop clips whose samples hit full scale: more than `max_share` of them at or above `ceiling`."""

    ceiling: float = 0.99
    max_share: float = 0.001

    def __post_init__(self):
        # a ValueError here is reported with the pipeline file, line and field
        if not 0 < self.ceiling <= 1:
            raise ValueError(f"ceiling must be in (0, 1], got {self.ceiling}")
        if not 0 <= self.max_share < 1:
            raise ValueError(f"max_share must be in [0, 1), got {self.max_share}")

    def reject(self, clip, ctx):
        samples = ctx.audio(clip)                 # float32, (frames, channels)
        share = float(np.mean(np.abs(samples) >= self.ceiling)) if samples.size else 0.0
        if share > self.max_share:
            return f"clipped: {share * 100:.2f}% of samples at full scale"
        return None                               # keep it


@hookimpl
def register_curation_steps(register):
    register("drop-clipped", DropClipped)
