"""Training, evaluation, rendering and the nn~ stream name their device.

`--device cuda` moves the model to the GPU and hands the loop `device="cuda"`; what breaks
such a run is a tensor made without naming its device: it lands on torch's default device
(the CPU) and the first operation that mixes it with the model's tensors raises. This
machine has no GPU, so the test turns the situation round: the model and the loop are on
the CPU and torch's *default* device is 'meta' (tensors with a shape and no data). Any
tensor our code makes without naming its device lands on 'meta', and computing with it
beside CPU tensors, or reading a number out of it, fails. The optimizer's state is made
before the switch: torch's Adam keeps its step counter on the default device by design.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from rehearsal.training import synthetic
from rehearsal.training.data import ClipAudio, PreparedData
from rehearsal.training.descriptors import DescriptorCache
from rehearsal.training.evaluation import render_clip, validation_loss
from rehearsal.training.family import get_family
from rehearsal.training.loop import Hooks, LoopState, make_optimizer, train
from rehearsal.training.spec import RunSpec

SR = 48000
MATERIAL = {"pitch": synthetic.plucked, "latent": synthetic.noise_texture, "autoregressive": synthetic.noise_texture}


class Collect(Hooks):
    def __init__(self):
        self.events = []

    def progress(self, event):
        self.events.append(event)


def _data(family: str) -> PreparedData:
    cache = DescriptorCache(None)
    clips = [ClipAudio(f"c{i}", MATERIAL[family](1.0, seed=i)) for i in range(3)]
    for c in clips:
        c.f0, c.confidence = cache.pitch(c.audio, SR, 256, 2048)
    return PreparedData(clips[:2], clips[2:], clips[2:])


def test_the_meta_default_device_catches_an_unnamed_device():
    """The detector itself: a tensor made without a device cannot meet a CPU tensor."""
    cpu = torch.ones(4, device="cpu")
    torch.set_default_device("meta")
    try:
        stray = torch.zeros(4)
        assert stray.device.type == "meta"
        with pytest.raises((RuntimeError, NotImplementedError)):
            (cpu + stray).sum().item()
    finally:
        torch.set_default_device(None)


@pytest.mark.parametrize("family", ["pitch", "latent", "autoregressive"])
def test_training_and_rendering_make_no_tensor_on_the_default_device(family):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = _data(family)
    model = get_family(family).build()
    spec = RunSpec(family=family, strategy="test", label="test", seed=1, max_steps=3, validation=True,
                   eval_every_steps=2, eval_every_s=None, keep="all", checkpoint_every_steps=10_000,
                   batch_size=2, frames=32, lr=1e-3, log_every=1, warmup_steps=0)
    optimizer = make_optimizer(model, spec)
    # one step on the CPU default creates the optimizer's state (see the module docstring)
    train(model, optimizer, data, replace(spec, max_steps=1, validation=False), LoopState(), Hooks(), device="cpu")
    hooks = Collect()
    n = len(data.train[0].audio) // model.hop * model.hop
    joined = torch.zeros(1, model.context + n, device="cpu")
    joined[0, model.context:] = torch.as_tensor(data.train[0].audio[:n], device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.set_default_device("meta")
    try:
        model.fit_normalisation(joined)           # what the worker does before the first step
        reason = train(model, optimizer, data, spec, LoopState(step=1), hooks, device="cpu")
        val = validation_loss(model, data.val, "cpu")
        rendered = render_clip(model, data.val[0], "cpu")
        stream = model.stream_module().eval()
        with torch.inference_mode():
            streamed = torch.cat([stream(torch.zeros(1, 1, 2048, device="cpu")) for _ in range(2)], -1)
            if hasattr(model, "generate"):      # a free run, and one after a prompt
                generated = [model.generate(16), model.generate(16, prompt=joined[:, :model.context + 8192])]
                generated += [stream.generate(torch.zeros(1, 1, 2048, device="cpu"))]
    finally:
        torch.set_default_device(None)
    assert reason == "steps"
    fitted = [k for k in ("loud_mean", "desc_mean") if k in before]
    assert fitted and not torch.equal(before[fitted[0]], model.state_dict()[fitted[0]])   # it did fit
    steps = [e for e in hooks.events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [2, 3] and all(math.isfinite(e["loss"]) for e in steps)
    assert any(e["event"] == "eval" and math.isfinite(e["val_loss"]) for e in hooks.events)
    assert math.isfinite(val)
    assert rendered.shape == data.val[0].audio.shape and np.isfinite(rendered).all()
    assert streamed.device.type == "cpu" and streamed.shape == (1, 1, 4096)
    if hasattr(model, "generate"):
        assert all(g.device.type == "cpu" and torch.isfinite(g).all() for g in generated)
