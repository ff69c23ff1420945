"""The families learn: real torch, tiny budgets, on synthesised instruments, voice and noise.

Each test trains in-process for a few seconds on one thread and checks what matters for a
first model: the loss goes down, held-out clips sound closer to the truth than before
training and than loudness-matched filtered noise, pitch follows, the latent matters.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rehearsal.training import synthetic
from rehearsal.training.data import ClipAudio, PreparedData
from rehearsal.training.descriptors import DescriptorCache, pitch_track
from rehearsal.training.evaluation import baseline_loss, render_clip, spectral_loss, validation_loss
from rehearsal.training.family import get_family
from rehearsal.training.loop import Hooks, LoopState, make_optimizer, train
from rehearsal.training.spec import RunSpec

torch.set_num_threads(1)
SR = 48000


def _data(make, n_train=4, seconds=2.0, with_pitch=True) -> PreparedData:
    cache = DescriptorCache(None)
    clips = [ClipAudio(f"c{i}", make(seconds, seed=i)) for i in range(n_train + 1)]
    if with_pitch:
        for c in clips:
            c.f0, c.confidence = cache.pitch(c.audio, SR, 256, 2048)
    return PreparedData(clips[:n_train], clips[n_train:], clips[n_train:])


def _fit(model, data: PreparedData) -> None:
    audio = np.concatenate([c.audio for c in data.train])
    n = len(audio) // model.hop * model.hop
    x = torch.zeros(1, model.context + n)
    x[0, model.context:] = torch.as_tensor(audio[:n])
    model.fit_normalisation(x)


class Collect(Hooks):
    def __init__(self):
        self.events = []

    def progress(self, event):
        self.events.append(event)


def _train(model, data, steps, **settings):
    spec = RunSpec(family="x", strategy="test", label="test", seed=3, max_steps=steps, validation=False,
                   keep="all", checkpoint_every_steps=10_000, batch_size=4, frames=64, lr=3e-3, log_every=1,
                   warmup_steps=5, **settings)
    hooks = Collect()
    train(model, make_optimizer(model, spec), data, spec, LoopState(), hooks)
    return [e["loss"] for e in hooks.events if e["event"] == "step"]


def _check_learns(model, data, steps, beat_baseline_by=0.8):
    torch.manual_seed(0)
    untrained = validation_loss(model, data.val)
    baseline = baseline_loss(data.train, data.val)
    losses = _train(model, data, steps)
    trained = validation_loss(model, data.val)
    print(f"untrained {untrained:.3f} baseline {baseline:.3f} trained {trained:.3f}")
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert trained < 0.8 * untrained, (trained, untrained)
    assert trained < beat_baseline_by * baseline, (trained, baseline)
    return trained


@pytest.fixture(scope="module")
def pitch_model():
    """A pitch model trained on the plucked instrument (shared by the tests below)."""
    data = _data(synthetic.plucked)
    torch.manual_seed(0)
    model = get_family("pitch").build()
    _fit(model, data)
    _check_learns(model, data, 40)
    return model


def test_pitch_family_learns_the_plucked_instrument(pitch_model):
    assert pitch_model is not None  # the fixture asserted: loss down, beats untrained and noise


def test_pitch_family_learns_a_voice():
    """Breath noise between the harmonics leaves any model (and the noise baseline) an
    irreducible log-spectral error, so the margin over the baseline is smaller here."""
    data = _data(synthetic.voice)
    torch.manual_seed(0)
    model = get_family("pitch").build()
    _fit(model, data)
    _check_learns(model, data, 120, beat_baseline_by=0.98)


def _median_f0(audio: np.ndarray) -> float:
    f0, conf = pitch_track(audio, SR, 256, 2048, "yin")
    voiced = f0[(conf > 0.8) & (f0 > 0)][8:]
    assert len(voiced) > 20
    return float(np.median(voiced))


def test_doubling_the_pitch_doubles_the_output_fundamental(pitch_model):
    t = np.arange(SR) / SR
    note = sum(np.sin(2 * np.pi * h * 196.0 * t) / h for h in range(1, 12)) * 0.2 * np.exp(-t * 1.5)
    clip = ClipAudio("note", note.astype(np.float32))
    clip.f0, clip.confidence = pitch_track(clip.audio, SR, 256, 2048)
    base = _median_f0(render_clip(pitch_model, clip))
    octave = _median_f0(render_clip(pitch_model, clip, transpose=2.0))
    print(f"fundamental {base:.2f} Hz, transposed {octave:.2f} Hz")
    assert base == pytest.approx(196.0, rel=0.01)
    assert octave / base == pytest.approx(2.0, rel=0.01)


@pytest.fixture(scope="module")
def latent_model():
    data = _data(synthetic.noise_texture, with_pitch=False)
    torch.manual_seed(0)
    model = get_family("latent").build()
    _fit(model, data)
    _check_learns(model, data, 40)
    return model


def test_latent_family_learns_noise_and_hits(latent_model):
    assert latent_model is not None  # the fixture asserted: loss down, beats untrained and noise


def test_two_latents_give_measurably_different_audio(latent_model):
    m = latent_model.eval()
    frames = 190                                       # about one second
    z = torch.zeros(1, frames, m.latent_size)
    a, b = z.clone(), z.clone()
    a[..., 3:] = 0.9                                   # the learned dimensions only:
    b[..., 3:] = -0.9                                  # same loudness, centroid, flatness

    def render(latent, counter):
        with torch.no_grad():
            return m.decode_frames(latent, m.zero_state(1, torch.device("cpu")), counter)[0][0].numpy()

    different = spectral_loss(render(a, 0), render(b, 0))
    same_latent_other_noise = spectral_loss(render(a, 0), render(a, 30000))
    print(f"latent distance {different:.3f}, same latent other noise {same_latent_other_noise:.3f}")
    assert different > 1.5 * same_latent_other_noise, (different, same_latent_other_noise)


def test_latent_encode_exposes_readable_descriptors(latent_model):
    m = latent_model.eval()
    quiet = torch.as_tensor(synthetic.noise_texture(1.0, seed=5))[None] * 0.05
    loud = quiet * 20
    pad = torch.zeros(1, m.context)
    with torch.no_grad():
        zq = m.encode(torch.cat([pad, quiet[:, :48000 // 256 * 256]], 1))
        zl = m.encode(torch.cat([pad, loud[:, :48000 // 256 * 256]], 1))
    # channel 0 is loudness in dataset z-scores: 26 dB louder reads as higher by 26 / std
    delta = (zl[0, 20:, 0] - zq[0, 20:, 0]).median()
    assert float(delta) == pytest.approx(26.02 / float(m.desc_std[0]), rel=0.05)
