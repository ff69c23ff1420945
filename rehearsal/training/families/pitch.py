"""The pitch family: DDSP-style harmonic + filtered-noise synthesis driven by pitch and loudness.

    pitch, confidence (aubio yin) + loudness -> recurrent decoder -> harmonic amplitudes and
    noise band gains -> oscillator bank + band-noise bank -> 48 kHz audio, 256 samples a block

Frugal by construction: the output level follows the input loudness (the decoder only
learns a gain around it, +-43 dB) and the timbre is a normalised harmonic distribution, so
a few hundred steps already give a playable instrument. About 0.3 M parameters.
"""


import math
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from .. import dsp
from ..nn_tilde import NNTildeModule
from .defaults import PITCH_DEFAULTS
from .nets import RecurrentDecoder

DEFAULTS: Dict[str, object] = dict(PITCH_DEFAULTS)

MIN_F0 = 20.0


def hold_voiced(f0: Tensor, prev: Tensor, min_f0: float) -> Tensor:
    """Carry the last pitch through unvoiced frames (f0 < 20 Hz) so oscillators glide
    instead of dropping to 0 Hz. f0 (B, n), prev (B, 1) -> (B, n)."""
    vals = torch.cat([prev, f0], 1)
    voiced = vals >= min_f0
    voiced[:, 0] = True
    idx = torch.arange(vals.shape[1], device=f0.device).unsqueeze(0).expand_as(vals)
    idx = torch.where(voiced, idx, torch.zeros_like(idx))
    idx = torch.cummax(idx, 1).values
    return torch.gather(vals, 1, idx)[:, 1:]


