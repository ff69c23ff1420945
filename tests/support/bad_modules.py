"""TorchScript modules that break the nn~ contract one way each, for the refusal tests.

Each builder writes a file into a folder and returns its path; `CASES` pairs each with the
words the refusal must contain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import torch
from torch import nn


class Base(nn.Module):
    """An nn~ module with one method: forward [1, 1, 1, 1] at 48 kHz, unless told otherwise."""

    def __init__(self, params=(1, 1, 1, 1), rate: int = 48000, methods=("forward",)):
        super().__init__()
        self.register_buffer("forward_params", torch.tensor(list(params)))
        self.methods = list(methods)
        self.rate = rate

    @torch.jit.export
    def get_methods(self) -> List[str]:
        return self.methods

    @torch.jit.export
    def get_sample_rate(self) -> int:
        return self.rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5


class Halves(Base):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., ::2]


class NaNs(Base):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


class BatchOne(Base):
    """Keeps a state shaped for batch 1: refuses mc.nn~'s batch of 4."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(1, 1, -1) * 0.5


class EveryBufferRefused(Base):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 0:
            raise RuntimeError("this model is broken")
        return x


class RefusesBigBuffers(Base):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 1024:
            raise RuntimeError("buffer too long for my cache")
        return x


class WholeBlocks(Base):
    """Not broken: like our exports, it takes only buffers of whole 256-sample blocks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 256 != 0:
            raise RuntimeError("buffer size must be a multiple of 256 samples")
        return x * 0.5


class Slow(Base):
    """Not broken, only slow: buffers of 2048 samples (43 ms at 48 kHz), each call costing
    about 100 ms here whatever its length: two to three times slower than real time."""

    def __init__(self, iterations: int = 100):
        super().__init__()
        self.register_buffer("w", torch.randn(512, 512, generator=torch.Generator().manual_seed(0)) / 32)
        self.iterations = iterations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2048 != 0:
            raise RuntimeError("buffer size must be a multiple of 2048 samples")
        h = torch.ones(64, 512)
        for _ in range(self.iterations):
            h = torch.tanh(h @ self.w)
        return x * 0.5 + 0.0 * h.sum()


class NoRate(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("forward_params", torch.tensor([1, 1, 1, 1]))

    @torch.jit.export
    def get_methods(self) -> List[str]:
        return ["forward"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Mismatch(Base):
    """encode gives 4 latent channels, decode takes 3."""

    def __init__(self):
        super().__init__(methods=("encode", "decode"))
        self.register_buffer("encode_params", torch.tensor([1, 1, 4, 256]))
        self.register_buffer("decode_params", torch.tensor([3, 256, 1, 1]))

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 1, -1, 256).mean(-1).repeat(1, 4, 1)

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, :1].repeat_interleave(256, -1)


class Plain(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _script(module: nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


def pickle_that_would_run_code(folder: Path) -> Path:
    """torch.save of an object whose unpickling writes a file: loading it would show."""
    path = folder / "checkpoint.ts"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": Trap(str(folder / "PWNED"))}, path)
    return path


class Trap:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def text_file(folder: Path) -> Path:
    path = folder / "notes.ts"
    path.write_text("not a model\n")
    return path


CASES = {
    "not-a-zip": (text_file, "not a TorchScript module (not a zip archive)"),
    "pickle": (pickle_that_would_run_code, "a torch.save checkpoint (pickled weights), not a TorchScript module"),
    "no-methods": (lambda f: _script(Plain(), f / "plain.ts"), "no nn~ methods"),
    "no-params": (lambda f: _script(Base(methods=("forward", "decode")), f / "noparams.ts"),
                  "get_methods() names 'decode' but the module has no such method"),
    "bad-params": (lambda f: _script(Base(params=(1, 1, 1)), f / "badparams.ts"),
                   "forward_params must be four integers"),
    "zero-ratio": (lambda f: _script(Base(params=(1, 0, 1, 1)), f / "zero.ts"),
                   "channels and ratios must be at least 1"),
    "wrong-shape": (lambda f: _script(Halves(), f / "halves.ts"), "gave (1, 1, 1); nn~ expects (1, 1, 2)"),
    "nan": (lambda f: _script(NaNs(), f / "nan.ts"), "returned NaN or infinite values"),
    "batch": (lambda f: _script(BatchOne(), f / "batch.ts"), "buffer and batch 4: input (4, 1, 8192) gave (1, 1, 32768)"),
    "every-buffer": (lambda f: _script(EveryBufferRefused(), f / "broken.ts"),
                     "no buffer size up to 8192 works (1: forward: this model is broken; 8192: forward: this model is broken"),
    "big-buffers": (lambda f: _script(RefusesBigBuffers(), f / "small.ts"),
                    "accepted 1-sample buffers but refused 2048 (buffer too long for my cache)"),
    "no-rate": (lambda f: _script(NoRate(), f / "norate.ts"), "give it with --sample-rate HZ"),
    "latent-mismatch": (lambda f: _script(Mismatch(), f / "mismatch.ts"),
                        "encode gives 4 latent channels, decode takes 3"),
}
