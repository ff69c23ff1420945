"""Exports: TorchScript for nn~ (Max/MSP, Pd) and the weights-only format.

`export_nn_tilde` scripts the family's stream module (see nn_tilde.py for the contract),
calls every method the way nn~ does before saving (buffer 8192, batch 1 then 4 then 1),
and stores provenance in the file as `extra/rehearsal.json`.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from .checkpoints import save_weights
from .nn_tilde import check_attribute, check_method


def script(module):
    with warnings.catch_warnings():
        # torch 2.13 warns that jit.script is deprecated; nn~ still loads only TorchScript
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return torch.jit.script(module)


def export_nn_tilde(model, family: str, dest: Path, provenance: dict) -> list[Path]:
    dest = Path(dest)
    if dest.suffix != ".ts":
        dest = dest.with_suffix(".ts")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stream = model.cpu().eval().stream_module().eval()
    scripted = script(stream)
    for name in scripted.get_methods():
        for batch in (1, 4, 1):
            check_method(scripted, name, 8192, batch)
    for name in scripted.get_attributes():
        check_attribute(scripted, name)
    fresh = script(model.stream_module().eval())  # saved with a fresh streaming state
    meta = {"format": "nn-tilde", "family": family, "config": model.config,
            "methods": {m: [int(v) for v in getattr(fresh, f"{m}_params").tolist()] for m in fresh.get_methods()},
            "attributes": {a: getattr(fresh, f"get_{a}")() for a in fresh.get_attributes()},
            "latency_samples": model.hop, "sample_rate": model.sample_rate, **provenance}
    tmp = dest.with_name(dest.name + ".tmp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.jit.save(fresh, str(tmp), _extra_files={"rehearsal.json": json.dumps(meta, ensure_ascii=False)})
    os.replace(tmp, dest)
    return [dest]


def export_weights(model, family: str, dest: Path, provenance: dict) -> list[Path]:
    return list(save_weights(Path(dest).with_suffix(""), model.cpu(), family, provenance))
