"""Per-block descriptors the families condition on, from aubio.

Pitch is aubio's YIN ("yinfast": the same algorithm and results as "yin", computed through
the FFT; "yin" itself is kept as a choice), on the `window` samples that end with each block
of `hop` samples: causal, the framing the models use. Results are cached on disk by audio content, so retraining on
the same clips does not analyse them again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

PITCH_METHODS = ("yinfast", "yin")


def pitch_track(audio: np.ndarray, sample_rate: int, hop: int, window: int, method: str = "yinfast",
                tolerance: float = 0.15, silence_db: float = -50.0) -> tuple[np.ndarray, np.ndarray]:
    """(f0 in Hz, 0 where silent; confidence) per block; len = ceil(len(audio) / hop).

    Block k is analysed from the `window` samples ending with it (zeros before the start),
    read backwards: YIN compares the newest half-window with its past, so pitch lags the
    audio by about window/4 + period/2 samples rather than 3*window/4 - period/2.
    """
    import aubio

    if method not in PITCH_METHODS:
        raise ValueError(f"pitch method {method!r}: choose one of {', '.join(PITCH_METHODS)}")
    n = -(-len(audio) // hop)
    padded = np.zeros(window - hop + n * hop, dtype=np.float32)
    padded[window - hop:window - hop + len(audio)] = audio
    # hop == window: each call analyses exactly the buffer it is given
    p = aubio.pitch(method, window, window, sample_rate)
    p.set_unit("Hz")
    p.set_tolerance(tolerance)
    p.set_silence(silence_db)
    f0 = np.empty(n, dtype=np.float32)
    conf = np.empty(n, dtype=np.float32)
    for k in range(n):
        frame = np.ascontiguousarray(padded[k * hop:k * hop + window][::-1])
        f0[k] = p(frame)[0]
        conf[k] = p.get_confidence()
    return f0, np.clip(conf, 0.0, 1.0)


class DescriptorCache:
    """Pitch tracks on disk, keyed by the audio's bytes and the analysis parameters."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def pitch(self, audio: np.ndarray, sample_rate: int, hop: int, window: int,
              method: str = "yinfast") -> tuple[np.ndarray, np.ndarray]:
        if self.folder is None:
            return pitch_track(audio, sample_rate, hop, window, method)
        key = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()
                             + f"{sample_rate}/{hop}/{window}/{method}".encode()).hexdigest()[:32]
        path = self.folder / f"pitch-{key}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    return z["f0"], z["confidence"]
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache entry: analyse again
        f0, conf = pitch_track(audio, sample_rate, hop, window, method)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, f0=f0, confidence=conf)
        tmp.replace(path)
        return f0, conf
