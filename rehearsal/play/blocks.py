"""The hand-over between the render thread and the audio callback, and the fade curves.

The render thread renders the model one block (the model's hop) at a time, indexed by
the input frame the block starts at, into `WetRing`. The callback plays the block for
input frames [t - latency, t - latency + n) at stream frame t. A block is valid only if
its tag says it is the block asked for: the render thread writes the samples first and
the tag last, the callback reads the tag first, so a half-written or stale block is never
played. A block that is not there in time is a glitch: the callback plays the dry input
instead (a dropout would be worse) and counts it.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

OK, FAILED = 0, 1


class WetRing:
    def __init__(self, hop: int, blocks: int = 256):
        self.hop, self.blocks = hop, blocks
        self.out = np.zeros((blocks, hop), np.float32)     # what the mixer gets (dry pseudo-slot included)
        self.model = np.zeros((blocks, hop), np.float32)   # what the models produced (the output take)
        self.tags = np.full(blocks, -1, np.int64)

    def put(self, k: int, out: np.ndarray, model: np.ndarray) -> None:
        i = k % self.blocks
        self.tags[i] = -1          # invalidate first: a reader never sees old tag + new samples
        self.out[i] = out
        self.model[i] = model
        self.tags[i] = k           # publish last

    def read(self, start: int, n: int, out: np.ndarray, model: np.ndarray) -> bool:
        """Fill out[:n], model[:n] with frames [start, start + n); False if a block is missing.
        Frames before 0 (before the stream began) are silence and never missing."""
        hop = self.hop
        pos = 0
        f = start
        while pos < n:
            if f < 0:
                m = min(n - pos, -f)
                out[pos:pos + m] = 0.0
                model[pos:pos + m] = 0.0
                pos += m
                f += m
                continue
            k, off = divmod(f, hop)
            m = min(n - pos, hop - off)
            i = k % self.blocks
            if self.tags[i] != k:
                return False
            out[pos:pos + m] = self.out[i, off:off + m]
            model[pos:pos + m] = self.model[i, off:off + m]
            if self.tags[i] != k:  # overwritten while we copied (the render thread lapped us)
                return False
            pos += m
            f += m
        return True


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