class PitchModel(nn.Module):
    """The eager model: training, whole-clip rendering; `stream_module()` wraps it for nn~."""

    conditioning = ("f0", "confidence")  # per-frame descriptors the data pipeline provides

    def __init__(self, config: Dict[str, object]):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.config = cfg
        self.sample_rate = int(cfg["sample_rate"])
        self.hop = int(cfg["hop"])
        self.n_harmonics = int(cfg["n_harmonics"])
        self.n_noise_bands = int(cfg["n_noise_bands"])
        self.yin_window = int(cfg["yin_window"])
        self.loudness_window = int(cfg["loudness_window"])
        self.gain_range = float(cfg["gain_range"])
        self.min_f0 = MIN_F0
        self.context = max(self.yin_window, self.loudness_window) - self.hop
        self.decoder = RecurrentDecoder(3, self.n_harmonics + 1 + self.n_noise_bands + 1,
                                        int(cfg["width"]), int(cfg["hidden"]))
        with torch.no_grad():
            # start from a plausible instrument: harmonics falling as 1/h (softplus^-1 of 1/h)
            # and noise about 20 dB under them; training shapes the timbre from there
            h = torch.arange(1, self.n_harmonics + 1, dtype=torch.float32)
            self.decoder.out.bias[:self.n_harmonics] = torch.log(torch.expm1(1.0 / h))
            self.decoder.out.bias[self.n_harmonics + 1 + self.n_noise_bands] = -0.5
        # normalisation of the loudness input, fitted on the first dataset (kept by children)
        self.register_buffer("loud_mean", torch.tensor(-30.0))
        self.register_buffer("loud_std", torch.tensor(15.0))
        # deterministic, so not saved in weights files: rebuilt from the config on load
        self.register_buffer("noise_bank", dsp.make_noise_bank(self.n_noise_bands, int(cfg["noise_table"]),
                                                               self.sample_rate), persistent=False)
        self.register_buffer("harmonic_numbers", torch.arange(1, self.n_harmonics + 1, dtype=torch.float32),
                             persistent=False)

    # -- analysis ----------------------------------------------------------------------
    def _frames(self, audio_ctx: Tensor, window: int) -> Tensor:
        # audio_ctx holds `context` samples of history, then n blocks
        return dsp.frames_of(audio_ctx[:, self.context - (window - self.hop):], window, self.hop)

    def loudness(self, audio_ctx: Tensor) -> Tensor:
        """(B, context + n*hop) -> loudness per block (B, n) in dB."""
        return dsp.loudness_db(self._frames(audio_ctx, self.loudness_window), self.loudness_window)

    def pitch(self, audio_ctx: Tensor, sample_rate: int = 0) -> Tuple[Tensor, Tensor]:
        """The torch copy of aubio's yin, for the exported model (training uses aubio);
        `sample_rate`: the rate the audio is at (0: the model's)."""
        return dsp.yin(self._frames(audio_ctx, self.yin_window), sample_rate if sample_rate > 0 else self.sample_rate)

    def fit_normalisation(self, audio_ctx: Tensor) -> None:
        """Set the loudness normalisation from a dataset's audible blocks."""
        loud_db = self.loudness(audio_ctx)
        audible = loud_db[loud_db > -70.0]
        if audible.numel() >= 2:
            self.loud_mean.fill_(float(audible.mean()))
            self.loud_std.fill_(max(float(audible.std()), 3.0))

    # -- synthesis -----------------------------------------------------------------------
    def zero_state(self, batch: int, device: torch.device) -> List[Tensor]:
        return [
            self.decoder.initial_state(batch, device),
            torch.zeros(batch, 1, device=device),                        # held pitch
            torch.zeros(batch, 1, self.n_harmonics, device=device),      # harmonic amplitudes
            torch.zeros(batch, 1, self.n_noise_bands, device=device),    # noise gains
            torch.zeros(batch, 1, device=device, dtype=torch.float64),   # oscillator phase
        ]

    def render_frames(self, f0: Tensor, confidence: Tensor, loud_db: Tensor, state: List[Tensor],
                      counter: int, sample_rate: int = 0) -> Tuple[Tensor, List[Tensor]]:
        """Per-block controls (B, n) -> audio (B, n*hop) and the state after the last block,
        synthesised at `sample_rate` (0: the model's; the oscillators are exact at any rate)."""
        sr = sample_rate if sample_rate > 0 else self.sample_rate
        h, f0_prev, amps_prev, gains_prev, phase0 = state[0], state[1], state[2], state[3], state[4]
        f0_held = hold_voiced(f0, f0_prev, self.min_f0)
        pitch_in = (12.0 * torch.log2(f0_held.clamp(self.min_f0, 4000.0) / 440.0) + 9.0) / 24.0
        loud_in = (loud_db - self.loud_mean) / self.loud_std
        x = torch.stack([pitch_in, loud_in, confidence], -1)
        y, h = self.decoder(x, h)
        nh, nb = self.n_harmonics, self.n_noise_bands
        rms = dsp.db_to_rms(loud_db).unsqueeze(-1)

        audible = (self.harmonic_numbers * f0_held.unsqueeze(-1) < sr / 2).to(y.dtype)
        voiced = (f0.unsqueeze(-1) >= self.min_f0).to(y.dtype)
        dist = nn.functional.softplus(y[..., :nh]) * audible * voiced
        dist = dist / torch.sqrt(dist.pow(2).sum(-1, keepdim=True) + 1e-8)
        harm_gain = torch.exp(self.gain_range * torch.tanh(y[..., nh:nh + 1]))
        amps = dist * (math.sqrt(2.0) * rms * harm_gain)

        bands = nn.functional.softplus(y[..., nh + 1:nh + 1 + nb])
        bands = bands / torch.sqrt(bands.pow(2).sum(-1, keepdim=True) + 1e-8)
        noise_gain = torch.exp(self.gain_range * torch.tanh(y[..., nh + 1 + nb:nh + 2 + nb]))
        gains = bands * rms * noise_gain

        phase, phase_end = dsp.harmonic_phase(f0_prev, f0_held, phase0, self.hop, sr)
        audio = dsp.harmonic_bank(phase, amps_prev, amps, self.hop) \
            + dsp.filtered_noise(self.noise_bank, gains_prev, gains, counter, self.hop)
        return audio, [h, f0_held[:, -1:], amps[:, -1:], gains[:, -1:], phase_end]

    def forward(self, audio_ctx: Tensor, f0: Tensor, confidence: Tensor, counter: int = 0) -> Tensor:
        """Training and whole-clip rendering: from a zero state."""
        state = self.zero_state(audio_ctx.shape[0], audio_ctx.device)
        audio, _ = self.render_frames(f0, confidence, self.loudness(audio_ctx), state, counter)
        return audio

    def stream_module(self):
        return PitchStream(self)


