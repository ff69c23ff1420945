"""The terrain: map coordinates -> a generation's latent, walked. Real torch on one thread,
a latent-family model trained for a few seconds on three clusters of clips (low tones,
high tones, noise), the map of their latents, the terrain fitted on it and exported."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rehearsal.curation.clipmap import Standardiser, _pca, encode_frames
from rehearsal.training.data import ClipAudio, PreparedData
from rehearsal.training.family import get_family
from rehearsal.training.loop import Hooks, LoopState, make_optimizer, train
from rehearsal.training.spec import RunSpec
from rehearsal.training.terrain import export_terrain, fit_terrain, glide_path, load_terrain, render_walk

torch.set_num_threads(1)
SR = 48000
PER_CLUSTER = 8
TEST_STEPS = 300     # half the default fit (suite time); the assertions hold with margin
BANDS = ((150.0, 600.0), (5000.0, 12000.0), (900.0, 2500.0))   # dark, bright and middle noises


def band_noise_clip(kind: int, k: int, rng, seconds: float = 0.6) -> np.ndarray:
    """Noise in one band (what the latent family's band-noise synthesiser can play), each
    clip of a cluster a little louder than the one before."""
    n = int(seconds * SR)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    lo, hi = BANDS[kind]
    x = np.fft.irfft(spec * ((f >= lo) & (f <= hi)), n)
    return (x / np.sqrt(np.mean(x ** 2)) * 0.05 * 2 ** (k / 8)).astype(np.float32)


def centroid_log2(audio: np.ndarray, n: int = 2048) -> float:
    frames = [audio[i:i + n] for i in range(0, len(audio) - n, n)]
    spec = np.abs(np.fft.rfft(np.stack(frames) * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SR)
    return float(np.log2((spec * freqs).sum() / spec.sum()))


@pytest.fixture(scope="module")
def walked():
    """The model, every clip's latent frames and map point, and their cluster."""
    rng = np.random.default_rng(0)
    audio = [band_noise_clip(kind, k, rng) for k in range(PER_CLUSTER) for kind in range(3)]
    kinds = np.array([kind for _ in range(PER_CLUSTER) for kind in range(3)])
    clips = [ClipAudio(f"c{i}", a) for i, a in enumerate(audio)]
    data = PreparedData(clips[:-3], clips[-3:], clips[-3:])
    torch.manual_seed(0)
    model = get_family("latent").build()
    joined = np.concatenate([c.audio for c in data.train])
    n = len(joined) // model.hop * model.hop
    x = torch.zeros(1, model.context + n)
    x[0, model.context:] = torch.as_tensor(joined[:n])
    model.fit_normalisation(x)
    spec = RunSpec(family="latent", strategy="test", label="test", seed=3, max_steps=40, validation=False, keep="all",
                   checkpoint_every_steps=10_000, batch_size=4, frames=64, lr=3e-3, log_every=10, warmup_steps=5)
    train(model, make_optimizer(model, spec), data, spec, LoopState(), Hooks())
    model.eval()
    frames = [encode_frames(model, a) for a in audio]
    rows = np.array([np.concatenate([f.mean(0), f.std(0)]) for f in frames])
    xy, _, _ = _pca(Standardiser.fit(rows)(rows))           # the map (PCA: the UMAP path is tested elsewhere)
    return model, frames, xy, kinds, audio


@pytest.fixture(scope="module")
def full_terrain(walked):
    """The terrain fitted on every clip (the walk and the pad share it)."""
    model, frames, xy, _, _ = walked
    return fit_terrain(xy, frames, seed=1, steps=TEST_STEPS).terrain


def test_held_out_clips_get_their_latent_from_the_terrain_better_than_the_mean(walked, tmp_path):
    model, frames, xy, kinds, _ = walked
    # clips 2 and 5 of each cluster, held out: between others on the map (a terrain interpolates)
    held = np.isin(np.arange(len(frames)) // 3, (2, 5))
    fit = fit_terrain(xy[~held], [f for f, h in zip(frames, held) if not h], seed=1, steps=TEST_STEPS)
    mean_latent = np.stack([f.mean(0) for f, h in zip(frames, held) if not h]).mean(0)
    with torch.no_grad():
        at = fit.terrain(torch.tensor(xy[held], dtype=torch.float32)).numpy()
    truth = np.stack([f.mean(0) for f, h in zip(frames, held) if h])
    terrain_d = np.linalg.norm(at - truth, axis=1)
    mean_d = np.linalg.norm(mean_latent - truth, axis=1)
    print(f"terrain fit {fit.seconds:.2f} s; held-out distance to their latent: terrain {terrain_d.mean():.3f}, "
          f"dataset mean {mean_d.mean():.3f} (per clip {np.round(terrain_d, 2)} vs {np.round(mean_d, 2)})")
    assert fit.seconds < 30
    # over the held-out clips, the terrain is far closer; clip by clip it may lose only where a
    # clip's latent is the dataset's mean itself (the middle band's noises sit there)
    assert terrain_d.mean() < 0.5 * mean_d.mean()
    assert (terrain_d < mean_d).sum() >= len(truth) - 1

    # exported beside the model as TorchScript: the same latent, texture replays a clip's motion
    path = export_terrain(fit.terrain, tmp_path / "g1" / "terrain.ts")
    ts = load_terrain(path)
    p = torch.tensor(xy[held][:2], dtype=torch.float32)
    torch.testing.assert_close(ts(p, 0.0, 0), fit.terrain(p, 0.0, 0))
    moving = [ts(p[:1], 1.0, k) for k in range(4)]
    assert not torch.allclose(moving[0], moving[3]) and torch.allclose(ts(p[:1], 1.0, 5), fit.terrain(p[:1], 1.0, 5))
    with pytest.raises(FileNotFoundError, match="no terrain yet"):
        load_terrain(tmp_path / "nothing.ts")


def test_a_walk_between_two_clusters_sounds_from_one_to_the_other(walked, full_terrain):
    model, frames, xy, kinds, audio = walked
    low, high = xy[kinds == 0].mean(0), xy[kinds == 1].mean(0)
    path = glide_path([tuple(low), tuple(low), tuple(high), tuple(high)], 60)    # rest, walk, rest
    out = render_walk(model, full_terrain, path)
    assert len(out) == len(path) * model.hop and np.isfinite(out).all()
    quarter = len(out) // 4
    start, end = centroid_log2(out[:quarter]), centroid_log2(out[-quarter:])
    mid = [centroid_log2(out[i * quarter // 2:(i + 1) * quarter // 2]) for i in range(8)]
    rendered = {k: np.mean([centroid_log2(render_walk(model, full_terrain, np.repeat(xy[i:i + 1], 60, 0)))
                            for i in np.flatnonzero(kinds == k)[:3]]) for k in (0, 1)}
    print(f"centroid (log2 Hz) along the walk: {np.round(mid, 2)}; the clusters rendered where they sit: "
          f"low {rendered[0]:.2f}, high {rendered[1]:.2f}")
    assert abs(start - rendered[0]) < abs(start - rendered[1])
    assert abs(end - rendered[1]) < abs(end - rendered[0])
    assert end - start > 0.5 * (rendered[1] - rendered[0])


def test_the_xy_pad_glides_over_the_exported_terrain_and_refuses_points_off_the_map(full_terrain, tmp_path):
    import threading

    from rehearsal.play.xy import XYPad

    path = export_terrain(full_terrain, tmp_path / "terrain.ts")
    got, arrived = [], threading.Event()

    def send(latent):
        got.append(latent)
        if pad.current == pad.target and len(got) > 1:
            arrived.set()

    pad = XYPad(path, send)
    try:
        pad.set_target(0.0, 0.0, 0.0)
        pad.set_target(1.0, 1.0, 0.2)                 # a glide of 0.2 s: several steps, then the end
        assert arrived.wait(10), got
        assert len(got) >= 3 and pad.current == (1.0, 1.0)
        assert np.allclose(got[-1], pad.latent_at(1.0, 1.0)) and not np.allclose(got[0], got[-1])
        with pytest.raises(ValueError, match="x = 1.5 is outside 0..1"):
            pad.set_target(1.5, 0.5)
        with pytest.raises(ValueError, match="glide 99.0 s"):
            pad.set_target(0.5, 0.5, 99.0)
    finally:
        pad.close()
