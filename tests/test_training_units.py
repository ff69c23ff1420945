"""Training's building blocks: YIN against aubio, the loss, the noise bank, datasets, specs,
model files, and that torch stays out of `import rehearsal` and the CLI's help."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rehearsal.training import dsp, synthetic
from rehearsal.training.checkpoints import ModelFileError, load_checkpoint, load_weights, save_checkpoint, save_weights
from rehearsal.training.dataset import DatasetError, open_folder, read_metadata, resample, split_validation
from rehearsal.training.descriptors import pitch_track
from rehearsal.training.family import get_family
from rehearsal.training.spec import RunSpec, SpecError, apply_params, parse_duration

torch.set_num_threads(1)


def test_import_and_help_never_import_torch():
    code = ("import sys, rehearsal, rehearsal.training, rehearsal.cli\n"
            "from click.testing import CliRunner\n"
            "r = CliRunner().invoke(rehearsal.cli.main, ['train', '--help'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name,signal", [("voice", synthetic.voice(1.5, seed=3)),
                                          ("pluck", synthetic.plucked(1.5, seed=1)),
                                          ("noise", synthetic.noise_texture(1.5, seed=2))])
def test_torch_yin_gives_aubio_yin(name, signal):
    """The exported model tracks pitch in torch; it must read what training read with aubio."""
    f_aubio, c_aubio = pitch_track(signal, 48000, 256, 2048, "yin")
    n = len(f_aubio)
    padded = np.zeros(1792 + n * 256, np.float32)
    padded[1792:1792 + len(signal)] = signal
    f_torch, c_torch = dsp.yin(dsp.frames_of(torch.as_tensor(padded)[None], 2048, 256), 48000)
    f_torch, c_torch = f_torch[0].numpy(), c_torch[0].numpy()
    assert ((f_aubio > 0) == (f_torch > 0)).all()
    voiced = f_aubio > 0
    np.testing.assert_allclose(f_torch[voiced], f_aubio[voiced], rtol=1e-3)
    np.testing.assert_allclose(c_torch, c_aubio, atol=1e-4)


def test_yinfast_agrees_with_yin_on_a_tone():
    t = np.arange(48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    f_slow, _ = pitch_track(tone, 48000, 256, 2048, "yin")
    f_fast, conf = pitch_track(tone, 48000, 256, 2048, "yinfast")
    np.testing.assert_allclose(f_fast[10:], 220.0, rtol=1e-3)
    np.testing.assert_allclose(f_fast[10:], f_slow[10:], rtol=1e-4)
    assert conf[10:-2].min() > 0.99   # the last block is half zero padding


def test_spectral_loss_is_zero_for_identical_and_grows_with_difference():
    x = torch.as_tensor(synthetic.voice(0.5, seed=1))[None]
    assert float(dsp.multiscale_spectral_loss(x, x)) == 0.0
    near = float(dsp.multiscale_spectral_loss(x * 1.05, x))
    far = float(dsp.multiscale_spectral_loss(x * 2.0, x))
    assert 0 < near < far


def test_noise_bank_bands_have_unit_level_and_their_own_frequencies():
    bank = dsp.make_noise_bank(12, 16384, 48000)
    rms = bank.pow(2).mean(-1).sqrt()
    np.testing.assert_allclose(rms.numpy(), 1.0, rtol=1e-4)
    spectra = torch.fft.rfft(bank).abs()
    freqs = torch.fft.rfftfreq(16384, 1 / 48000)
    centroids = (spectra * freqs).sum(-1) / spectra.sum(-1)
    assert (centroids[1:] > centroids[:-1]).all()   # bands climb in frequency


def test_filtered_noise_reads_the_table_the_same_in_pieces():
    bank = dsp.make_noise_bank(8, 4096, 48000)
    gains = torch.rand(2, 40, 8)
    prev = torch.rand(2, 1, 8)
    whole = dsp.filtered_noise(bank, prev, gains, 1000, 256)       # wraps the table several times
    first = dsp.filtered_noise(bank, prev, gains[:, :13], 1000, 256)
    second = dsp.filtered_noise(bank, gains[:, 12:13], gains[:, 13:], 1000 + 13 * 256, 256)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


# -- datasets -------------------------------------------------------------------------------

def test_metadata_errors_name_the_file_and_line(tmp_path):
    folder = synthetic.write_dataset(tmp_path / "ds", [("a", synthetic.plucked(0.2), ["x"])])
    meta = folder / "metadata.jsonl"
    good = meta.read_text()
    meta.write_text(good + "{not json\n")
    with pytest.raises(DatasetError, match=r"metadata.jsonl:2: not JSON"):
        read_metadata(folder)
    meta.write_text(good + json.dumps({"path": "../../etc/passwd", "symbols": []}) + "\n")
    with pytest.raises(DatasetError, match=r"metadata.jsonl:2: .*inside the dataset folder"):
        read_metadata(folder)
    meta.write_text(good + json.dumps({"path": "clips/missing.wav", "symbols": []}) + "\n")
    with pytest.raises(DatasetError, match=r":2: clip 'clips/missing.wav' is missing"):
        read_metadata(folder)
    meta.write_text(json.dumps({"path": "clips/000-a.wav", "symbols": "x"}) + "\n")
    with pytest.raises(DatasetError, match=r":1: \"symbols\" must be a list"):
        read_metadata(folder)


def test_content_hash_changes_when_a_clip_changes(tmp_path):
    import soundfile as sf

    folder = synthetic.write_dataset(tmp_path / "ds", [("a", synthetic.plucked(0.2), ["x"])])
    before = open_folder(folder).content_hash
    sf.write(str(folder / "clips/000-a.wav"), synthetic.plucked(0.2, seed=9), 48000, subtype="FLOAT")
    assert open_folder(folder).content_hash != before


def test_resample_keeps_duration_and_pitch():
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = resample(x, 44100, 48000)
    assert len(y) == 48000
    peak = np.argmax(np.abs(np.fft.rfft(y))) * 48000 / len(y)
    assert abs(peak - 1000) <= 1


def test_validation_split_is_stable_and_disjoint(tmp_path):
    folder = synthetic.write_dataset(tmp_path / "ds", [(f"c{i}", synthetic.plucked(0.1, seed=i), ["x"])
                                                       for i in range(10)])
    clips = read_metadata(folder)
    train, val = split_validation(clips, 0.2)
    assert len(val) == 2 and not {c.path for c in train} & {c.path for c in val}
    assert [c.path for c in split_validation(list(reversed(clips)), 0.2)[1]] == [c.path for c in val]


# -- specs -----------------------------------------------------------------------------------

def test_durations_and_params():
    assert parse_duration("3m") == 180 and parse_duration("90") == 90 and parse_duration("1.5h") == 5400
    with pytest.raises(SpecError):
        parse_duration("soon")
    spec = RunSpec(family="pitch", strategy="x", label="x", seed=1, max_steps=10)
    out = apply_params(spec, {"lr": "0.01", "n_harmonics": "16", "validation": "false", "keep": "all"},
                       get_family("pitch").defaults())
    assert out.lr == 0.01 and out.family_params == {"n_harmonics": 16} and out.validation is False
    with pytest.raises(SpecError, match="unknown setting 'bogus'"):
        apply_params(spec, {"bogus": "1"}, {})
    with pytest.raises(SpecError, match="needs a budget"):
        RunSpec(family="pitch", strategy="x", label="x", seed=1)
    with pytest.raises(SpecError, match="keep=best"):
        RunSpec(family="pitch", strategy="x", label="x", seed=1, max_steps=1, validation=False)


def test_families_are_frugal_and_refuse_big_latency():
    for name in ("pitch", "latent"):
        model = get_family(name).build()
        assert dsp.count_parameters(model) <= 1_000_000
        assert model.hop <= 256 and model.sample_rate == 48000
    with pytest.raises(ValueError, match="hop"):
        get_family("pitch").build({"hop": 512})
    with pytest.raises(ValueError, match="parameters"):
        get_family("latent").build({"hidden": 1024})


# -- model files -------------------------------------------------------------------------------

def test_checkpoint_and_weights_round_trip(tmp_path):
    model = get_family("latent").build({"latent": 2})
    save_checkpoint(tmp_path / "c.pt", model, "latent", step=3, elapsed_s=1.0, metrics={"x": 1})
    loaded, meta = load_checkpoint(tmp_path / "c.pt")
    assert meta["step"] == 3 and meta["metrics"] == {"x": 1}
    audio = torch.randn(1, model.context + 2560) * 0.1
    torch.testing.assert_close(loaded(audio), model.eval()(audio))
    weights, sidecar = save_weights(tmp_path / "w", model, "latent", {"generation": "g1"})
    again, info = load_weights(sidecar)
    assert info["family"] == "latent" and info["config"]["latent"] == 2
    torch.testing.assert_close(again(audio), model(audio))


def test_model_files_are_validated_with_clear_errors(tmp_path):
    model = get_family("pitch").build()
    weights, sidecar = save_weights(tmp_path / "w", model, "pitch", {})
    # a changed weights file
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_weights(sidecar)
    # a pickle that would run code is refused, not executed
    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "rehearsal-checkpoint", "x": Boom()}, evil)
    with pytest.raises(ModelFileError, match="evil.pt: not a readable model file"):
        load_checkpoint(evil)
    # weights of the wrong shape for the configuration
    save_checkpoint(tmp_path / "c.pt", model, "pitch", step=1, elapsed_s=0, metrics={})
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    payload["config_json"] = json.dumps({**model.config, "hidden": 64})
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="bad.pt: tensor .* has shape"):
        load_checkpoint(tmp_path / "bad.pt")
    payload["family"] = "no-such-family"
    torch.save(payload, tmp_path / "fam.pt")
    with pytest.raises(ModelFileError, match="no model family 'no-such-family'"):
        load_checkpoint(tmp_path / "fam.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
