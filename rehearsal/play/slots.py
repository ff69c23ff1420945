"""A generation ready to play: its nn~ stream module, scripted and warmed (torch here).

Runs in a model host process (host.py), never in the process of the audio callback: the
module is the very TorchScript `rehearsal export` writes for nn~ (the streaming
`forward`, or `encode` then `decode` for families with a latent, state carried between
calls). Scripting holds the GIL for up to 12 ms at a stretch and `torch.jit.load` for
35-40 ms (measured here), which is why no model is loaded where the callback lives. The
first calls of a scripted method profile and optimise it (tens of ms): `prepare_module`
makes them on silence before the module goes near the audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..training.module_stream import apply_override

WARM_CALLS = 3


class ModelFailure(RuntimeError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind   # "model-error" (it raised) or "non-finite" (NaN or infinity out)


def prepare_module(model):
    """The scripted stream module of an eager model, warmed on silence. Deterministic: a
    second call on the same model gives a module in the same state (tests rely on it)."""
    from ..training.export import script

    module = script(model.stream_module().eval())
    hop = int(model.hop)
    methods = list(module.get_methods())
    uses_latent = "encode" in methods and "decode" in methods
    x = torch.zeros(1, 1, hop)
    with torch.inference_mode():
        for _ in range(WARM_CALLS):
            if uses_latent:
                module.decode(module.encode(x))
            else:
                module(x)
    return module


@dataclass
class Slot:
    generation_id: int | None
    name: str
    module: object
    hop: int
    context: int
    family: str = ""
    latent_labels: list[str] = field(default_factory=list)
    controls: np.ndarray | None = None   # the model's latent for the last block (sent over OSC)
    stream: object | None = None         # a ModuleStream for an imported module
    co: object | None = None             # a CoPerformer: the model answers instead of transforming

    def co_perform(self, settings: dict, block: int) -> None:
        """Answer instead of transform (rehearsal.play.coperformer); refused in words for a
        model that cannot generate without input."""
        from .coperformer import CoPerform, CoPerformer

        if self.stream is not None:   # resampled (another room rate) or imported: its calls are the stream's
            rate = getattr(self.stream, "room_rate", 0)
            raise ValueError(f"{self.name}: co-performing runs a model at its own rate only, in a room at "
                             f"{self.stream.model_rate} Hz (this one runs at {rate} Hz)")
        self.co = CoPerformer(self.module, CoPerform(**settings), block)

    @property
    def uses_latent(self) -> bool:
        return bool(self.latent_labels)

    def warm_blocks(self, block: int) -> int:
        """Render blocks the model must hear before it is faded in: its analysis window
        full of real input, and a few more for its recurrent state to follow."""
        return -(-(self.context + 4 * self.hop) // block) + 1

    @classmethod
    def from_model(cls, model, generation_id: int | None, name: str, family: str = "") -> "Slot":
        module = prepare_module(model)
        methods = list(module.get_methods())
        labels: list[str] = []
        if "encode" in methods and "decode" in methods:
            labels = [str(x) for x in getattr(module, "encode_output_labels", [])]
            if not labels:
                labels = [f"latent {i + 1}" for i in range(int(module.encode_params[2]))]
        return cls(generation_id, name, module, int(model.hop), int(model.context), family, labels)

    @classmethod
    def load(cls, path: str | Path, generation_id: int | None, name: str, block: int = 256,
             room_rate: int = 48000) -> "Slot":
        """From a checkpoint (validated by rehearsal.training.checkpoints: weights only), or
        from an imported nn~ module (a .ts file: TorchScript, through a ModuleStream)."""
        from ..training.imported import is_module_file

        if is_module_file(path):
            return cls.from_module_file(path, generation_id, name, block, room_rate)
        from ..training.checkpoints import load_checkpoint

        model, meta = load_checkpoint(Path(path))
        slot = cls.from_model(model, generation_id, name, str(meta.get("family", "")))
        if int(model.sample_rate) != int(room_rate):
            slot.resample(int(model.sample_rate), int(room_rate), block)
        return slot

    def resample(self, model_rate: int, room_rate: int, block: int) -> None:
        """Run at the model's own rate in a room at another (a 44.1 kHz file or card): through
        a ModuleStream, the imported modules' resampling stream, called in the host's thread
        (a native block takes a millisecond or two). soxr's QQ quality: it holds nothing back,
        so the latency added is only the block bookkeeping of two rates (749 samples at
        44.1 kHz, 1,028 at 96 kHz for 256-sample blocks), against 2,467 / 4,024 for HQ; the
        loaded event says the figure."""
        from types import SimpleNamespace

        from ..training.module_stream import ModuleStream

        info = SimpleNamespace(sample_rate=model_rate, play_buffer=self.hop, buffer=self.hop,
                               play="encode-decode" if self.uses_latent else "forward",
                               audio_method=SimpleNamespace(in_channels=1))
        self.stream = ModuleStream(self.module, info, room_rate, block, allowance=0, quality="QQ")
        self.hop = block

    @classmethod
    def from_module_file(cls, path, generation_id: int | None, name: str, block: int = 256,
                         room_rate: int = 48000) -> "Slot":
        """An imported module (its sidecar from the import, else validated quickly), warmed on
        silence, run at its own rate and buffer by a ModuleStream."""
        from ..training.imported import info_for_file, load_module, play_call
        from ..training.module_stream import ModuleStream

        info = info_for_file(path)
        module = load_module(path)          # a fresh one: a quick validation leaves its state behind
        x = torch.zeros(1, info.audio_method.in_channels, info.play_buffer or info.buffer)
        with torch.inference_mode():
            for _ in range(WARM_CALLS):
                play_call(module, info.play, x)
        stream = ModuleStream(module, info, room_rate, block, threaded=True)
        labels = list(info.methods["encode"].output_labels) if info.play == "encode-decode" else []
        slot = cls(generation_id, name, module, block, stream.latency, info.family, labels)
        slot.stream = stream
        return slot

    @property
    def latency(self) -> int:
        """Samples of the room's rate this model's answer comes after the room's own
        latency (an imported module's buffer, resampling and render allowance)."""
        return self.stream.latency if self.stream is not None else 0

    def run(self, x: np.ndarray, override: np.ndarray | None = None) -> np.ndarray | None:
        """One block (hop samples) through the model. Raises ModelFailure. For an imported
        module: the block due now (None when it fell behind), its input kept for `work`."""
        if self.stream is not None:
            self.stream.override = override
            y = self.stream.pull()
            self.stream.push(x)
            return y
        t = torch.from_numpy(x).view(1, 1, -1)
        try:
            with torch.inference_mode():
                if self.latent_labels:
                    z = self.module.encode(t)
                    self.controls = z[0, :, -1].numpy().copy()
                    y = self.module.decode(apply_override(z, override))
                elif self.co is not None:
                    y = self.co.run(t)
                else:
                    y = self.module(t)
                out = y.reshape(-1).numpy()
        except Exception as exc:  # TorchScript raises torch.jit.Error (a RuntimeError), or anything
            raise ModelFailure("model-error", f"{self.name} raised: {_first_line(exc)}") from None
        if out.shape[0] != x.shape[0]:
            raise ModelFailure("model-error", f"{self.name} returned {out.shape[0]} samples for {x.shape[0]}")
        if not np.isfinite(out).all():
            raise ModelFailure("non-finite", f"{self.name} returned NaN or infinite samples")
        return out.astype(np.float32, copy=False)

    @property
    def steered(self) -> bool:
        """A model steered by symbols: its module has the `symbol` attribute."""
        return self.stream is None and "symbol" in list(self.module.get_attributes())

    def set_symbol(self, symbol: str) -> bool:
        """Steer the model by `symbol` ("" for none) from the next block; False when it is not
        steered by symbols or never learned that one (then it keeps the symbol it had)."""
        if not self.steered:
            return False
        return int(self.module.set_symbol(symbol)) == 0

    def restart(self) -> None:
        """The input jumped (the host skipped blocks): an imported module's FIFOs start anew."""
        if self.stream is not None:
            self.stream.restart()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def work(self) -> None:
        """An imported module's calls on the input waiting (after the block was handed on)."""
        if self.stream is None:
            return
        try:
            self.stream.work()
        except FloatingPointError:
            raise ModelFailure("non-finite", f"{self.name} returned NaN or infinite samples") from None
        except Exception as exc:
            raise ModelFailure("model-error", f"{self.name} raised: {_first_line(exc)}") from None
        self.controls = self.stream.controls


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
