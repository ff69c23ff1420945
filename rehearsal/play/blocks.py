"""Fade curves and the latency a block size needs (the clock is audio/core.SteadyClock)."""

from __future__ import annotations

import math

import numpy as np

def fade_gains(curve: str, position: int, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(outgoing, incoming) gains for samples position+1 .. position+n of a fade of
    `length` samples. Equal-power (cos/sin) keeps the loudness of two unrelated signals
    steady; linear suits two signals that are nearly the same."""
    x = np.clip((position + 1 + np.arange(n, dtype=np.float64)) / max(length, 1), 0.0, 1.0)
    if curve == "linear":
        return (1.0 - x).astype(np.float32), x.astype(np.float32)
    theta = x * (math.pi / 2)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


FADE_CURVES = ("equal-power", "linear")


def required_latency(hop: int, block: int) -> int:
    """The smallest delay (samples) at which a block rendered from the input is always
    ready when the callback needs it, given one callback period to render it: the larger
    of the two when one divides the other (blocks line up), else their sum."""
    if hop % block == 0 or block % hop == 0:
        return max(hop, block)
    return hop + block
