"""nn~ at the host's rate: an export loaded as nn~ loads it (a fresh `torch.jit.load`, then
`set_sample_rate(host rate)`, which nn~'s backend calls right after loading when the module
has it), called as nn~ calls it (buffers that are multiples of the largest ratio up to
8192, batch 1 then 4 then 1), keeps pitch: a 440 Hz `decode` comes out at 440 Hz and
`forward` follows a 44.1 kHz input's pitch, within 5 cents. Pitch is measured on the
output by aubio (another implementation than the model's own yin)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rehearsal.training.export import export_nn_tilde
from rehearsal.training.family import get_family
from tests.support.pitch import cents, harmonic_tone, measured_pitch

torch.set_num_threads(1)
BUFFERS = (256, 8192, 512, 2048, 4096, 1024)   # multiples of the largest ratio (256), up to 8192


def exported(tmp_path_factory, family: str, one_band: int | None = None):
    """A family's export, loaded as nn~ loads it; `one_band`: its synthesiser sounds that
    noise band alone (the decoder's output fixed on it), a band noise whose pitch is the band's."""
    torch.manual_seed(7)
    model = get_family(family).build().eval()
    if one_band is not None:
        with torch.no_grad():
            out = model.decoder.out
            out.weight.zero_()
            out.bias[:model.n_noise_bands] = -12.0
            out.bias[one_band] = 12.0
    path = export_nn_tilde(model, family, tmp_path_factory.mktemp("rate") / f"{family}.ts", {"generation": "t"})[0]

    def load(rate: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            m = torch.jit.load(str(path))
        m.eval()
        assert m.set_sample_rate(rate) == 0 and m.get_sample_rate() == rate
        return m
    return load


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return exported(tmp_path_factory, "pitch")


def centroid_hz(y: np.ndarray, sr: int, n: int = 4096, top: float = 8_000.0) -> float:
    """The spectral centroid (Hz) of y's average power spectrum below `top` (a noise band's pitch)."""
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::n // 2] * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=-1)) ** 2).mean(0)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    power, freqs = power[freqs < top], freqs[freqs < top]
    return float((power * freqs).sum() / power.sum())


def run_as_nn_tilde(method, x: torch.Tensor, ratio: int) -> list[np.ndarray]:
    """x (1, ch, frames at the input ratio): call `method` in nn~'s buffers, batch 1, 4, 1;
    returns the output of each phase (the batch-4 phase: its last channel)."""
    phases = []
    for batch in (1, 4, 1):
        pos, outs, k = 0, [], 0
        while pos < x.shape[-1]:
            n = BUFFERS[k % len(BUFFERS)] // ratio
            k += 1
            chunk = x[..., pos:pos + n]
            if chunk.shape[-1] < n:
                break
            with torch.inference_mode():
                outs.append(method(chunk.repeat(batch, 1, 1))[-1, 0].numpy())
            pos += n
        phases.append(np.concatenate(outs))
    return phases


@pytest.mark.parametrize("rate", [44100, 96000])
def test_decode_440_hz_at_the_host_rate(loaded, rate):
    m = loaded(rate)
    frames = int(1.5 * rate) // 256
    controls = torch.stack([torch.full((frames,), 440.0), torch.full((frames,), -18.0)]).unsqueeze(0)
    for y in run_as_nn_tilde(m.decode, controls, 256):
        assert abs(cents(measured_pitch(y, rate), 440.0)) < 5


def test_forward_follows_a_44k1_input(loaded):
    rate = 44100
    m = loaded(rate)
    f0 = 330.0
    x = harmonic_tone(f0, 1.5, rate)
    assert abs(cents(measured_pitch(x, rate), f0)) < 1      # the measure itself
    for y in run_as_nn_tilde(m.forward, torch.as_tensor(x).view(1, 1, -1), 1):
        assert abs(cents(measured_pitch(y, rate), f0)) < 5


def test_rates_outside_22k05_to_192k_are_refused(loaded):
    m = loaded(22050)
    for bad in (16000, 384000):
        with pytest.raises(Exception, match="22050 to 192000"):
            m.set_sample_rate(bad)
    assert m.get_sample_rate() == 22050


ONE_BAND: dict = {}


@pytest.mark.parametrize("family, method", [("latent", "decode"), ("latent", "forward"),
                                            ("autoregressive", "generate")])
def test_band_noise_families_keep_their_bands_in_hz_at_44k1(tmp_path_factory, family, method):
    """The latent and autoregressive families synthesise band noises: at 44.1 kHz a band
    sounds at its frequency at 48 kHz, within 5 cents (a 48 kHz table read as is puts it
    1.5 semitones, 147 cents, low). The model is made to sound one band (about 1.1 kHz)
    alone, through its whole nn~ method: a latent held (decode), a tone heard (forward),
    its own draws (generate)."""
    if family not in ONE_BAND:       # one export per family for its methods
        ONE_BAND[family] = exported(tmp_path_factory, family, one_band=24)
    load = ONE_BAND[family]
    blocks = 48_000 // 256
    found = {}
    for rate in (48000, 44100):
        m = load(rate)
        if method == "decode":
            x, ratio = torch.zeros(1, int(m.decode_params[0]), blocks), 256
        else:
            x, ratio = torch.as_tensor(harmonic_tone(330.0, blocks * 256 / rate, rate)).view(1, 1, -1), 1
            x = x[..., :blocks * 256]
        y = run_as_nn_tilde(getattr(m, method), x, ratio)[0]
        found[rate] = centroid_hz(y, rate)
    assert abs(cents(found[44100], found[48000])) < 5, found
