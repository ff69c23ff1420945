"""Generations for the play tests: real families, trained a few steps, stored as the
training library stores them (checkpoint file, generation row, checkpoint row, complete).

Also a model family that fails on purpose after a number of blocks (raises, or returns
NaN), installed through a real entry point (tests/support/plugin_dist.py) so the play
process loads it the way it loads any third-party family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FAULTY_MODULE = '''
"""A model family that fails on purpose, for the play tests."""
from typing import Dict

import torch
from torch import Tensor, nn

from rehearsal.plugins import hookimpl
from rehearsal.training.family import Family
from rehearsal.training.nn_tilde import NNTildeModule

DEFAULTS = {"sample_rate": 48000, "hop": 256, "fail_after_blocks": 100, "fail_mode": "raise", "gain": 0.5}


class FaultyModel(nn.Module):
    conditioning = ()

    def __init__(self, config: Dict[str, object]):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.config = cfg
        self.sample_rate = int(cfg["sample_rate"])
        self.hop = int(cfg["hop"])
        self.context = 0
        self.gain = nn.Parameter(torch.tensor(float(cfg["gain"])))

    def forward(self, audio_ctx: Tensor, counter: int = 0) -> Tensor:
        return audio_ctx * self.gain

    def fit_normalisation(self, audio_ctx: Tensor) -> None:
        pass

    def stream_module(self):
        return FaultyStream(self)


class FaultyStream(NNTildeModule):
    def __init__(self, model: FaultyModel):
        super().__init__()
        self.model = model
        self.hop = model.hop
        self.context = 0
        self.fail_after = int(model.config["fail_after_blocks"])
        self.nan = model.config["fail_mode"] == "nan"
        self.register_method("forward", 1, 1, 1, 1, ["(signal) in"], ["(signal) out"])
        self.register_buffer("blocks", torch.zeros(1, dtype=torch.int64), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if bool(x.abs().max() > 1e-4):   # counts blocks that hear something: silence before a test plays
            self.blocks = self.blocks + x.shape[2] // self.hop
        if int(self.blocks[0]) > self.fail_after:
            if self.nan:
                return torch.full_like(x, float("nan"))
            raise RuntimeError("the faulty model fails as it was built to")
        return x * self.model.gain


class FaultyFamily(Family):
    name = "faulty"
    summary = "fails on purpose after fail_after_blocks blocks of sound (tests)"
    model_path = "rehearsal_faulty_family:FaultyModel"
    default_config = DEFAULTS


@hookimpl
def register_model_families(register):
    register("faulty", FaultyFamily())
'''


def install_faulty_family(site: Path) -> Path:
    """Write the plugin into `site`; put `site` on PYTHONPATH for the play process."""
    from tests.support.plugin_dist import install_plugin

    return install_plugin(site, "rehearsal-faulty-family", "0.1", {"faulty": "rehearsal_faulty_family"},
                          modules={"rehearsal_faulty_family": FAULTY_MODULE})


def _train_a_little(model, steps: int, seed: int) -> None:
    import torch

    from rehearsal.training import synthetic
    from rehearsal.training.data import ClipAudio, PreparedData
    from rehearsal.training.descriptors import DescriptorCache
    from rehearsal.training.loop import Hooks, LoopState, make_optimizer, train
    from rehearsal.training.spec import RunSpec

    clips = [ClipAudio(f"c{i}", synthetic.plucked(1.0, seed=seed + i)) for i in range(3)]
    if "f0" in model.conditioning:
        cache = DescriptorCache(None)
        for c in clips:
            c.f0, c.confidence = cache.pitch(c.audio, 48000, model.hop, int(model.config.get("yin_window", 2048)))
    audio = np.concatenate([c.audio for c in clips])
    n = len(audio) // model.hop * model.hop
    x = torch.zeros(1, model.context + n)
    x[0, model.context:] = torch.as_tensor(audio[:n])
    model.fit_normalisation(x)
    if steps:
        spec = RunSpec(family="x", strategy="test", label="test", seed=seed, max_steps=steps, validation=False,
                       keep="all", checkpoint_every_steps=10_000, batch_size=2, frames=32, log_every=1,
                       warmup_steps=1)
        train(model, make_optimizer(model, spec), PreparedData(clips, [], []), spec, LoopState(), Hooks())
    model.eval()


def store_generation(ws, db, model, family: str, *, label: str, steps: int = 0) -> dict:
    """Save `model` as a complete generation, the way a training run leaves one."""
    from rehearsal.training import generations as gens
    from rehearsal.training.checkpoints import save_checkpoint
    from rehearsal.training.spec import RunSpec

    spec = RunSpec(family=family, strategy="test", label=label, seed=0, max_steps=max(1, steps), validation=False,
                   keep="all")
    gen_id = gens.create_generation(db, spec, dataset_ref="synthetic", dataset_version_id=None,
                                    dataset_folder="synthetic", dataset_hash="0" * 64)
    path = ws.folder("models") / f"g{gen_id:04d}" / "final.pt"
    save_checkpoint(path, model, family, step=steps, elapsed_s=0.0, metrics={})
    ck = gens.record_checkpoint(db, gen_id, kind="final", step=steps, elapsed_s=0.0, path=ws.relative(path),
                                train_loss=None, val_loss=None, previews=None)
    gens.mark_finished(db, gen_id, "complete", checkpoint_id=ck)
    return gens.get_generation(db, gen_id)


def make_corpus_generation(ws, db, seeds=(1, 2), seconds: float = 3.0, *, label: str = "corpus plucks") -> dict:
    """A corpus generation (issue 16), stored as a run leaves one: a unit bank of notes at
    one level, so that its own loudness changes unit by unit (the follow tests' chance
    correlation stays small: tests/test_play_coperformer.py). No training: analysis only."""
    from rehearsal.training.corpus import analyse_corpus, model_of
    from tests.test_play_coperformer import steady

    bank = analyse_corpus([steady(s, seconds) for s in seeds])
    return store_generation(ws, db, model_of(bank, {"pitch_match": True}), "corpus", label=label)


def make_generation(ws, db, family: str = "pitch", *, seed: int = 0, steps: int = 3, config: dict | None = None,
                    label: str | None = None) -> dict:
    import torch

    from rehearsal.training.family import get_family

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = get_family(family).build(config or {})
    _train_a_little(model, steps, seed)
    return store_generation(ws, db, model, family, label=label or f"{family} seed {seed}", steps=steps)


def make_faulty_generation(ws, db, *, fail_after_blocks: int, mode: str = "raise", gain: float = 0.5) -> dict:
    """Build the faulty model from its source (the test process need not load the plugin)."""
    import types

    import torch

    mod = types.ModuleType("rehearsal_faulty_family_local")
    exec(compile(FAULTY_MODULE, "rehearsal_faulty_family", "exec"), mod.__dict__)
    model = mod.FaultyModel({"fail_after_blocks": fail_after_blocks, "fail_mode": mode, "gain": gain})
    with torch.no_grad():
        model.gain.fill_(gain)
    return store_generation(ws, db, model.eval(), "faulty", label=f"faulty ({mode} after {fail_after_blocks})")


def render_like_play(checkpoint: Path, audio: np.ndarray, start: int, stop: int, block: int = 256) -> np.ndarray:
    """What the play process's model renders for audio[start:stop] when it began hearing
    the input at `start` (its warm-up): the same loading, scripting, warming and calls.
    Returns an array as long as `audio`, zeros outside [start, stop)."""
    import torch

    from rehearsal.play.slots import Slot
    from rehearsal.training.checkpoints import load_checkpoint

    torch.set_num_threads(1)
    model, _ = load_checkpoint(Path(checkpoint))
    slot = Slot.from_model(model, None, "reference")
    out = np.zeros(len(audio), np.float32)
    for a in range(start, stop - block + 1, block):
        out[a:a + block] = slot.run(np.ascontiguousarray(audio[a:a + block], dtype=np.float32))
    return out
