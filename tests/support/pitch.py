"""Pitch measured on a model's output by aubio's yin (another implementation than the
pitch family's own torch yin), for the any-rate tests (nn~ exports, play at 44.1 kHz)."""

from __future__ import annotations

import math

import numpy as np


def cents(f: float, ref: float) -> float:
    return 1200 * math.log2(f / ref)


def audible(y: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """y from its first to its last sample over `floor` x its peak (a take's silence around
    the performance cut off)."""
    loud = np.flatnonzero(np.abs(y) > floor * np.abs(y).max())
    return y[loud[0]:loud[-1] + 1] if len(loud) else y


def measured_pitch(y: np.ndarray, sr: int) -> float:
    """Median aubio yin pitch of the voiced frames of the second half of y."""
    import aubio

    y = np.ascontiguousarray(y[len(y) // 2:], np.float32)
    det = aubio.pitch("yin", 4096, 512, sr)
    det.set_unit("Hz")
    found = []
    for i in range(0, len(y) - 512, 512):
        f = float(det(y[i:i + 512])[0])
        if det.get_confidence() > 0.8 and f > 0:
            found.append(f)
    assert len(found) > 10, "no voiced frames in the output"
    return float(np.median(found))


def harmonic_tone(f0: float, seconds: float, sr: int) -> np.ndarray:
    """Three harmonics of f0, 0.3 / k each: a plain instrument-like input."""
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in (1, 2, 3)).astype(np.float32)
