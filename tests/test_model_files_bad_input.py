"""Issue 13, finding 3: a model file's sizes are checked before anything is built; errors
never repeat torch's advice to load with weights_only=False."""

from __future__ import annotations

import json
import pickle
import time
import tracemalloc

import pytest
import torch

from rehearsal.training.checkpoints import ModelFileError, load_checkpoint, save_checkpoint
from rehearsal.training.family import get_family


def _checkpoint(path, **config_changes):
    model = get_family("latent").build({"latent": 2})
    save_checkpoint(path, model, "latent", step=1, elapsed_s=0.1, metrics={})
    payload = torch.load(str(path), weights_only=True)
    payload["config_json"] = json.dumps({**json.loads(payload["config_json"]), **config_changes})
    torch.save(payload, str(path))
    return path


def test_a_configuration_asking_for_a_huge_model_is_refused_before_building(tmp_path):
    path = _checkpoint(tmp_path / "huge.pt", hidden=8000)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(path)
    took = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(err.value).startswith(f"{path}: ")
    assert "hidden=8000" in str(err.value) and "sizes are" in str(err.value)
    assert took < 1.0 and peak < 200 << 20, (took, peak)   # was 5.7 s and 1.3 GB


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_file_holding_code_is_refused_without_torchs_advice(tmp_path, how):
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps({"x": _Evil()}))
    else:
        torch.save({"x": _Evil()}, str(path))
    with pytest.raises(ModelFileError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "weights_only" not in text and "\x1b" not in text
    assert "refused" in text and text.startswith(f"{path}: not a readable model file")
