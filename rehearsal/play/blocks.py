"""Fade curves, the latency a block size needs, and the clock the marker bus reads."""

from __future__ import annotations

import math
from collections import deque

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


class SteadyClock:
    """frames <-> monotonic time for the marker bus, robust to late callbacks.

    As the recorder's (rehearsal.audio.capture): a callback's stamp is when it ran, which
    a busy machine delays but never advances, so the anchor is frames/sr after the
    earliest stream start (stamp - frames/sr) seen in the last `window_s` seconds."""

    def __init__(self, samplerate: int, window_s: float = 2.0):
        self.sr = samplerate
        self.window = window_s * samplerate
        self._offsets: deque = deque()

    def anchor(self, frames: int, stamp: float) -> float:
        offset = stamp - frames / self.sr
        q = self._offsets
        while q and q[-1][1] >= offset:
            q.pop()
        q.append((frames, offset))
        while q[0][0] < frames - self.window:
            q.popleft()
        return q[0][1] + frames / self.sr
