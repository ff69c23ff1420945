"""nn~ export: the TorchScript file loads in a fresh process, every registered method runs
with nn~-shaped buffers (8192 samples; batch 1, then 4, then 1), and `forward` streamed in
8192-sample buffers matches the whole-clip render within 1e-4."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

from rehearsal.training import synthetic
from rehearsal.training.export import export_nn_tilde
from rehearsal.training.family import get_family

torch.set_num_threads(1)

FRESH = r"""
import json, sys, torch
torch.set_num_threads(1)
report = {}
for path in sys.argv[1:]:
    m = torch.jit.load(path)          # TorchScript: no Python class of ours is needed
    r = {"methods": list(m.get_methods()), "calls": [], "params": {}, "labels": {}}
    inputs = torch.load(path + ".inputs.pt", weights_only=True)
    for name in r["methods"]:
        in_ch, in_ratio, out_ch, out_ratio = [int(v) for v in getattr(m, name + "_params").tolist()]
        r["params"][name] = [in_ch, in_ratio, out_ch, out_ratio]
        r["labels"][name] = [list(getattr(m, name + "_input_labels")), list(getattr(m, name + "_output_labels"))]
        for batch in (1, 4, 1):
            x = inputs[name][:1].repeat(batch, 1, 1)[..., : 8192 // in_ratio]
            with torch.inference_mode():                      # as nn~ calls it
                y = getattr(m, name)(x)
            r["calls"].append([name, batch, list(y.shape), str(y.dtype), bool(torch.isfinite(y).all())])
    # forward streamed in 8192-sample buffers, from the state the file was saved with
    fresh = torch.jit.load(path)
    clip = inputs["clip"]
    with torch.inference_mode():
        out = torch.cat([fresh(clip[..., i:i + 8192]) for i in range(0, clip.shape[-1], 8192)], -1)
    torch.save(out, path + ".streamed.pt")
    report[path] = r
print(json.dumps(report))
"""


def _model(family: str):
    torch.manual_seed(7)
    model = get_family(family).build().eval()
    with torch.no_grad():  # weights that are not all the small initial ones
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nn")
    clip = np.concatenate([synthetic.voice(1.0, seed=2), synthetic.noise_texture(0.7, seed=3)])
    n = len(clip) // 8192 * 8192 + 8192                  # whole buffers, with a silent tail
    audio = np.zeros(n, np.float32)
    audio[:len(clip)] = clip
    clip_t = torch.as_tensor(audio).view(1, 1, -1)
    out = {}
    for family in ("pitch", "latent"):
        model = _model(family)
        path = export_nn_tilde(model, family, tmp / f"{family}.ts", {"generation": "test"})[0]
        hop = model.hop
        frames = 8192 // hop
        inputs = {"forward": clip_t[..., :8192], "encode": clip_t[..., :8192], "clip": clip_t}
        if family == "pitch":
            inputs["decode"] = torch.stack([torch.full((frames,), 220.0), torch.full((frames,), -20.0)]).unsqueeze(0)
        else:
            inputs["decode"] = torch.randn(1, model.latent_size, frames) * 0.5
        torch.save(inputs, str(path) + ".inputs.pt")
        out[family] = (model, path, clip_t)
    proc = subprocess.run([sys.executable, "-c", FRESH, *[str(p) for _, p, _ in out.values()]],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {f: (m, p, c, report[str(p)]) for f, (m, p, c) in out.items()}


@pytest.mark.parametrize("family,methods", [("pitch", ["forward", "decode"]),
                                            ("latent", ["forward", "encode", "decode"])])
def test_every_method_runs_in_a_fresh_process_with_batch_changes(exported, family, methods):
    model, path, _, r = exported[family]
    assert r["methods"] == methods
    for name, batch, shape, dtype, finite in r["calls"]:
        in_ch, in_ratio, out_ch, out_ratio = r["params"][name]
        assert shape == [batch, out_ch, 8192 // out_ratio], (name, batch)
        assert dtype == "torch.float32" and finite, (name, batch)
    assert [c[1] for c in r["calls"] if c[0] == "forward"] == [1, 4, 1]
    assert r["params"]["forward"] == [1, 1, 1, 1]
    assert all(len(r["labels"][m][0]) == r["params"][m][0] for m in methods)
    if family == "latent":
        assert r["params"]["encode"] == [1, 1, model.latent_size, 256]
        assert r["params"]["decode"] == [model.latent_size, 256, 1, 1]
        assert r["labels"]["encode"][1][0].startswith("(signal) loudness")
    meta = json.loads(zipfile.ZipFile(path).read(f"{zipfile.ZipFile(path).namelist()[0].split('/')[0]}/extra/rehearsal.json"))
    assert meta["latency_samples"] == 256 and meta["family"] == family


def test_latent_forward_streamed_matches_the_whole_clip_render(exported):
    model, path, clip, _ = exported["latent"]
    streamed = torch.load(str(path) + ".streamed.pt", weights_only=True)
    audio_ctx = torch.cat([torch.zeros(1, model.context), clip[0]], 1)
    with torch.no_grad():
        whole = model(audio_ctx)                     # the render used for validation and previews
    assert streamed.shape == (1, 1, clip.shape[-1])
    print(f"latent: streamed vs whole max difference {(streamed[0] - whole).abs().max():.2e}")
    assert (streamed[0] - whole).abs().max() < 1e-4
    assert whole.abs().max() > 1e-3                  # not a trivially silent comparison


def test_pitch_forward_streamed_matches_the_whole_clip_render(exported):
    model, path, clip, _ = exported["pitch"]
    streamed = torch.load(str(path) + ".streamed.pt", weights_only=True)
    with torch.no_grad():
        whole = model.stream_module().eval()(clip)   # the same model over the whole clip at once
        # ... which is the eager model on its own pitch and loudness analysis
        audio_ctx = torch.cat([torch.zeros(1, model.context), clip[0]], 1)
        f0, conf = model.pitch(audio_ctx)
        eager = model(audio_ctx, f0, conf)
    print(f"pitch: streamed vs whole max difference {(streamed - whole).abs().max():.2e}")
    assert (streamed - whole).abs().max() < 1e-4
    assert (whole[0] - eager).abs().max() < 1e-4
    assert whole.abs().max() > 1e-3


def test_pitch_decode_follows_pitch_controls(exported):
    model, _, _, _ = exported["pitch"]
    stream = model.stream_module().eval()
    frames = 8192 // 256
    controls = torch.stack([torch.full((frames * 4,), 330.0), torch.full((frames * 4,), -18.0)]).unsqueeze(0)
    with torch.no_grad():
        y = torch.cat([stream.decode(controls[..., i:i + frames]) for i in range(0, frames * 4, frames)], -1)
    spec = np.abs(np.fft.rfft(y[0, 0, 8192:].numpy() * np.hanning(y.shape[-1] - 8192)))
    freqs = np.fft.rfftfreq(y.shape[-1] - 8192, 1 / 48000)
    harmonic = [spec[np.argmin(np.abs(freqs - k * 330.0))] for k in (1, 2, 3)]
    between = [spec[np.argmin(np.abs(freqs - (k + 0.5) * 330.0))] for k in (1, 2, 3)]
    assert min(harmonic) > 10 * max(between)


def test_buffer_not_a_multiple_of_the_block_is_refused(exported):
    _, path, _, _ = exported["latent"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        m = torch.jit.load(str(path))
    with pytest.raises(Exception, match="multiple of 256"):
        m(torch.zeros(1, 1, 1000))
