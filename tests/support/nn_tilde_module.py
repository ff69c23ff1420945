"""An nn~ module made with the nn-tilde package's own Python tools (not ours).

    python tests/support/nn_tilde_module.py OUT.ts [--sr 44100]

runs with the nn-tilde package (and cached_conv, which it imports) on PYTHONPATH: they pin
torch 2.5, so `built_module()` installs them --no-deps into ~/.cache/rehearsal-tests/ with
pip and runs this file with our own interpreter (torch 2.13 stays the only torch). The
module is a small vocoder-like toy at 44.1 kHz: `encode` (audio -> 2 latent channels per 512
samples: level and brightness), `decode` (latent -> a sine at `pitch` Hz with that level plus
filtered noise, its phase carried between calls: streaming state), `forward` = both, and an
attribute `pitch` whose getter and setter nn_tilde generates. nn_tilde's register_method
calls each method with 8192 samples, batch 1 and 4, before this script saves it with
nn_tilde's export_to_ts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

NN_TILDE = "nn-tilde==1.6.0"
CACHED_CONV = "cached_conv==2.5.0"
CACHE = Path(os.environ.get("REHEARSAL_TEST_CACHE", Path.home() / ".cache" / "rehearsal-tests"))
RATIO = 512


def build(out: str, sr: int) -> None:
    import math

    import nn_tilde
    import torch

    class Toy(nn_tilde.Module):
        def __init__(self, sr: int):
            super().__init__()
            self.sr = sr
            self.ratio = RATIO
            self.register_buffer("phase", torch.zeros(1))
            self.register_attribute("pitch", 220.0)
            self.register_method("encode", in_channels=1, in_ratio=1, out_channels=2, out_ratio=RATIO,
                                 input_labels=["(signal) audio in"],
                                 output_labels=["(signal) level", "(signal) brightness"])
            self.register_method("decode", in_channels=2, in_ratio=RATIO, out_channels=1, out_ratio=1,
                                 input_labels=["(signal) level", "(signal) brightness"],
                                 output_labels=["(signal) audio out"])
            self.register_method("forward", in_channels=1, in_ratio=1, out_channels=1, out_ratio=1,
                                 input_labels=["(signal) audio in"], output_labels=["(signal) audio out"])

        @torch.jit.export
        def encode(self, x: torch.Tensor) -> torch.Tensor:
            b = x.shape[0]
            frames = x.reshape(b, -1, self.ratio)
            level = frames.pow(2).mean(-1).add(1e-8).sqrt()
            diff = (frames[..., 1:] - frames[..., :-1]).pow(2).mean(-1).add(1e-8).sqrt()
            return torch.stack([level, diff / (level + 1e-3)], 1)

        @torch.jit.export
        def decode(self, z: torch.Tensor) -> torch.Tensor:
            b, n = z.shape[0], z.shape[-1] * self.ratio
            level = z[:, 0:1].repeat_interleave(self.ratio, -1)
            bright = z[:, 1:2].clamp(0.0, 1.0).repeat_interleave(self.ratio, -1)
            f = float(self.pitch[0])
            step = 2.0 * math.pi * f / float(self.sr)
            t = torch.arange(1, n + 1, dtype=torch.float32) * step
            ph = self.phase + t
            self.phase.copy_(torch.remainder(ph[-1:], 2.0 * math.pi))
            sine = torch.sin(ph).unsqueeze(0).unsqueeze(0).expand(b, 1, n)
            noise = torch.rand(b, 1, n) * 2.0 - 1.0
            return (level * (sine * (1.0 - bright) + 0.3 * noise * bright)).float()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decode(self.encode(x))

    torch.manual_seed(0)
    model = Toy(sr)
    model.export_to_ts(out)


def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def install_nn_tilde() -> Path:
    """nn-tilde and cached_conv, --no-deps, in a folder of their own (pip, PyPI)."""
    target = CACHE / "nn-tilde-1.6.0"
    if not (target / "nn_tilde" / "module.py").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp),
                        NN_TILDE, CACHED_CONV], check=True)
        try:
            os.replace(tmp, target)
        except OSError:   # another run got there first
            pass
    return target


def built_module(sr: int = 44100) -> Path:
    """The module's file, built once per version of this script (cached)."""
    out = CACHE / f"nn-tilde-toy-{sr}-{_source_hash()}.ts"
    if out.exists():
        return out
    target = install_nn_tilde()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, __file__, str(tmp), "--sr", str(sr)], env=env, capture_output=True,
                          text=True, cwd=str(CACHE))
    if proc.returncode != 0:
        raise RuntimeError(f"building the nn-tilde module failed:\n{proc.stdout}\n{proc.stderr}")
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    rate = int(args[args.index("--sr") + 1]) if "--sr" in args else 44100
    build(args[0], rate)
