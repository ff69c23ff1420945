"""Augmented audio for small datasets: gain, a small pitch shift and time stretch, optional noise.

The pitch shift and time stretch are SoX's (`pitch` and `tempo -m`: WSOLA, the tool's
well-kept implementation; the `sox` program, installed by scripts/setup), run on the clip's
float samples through pipes; gain and noise are numpy. An augmented clip is never the take's
samples: it names itself in its key, its metadata (`augmentation`) and its `made_by`.

    render(samples, 48000, {"gain_db": -3.0, "pitch_semitones": 0.4, "stretch": 1.03,
                            "noise_db": -60.0, "seed": 7})
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

PARAMS = ("gain_db", "pitch_semitones", "stretch", "noise_db", "seed")


class AugmentError(RuntimeError):
    pass


def sox_program() -> str:
    path = shutil.which("sox")
    if path is None:
        raise AugmentError("augmentation needs the sox program (scripts/setup installs it: apt-get install sox)")
    return path


def render(samples: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
    """The augmented samples (frames, channels) float32. `stretch` is the new duration over the
    old (1.05: 5% longer); `noise_db` the RMS level of added white noise (dBFS), None for none."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    gain = float(params.get("gain_db") or 0.0)
    pitch = float(params.get("pitch_semitones") or 0.0)
    stretch = float(params.get("stretch") or 1.0)
    if stretch <= 0:
        raise AugmentError(f"stretch must be > 0, got {stretch}")
    effects = []
    if pitch:
        effects += ["pitch", f"{pitch * 100:.3f}"]
    if stretch != 1.0:
        effects += ["tempo", "-m", f"{1.0 / stretch:.6f}"]
    out = data
    if effects and len(data):
        raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-c", str(data.shape[1])]
        cmd = [sox_program(), "-q", "-D", "-V1", *raw, "-r", str(int(sample_rate)), "-", *raw, "-", *effects]
        done = subprocess.run(cmd, input=np.ascontiguousarray(data, dtype="<f4").tobytes(), capture_output=True)
        if done.returncode != 0:
            raise AugmentError(f"sox {' '.join(effects)} failed: {done.stderr.decode(errors='replace').strip()}")
        out = np.frombuffer(done.stdout, dtype="<f4").reshape(-1, data.shape[1]).astype(np.float32)
    if gain:
        out = out * np.float32(10 ** (gain / 20))
    noise = params.get("noise_db")
    if noise is not None:
        rng = np.random.default_rng(int(params.get("seed") or 0))
        out = out + (10 ** (float(noise) / 20) * rng.standard_normal(out.shape)).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)
