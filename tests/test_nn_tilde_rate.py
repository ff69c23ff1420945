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


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.manual_seed(7)
    model = get_family("pitch").build().eval()
    path = export_nn_tilde(model, "pitch", tmp_path_factory.mktemp("rate") / "pitch.ts", {"generation": "t"})[0]

    def load(rate: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            m = torch.jit.load(str(path))
        m.eval()
        assert m.set_sample_rate(rate) == 0 and m.get_sample_rate() == rate
        return m
    return load


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
