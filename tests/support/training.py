"""Datasets of synthesised sound for the training tests (small, so runs stay short)."""

from __future__ import annotations

from pathlib import Path

from rehearsal.training import synthetic

# tiny run settings: a step takes a few hundredths of a second on one core
TINY = {"batch_size": "2", "frames": "32", "probe_count": "1", "probe_seconds": "1", "log_every": "1"}


def pluck_dataset(folder: Path, n: int = 5, seconds: float = 1.5) -> Path:
    return synthetic.write_dataset(folder, [(f"pluck{i}", synthetic.plucked(seconds, seed=i), ["pluck"])
                                            for i in range(n)])


def mixed_dataset(folder: Path) -> Path:
    """Two sound environments tagged with different symbols (for specialise)."""
    clips = [(f"pluck{i}", synthetic.plucked(1.0, seed=i), ["pluck"]) for i in range(3)]
    clips += [(f"noise{i}", synthetic.noise_texture(1.0, seed=i), ["noise"]) for i in range(3)]
    return synthetic.write_dataset(folder, clips)


def params(**extra) -> tuple[str, ...]:
    out = []
    for k, v in {**TINY, **extra}.items():
        out += ["-p", f"{k}={v}"]
    return tuple(out)