class PitchStream(NNTildeModule):
    """nn~ methods, each with its own streaming state:

    forward: audio -> audio (timbre transfer: pitch and loudness read from the input)
    decode:  pitch (Hz) and loudness (dB) at block rate -> audio (play it from a patch)
    """

    def __init__(self, model: PitchModel):
        super().__init__(model.sample_rate)
        self.model = model
        self.hop = model.hop
        self.context = model.context
        hop = self.hop
        self.register_method("forward", 1, 1, 1, 1, ["(signal) instrument or voice in"], ["(signal) resynthesis"])
        self.register_method("decode", 2, hop, 1, 1, ["(signal) pitch in Hz", "(signal) loudness in dB"],
                             ["(signal) synthesis"])
        # streaming state: buffers (so .to(device) moves them) that weights files never hold
        for name, value in self._fresh_forward(1, torch.device("cpu")).items():
            self.register_buffer(name, value, persistent=False)
        for name, value in self._fresh_decode(1, torch.device("cpu")).items():
            self.register_buffer(name, value, persistent=False)

    def _fresh_forward(self, batch: int, device: torch.device) -> Dict[str, Tensor]:
        s = self.model.zero_state(batch, device)
        return {"fwd_history": torch.zeros(batch, self.context, device=device), "fwd_h": s[0], "fwd_f0": s[1],
                "fwd_amps": s[2], "fwd_gains": s[3], "fwd_phase": s[4],
                "fwd_counter": torch.zeros(1, dtype=torch.int64, device=device)}

    def _fresh_decode(self, batch: int, device: torch.device) -> Dict[str, Tensor]:
        s = self.model.zero_state(batch, device)
        return {"dec_h": s[0], "dec_f0": s[1], "dec_amps": s[2], "dec_gains": s[3], "dec_phase": s[4],
                "dec_counter": torch.zeros(1, dtype=torch.int64, device=device)}

    def _reset_forward(self, batch: int, device: torch.device) -> None:
        s = self._fresh_forward(batch, device)
        self.fwd_history, self.fwd_h, self.fwd_f0 = s["fwd_history"], s["fwd_h"], s["fwd_f0"]
        self.fwd_amps, self.fwd_gains, self.fwd_phase = s["fwd_amps"], s["fwd_gains"], s["fwd_phase"]
        self.fwd_counter = s["fwd_counter"]

    def _reset_decode(self, batch: int, device: torch.device) -> None:
        s = self._fresh_decode(batch, device)
        self.dec_h, self.dec_f0, self.dec_amps = s["dec_h"], s["dec_f0"], s["dec_amps"]
        self.dec_gains, self.dec_phase, self.dec_counter = s["dec_gains"], s["dec_phase"], s["dec_counter"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.fwd_history.shape[0] != x.shape[0] or self.fwd_history.device != x.device:
            self._reset_forward(x.shape[0], x.device)  # mc.nn~ changed the batch: start afresh
        signal = torch.cat([self.fwd_history, x[:, 0]], 1)
        f0, confidence = self.model.pitch(signal, self.host_rate)
        loud = self.model.loudness(signal)
        state = [self.fwd_h, self.fwd_f0, self.fwd_amps, self.fwd_gains, self.fwd_phase]
        audio, state = self.model.render_frames(f0, confidence, loud, state, int(self.fwd_counter[0]), self.host_rate)
        self.fwd_h, self.fwd_f0, self.fwd_amps, self.fwd_gains, self.fwd_phase = \
            state[0], state[1], state[2], state[3], state[4]
        self.fwd_history = signal[:, signal.shape[1] - self.context:]
        self.fwd_counter = self.fwd_counter + x.shape[2]
        return audio.unsqueeze(1)

    @torch.jit.export
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.dec_h.shape[1] != x.shape[0] or self.dec_h.device != x.device:
            self._reset_decode(x.shape[0], x.device)
        f0 = x[:, 0].clamp(0.0, 20000.0)
        loud = x[:, 1].clamp(-100.0, 20.0)
        confidence = (f0 >= self.model.min_f0).to(x.dtype)
        state = [self.dec_h, self.dec_f0, self.dec_amps, self.dec_gains, self.dec_phase]
        audio, state = self.model.render_frames(f0, confidence, loud, state, int(self.dec_counter[0]), self.host_rate)
        self.dec_h, self.dec_f0, self.dec_amps, self.dec_gains, self.dec_phase = \
            state[0], state[1], state[2], state[3], state[4]
        self.dec_counter = self.dec_counter + x.shape[2] * self.hop
        return audio.unsqueeze(1)
