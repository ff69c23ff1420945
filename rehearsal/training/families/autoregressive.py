"""The autoregressive family: a causal prior over spectral frames, rendered by a decoder.

    audio -> causal spectrum (the latent family's analysis): a frame is loudness, centroid,
             flatness + 32 log band energies, in dataset z-scores; a prior frame every 4
             blocks (1024 samples, the analysis window: prior frames share no sample)
    prior:   frames < j -> GRU -> a Gaussian over frame j (mean = a learned share of frame
             j-1 + a learned step, a learned spread per dimension); sampling at a
             temperature draws the next frame, held inside the dataset's range
    decoder: frames gliding block by block between draws -> GRU -> gains of 48 band noises
             -> 48 kHz audio (the latent family's synthesiser; the level follows loudness)

It predicts frames, not samples: 46.9 predictions a second of audio instead of 48000, so
a free-running generation renders many times faster than real time on one core (a WaveNet
must run its whole network once per sample; see docs/training.md for the measurements).
It can run free (no input at all), continue a prompt (a moment of a take, the live
input's last seconds), or follow the live input: `forward` feeds the prior the frames it
hears and, when the input falls under `gate_db`, its own predictions, so when the
performer stops the model carries on with what it heard ("call and response").

The sampling noise is counter-based (a hash of seed, batch item, frame index and
dimension), so the same seed gives the same output and a streamed render equals a
whole-clip render, whatever the buffer sizes.
"""

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .. import dsp
from .defaults import AUTOREGRESSIVE_DEFAULTS
from .latent import SpectralStream, band_noise, fit_spectral_normalisation, spectral_frames, spectral_setup
from .nets import RecurrentDecoder

DEFAULTS: Dict[str, object] = dict(AUTOREGRESSIVE_DEFAULTS)

FRAME_LIMIT = 6.0       # frames are held within +-6 dataset standard deviations (the models carry it)


def _hash_uniform(x: Tensor, seed: int) -> Tensor:
    """int64 counters -> uniform numbers in (0, 1): a 32-bit integer hash (two multiply-xorshift
    rounds), every product kept under 2^63 so int64 arithmetic never overflows."""
    x = torch.bitwise_and(torch.bitwise_xor(x, torch.bitwise_right_shift(x, 32)), 0xFFFFFFFF)
    x = torch.bitwise_and(torch.bitwise_xor(x, (seed & 0x7FFFFFFF) * 0x9E3779B1), 0xFFFFFFFF)
    x = torch.bitwise_and(torch.bitwise_xor(torch.bitwise_right_shift(x, 16), x) * 0x45D9F3B, 0xFFFFFFFF)
    x = torch.bitwise_and(torch.bitwise_xor(torch.bitwise_right_shift(x, 16), x) * 0x45D9F3B, 0xFFFFFFFF)
    x = torch.bitwise_xor(torch.bitwise_right_shift(x, 16), x)
    return ((x.to(torch.float64) + 0.5) / 4294967296.0).to(torch.float32)


def hashed_normal(seed: int, start: int, batch: int, n: int, dims: int, device: torch.device) -> Tensor:
    """(batch, n, dims) standard normal numbers that depend only on (seed, batch item, frame
    index start + k, dimension): reproducible, and the same however a render is cut up."""
    k = torch.arange(n, device=device, dtype=torch.int64).view(1, n, 1) + start
    d = torch.arange(dims, device=device, dtype=torch.int64).view(1, 1, dims)
    b = torch.arange(batch, device=device, dtype=torch.int64).view(batch, 1, 1)
    idx = ((k * 64 + b) * dims + d) * 2
    u1 = _hash_uniform(idx, seed)
    u2 = _hash_uniform(idx + 1, seed)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


class AutoregressiveModel(nn.Module):
    conditioning = ()

    def __init__(self, config: Dict[str, object]):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.config = cfg
        spectral_setup(self, cfg)            # the latent family's analysis and synthesiser
        self.temperature = float(cfg["temperature"])
        self.gate_db = float(cfg["gate_db"])
        self.seed = int(cfg["seed"])
        self.limit = FRAME_LIMIT
        self.stride = int(cfg["stride"])
        n_bands = int(cfg["n_analysis_bands"])
        self.frame_size = 3 + n_bands
        width = int(cfg["width"])
        self.prior_hidden = int(cfg["prior_hidden"])
        # the frame goes straight into the GRU: every op saved is saved 46.9 times a second
        self.prior = nn.GRU(self.frame_size, self.prior_hidden, batch_first=True)
        self.prior_out = nn.Linear(self.prior_hidden, 2 * self.frame_size)
        # how much of the last frame each dimension keeps (learned, from 1: "repeat the last
        # frame"); under 1 it reverts to the dataset's mean, which keeps a free run in range
        self.keep = nn.Parameter(torch.ones(self.frame_size))
        with torch.no_grad():
            # start near "repeat the last frame" with a spread of about 0.3 standard deviations:
            # training moves it from the baseline every model here must beat
            self.prior_out.weight[:self.frame_size].mul_(0.1)
            self.prior_out.bias[:self.frame_size].zero_()
            self.prior_out.bias[self.frame_size:].fill_(math.log(0.3))
        self.decoder = RecurrentDecoder(self.frame_size, self.n_noise_bands + 1, width, int(cfg["hidden"]))
        # the range of the dataset's audible frames: draws are held inside it
        self.register_buffer("frame_low", torch.full((self.frame_size,), -FRAME_LIMIT))
        self.register_buffer("frame_high", torch.full((self.frame_size,), FRAME_LIMIT))

    # -- frames ------------------------------------------------------------------------
    def analyse(self, audio_ctx: Tensor) -> Tuple[Tensor, Tensor]:
        return spectral_frames(audio_ctx, self.context, self.hop, self.fft, self.loudness_window, self.window,
                               self.bands, self.sample_rate)

    def frames(self, audio_ctx: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, context + n*hop) -> frames (B, n, 3 + bands) in dataset z-scores, and whether
        each block is audible (louder than gate_db) (B, n)."""
        desc, bands = self.analyse(audio_ctx)
        f = torch.cat([(desc - self.desc_mean) / self.desc_std, (bands - self.band_mean) / self.band_std], -1)
        return f.clamp(-self.limit, self.limit), desc[..., 0] > self.gate_db

    def fit_normalisation(self, audio_ctx: Tensor) -> None:
        desc, bands = self.analyse(audio_ctx)
        fit_spectral_normalisation(self, desc, bands)
        frames, _ = self.frames(audio_ctx)
        audible = frames[desc[..., 0] > -70.0]
        if audible.shape[0] >= 2:
            self.frame_low.copy_(audible.min(0).values)
            self.frame_high.copy_(audible.max(0).values)

    # -- the prior ---------------------------------------------------------------------
    def zero_state(self, batch: int, device: torch.device) -> List[Tensor]:
        """[prior GRU state, the frame the prior reads next, decoder GRU state, last noise
        gains, the prior's previous and current draws (the decoder glides between them)]."""
        zero = torch.zeros(batch, 1, self.frame_size, device=device)
        return [torch.zeros(1, batch, self.prior_hidden, device=device), zero,
                self.decoder.initial_state(batch, device),
                torch.zeros(batch, 1, self.n_noise_bands, device=device), zero, zero]

    def prior_step(self, x_prev: Tensor, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Prior frames (B, m, D), each the one before the frame predicted -> mean, log std."""
        y, h = self.prior(x_prev, h)
        p = self.prior_out(y)
        mean = self.keep * x_prev + p[..., :self.frame_size]
        return mean, p[..., self.frame_size:].clamp(-5.0, 2.0), h

    def prior_cell(self, x_prev: Tensor, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """One frame (B, D) -> mean, log std (B, D) and the new state (B, H): the GRU's own
        weights through gru_cell, several times cheaper per step than nn.GRU on one frame."""
        g = self.prior
        h = torch.gru_cell(x_prev, h, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        p = self.prior_out(h)
        return self.keep * x_prev + p[:, :self.frame_size], p[:, self.frame_size:].clamp(-5.0, 2.0), h

    def advance(self, heard: Optional[Tensor], audible: Optional[Tensor], n: int, state: List[Tensor],
                temperature: float, seed: int, start: int) -> Tuple[Tensor, List[Tensor]]:
        """The decoder's frames for n blocks from absolute block `start` on (B, n, D).

        A prior frame spans `stride` blocks (its analysis window: prior frames do not
        overlap). At the first block of group j the prior draws frame j at `temperature`;
        the blocks of group j glide from draw j-1 to draw j, reaching it at the group's last
        block, where the frame heard there (if audible) or else the draw is what the prior
        reads next. With no input (heard None) it runs free on its own draws."""
        h, x, d_prev, d_cur = state[0][0], state[1][:, 0], state[4][:, 0], state[5][:, 0]
        stride = self.stride
        j0 = (start + stride - 1) // stride
        j1 = (start + n + stride - 1) // stride
        eps = hashed_normal(seed, j0, x.shape[0], j1 - j0, self.frame_size, x.device) * temperature
        out: List[Tensor] = []
        for i in range(n):
            b = start + i
            r = b % stride
            if r == 0:
                mean, log_std, h = self.prior_cell(x, h)
                d_prev = d_cur
                d_cur = torch.minimum(torch.maximum(mean + torch.exp(log_std) * eps[:, b // stride - j0],
                                                    self.frame_low), self.frame_high)
            out.append(d_prev + (d_cur - d_prev) * ((r + 1) / stride))
            if r == stride - 1:
                if heard is not None and audible is not None:
                    x = torch.where(audible[:, i:i + 1], heard[:, i], d_cur)
                else:
                    x = d_cur
        return torch.stack(out, 1), [h.unsqueeze(0), x.unsqueeze(1), state[2], state[3],
                                     d_prev.unsqueeze(1), d_cur.unsqueeze(1)]

    # -- the decoder -------------------------------------------------------------------
    def decode(self, frames: Tensor, state: List[Tensor], counter: int) -> Tuple[Tensor, List[Tensor]]:
        """Frames (B, n, D) -> audio (B, n*hop), carrying the decoder's part of the state."""
        y, dec_h = self.decoder(frames, state[2])
        loud_db = frames[..., 0] * self.desc_std[0] + self.desc_mean[0]
        audio, gains = band_noise(self.noise_bank, y, loud_db, state[3], counter, self.hop, self.gain_range)
        return audio, [state[0], state[1], dec_h, gains, state[4], state[5]]

    # -- rendering -----------------------------------------------------------------------
    def forward(self, audio_ctx: Tensor, counter: int = 0) -> Tensor:
        """Whole-clip render, as the live host plays it: each block is the model's draw of
        what comes next after what it heard (its own draws where the input is silent)."""
        heard, audible = self.frames(audio_ctx)
        state = self.zero_state(audio_ctx.shape[0], audio_ctx.device)
        frames, state = self.advance(heard, audible, heard.shape[1], state, self.temperature, self.seed, 0)
        audio, _ = self.decode(frames, state, counter)
        return audio

    def generate(self, n_blocks: int, prompt: Optional[Tensor] = None, temperature: Optional[float] = None,
                 seed: Optional[int] = None, batch: int = 1) -> Tensor:
        """Run free for n_blocks blocks (B, n_blocks*hop), after hearing `prompt` if given
        (B, context + m*hop samples: a moment of a take, the live input's last seconds)."""
        device = self.desc_mean.device
        temperature = self.temperature if temperature is None else float(temperature)
        seed = self.seed if seed is None else int(seed)
        state = self.zero_state(batch if prompt is None else prompt.shape[0], device)
        start = 0
        if prompt is not None:
            heard, _ = self.frames(prompt)
            start = heard.shape[1]
            everything = torch.ones(heard.shape[0], start, dtype=torch.bool, device=device)
            frames, state = self.advance(heard, everything, start, state, temperature, seed, 0)
            _, state = self.decode(frames, state, 0)
        frames, state = self.advance(None, None, n_blocks, state, temperature, seed, start)
        audio, _ = self.decode(frames, state, start * self.hop)
        return audio

    # -- training ------------------------------------------------------------------------
    def _teacher_forced(self, audio_ctx: Tensor):
        """True prior frames (B, m, D), the frames before them, and the decoder's frames
        (B, m*stride, D) gliding between them, as `advance` makes them from true draws."""
        heard, _ = self.frames(audio_ctx)
        s = self.stride
        m = heard.shape[1] // s
        if m < 2:
            raise ValueError(f"the autoregressive family needs windows of at least {2 * s} blocks (frames)")
        target = heard[:, s - 1:m * s:s]
        prev = torch.cat([torch.zeros_like(target[:, :1]), target[:, :-1]], 1)
        r = (torch.arange(s, device=heard.device, dtype=heard.dtype) + 1.0).view(1, 1, s, 1) / s
        glide = (prev.unsqueeze(2) + (target - prev).unsqueeze(2) * r).reshape(heard.shape[0], m * s, -1)
        return target, prev, glide

    def training_loss(self, audio_ctx: Tensor, counter: int = 0) -> Tensor:
        """The decoder's multi-scale spectral loss on the true frames (teacher forcing) plus
        the prior's next-frame negative log-likelihood (Gaussian, per dimension). The two
        parts share no parameters: the prior learns to predict, the decoder to render."""
        target, prev, glide = self._teacher_forced(audio_ctx)
        state = self.zero_state(audio_ctx.shape[0], audio_ctx.device)
        audio, _ = self.decode(glide, state, counter)
        n = glide.shape[1] * self.hop
        rendering = dsp.multiscale_spectral_loss(audio, audio_ctx[:, self.context:self.context + n])
        return rendering + self.next_frame_nll(target, prev, state)

    def next_frame_nll(self, target: Tensor, prev: Tensor, state: List[Tensor]) -> Tensor:
        mean, log_std, _ = self.prior_step(prev, state[0])
        z = (target - mean) * torch.exp(-log_std)
        return (0.5 * z.pow(2) + log_std).mean() + 0.5 * math.log(2 * math.pi)

    @torch.no_grad()
    def frame_losses(self, audio_ctx: Tensor) -> Dict[str, float]:
        """Held-out next-frame losses from a zero state, teacher forced, over the prior's
        frames after the first: the Gaussian NLL, the mean squared error of the prior's
        mean, and that of "repeat the last frame" (all in dataset z-scores)."""
        target, prev, _ = self._teacher_forced(audio_ctx)
        state = self.zero_state(audio_ctx.shape[0], audio_ctx.device)
        mean, _, _ = self.prior_step(prev, state[0])
        return {"nll": float(self.next_frame_nll(target, prev, state)),
                "mse": float((target[:, 1:] - mean[:, 1:]).pow(2).mean()),
                "repeat_last_mse": float((target[:, 1:] - prev[:, 1:]).pow(2).mean())}

    def stream_module(self):
        return AutoregressiveStream(self)


class AutoregressiveStream(SpectralStream):
    """nn~ methods, each with its own streaming state:

    forward:  audio -> audio (the model's continuation of what it hears, one block ahead; it
              runs on its own draws wherever the input is under gate_db)
    generate: runs free; its input is not listened to (nn~ gives every method an inlet)
    attribute `temperature` (float, `set temperature 0.8` in Max), read by both methods.
    """

    temperature: float

    def __init__(self, model: AutoregressiveModel):
        super().__init__(model)
        self.hop = model.hop
        self.context = model.context
        self.seed = model.seed
        self.temperature = model.temperature
        self.register_method("forward", 1, 1, 1, 1, ["(signal) audio in"], ["(signal) continuation"])
        self.register_method("generate", 1, 1, 1, 1, ["(signal) not listened to: it generates from nothing"],
                             ["(signal) generation"])
        self.register_attribute("temperature", model.temperature)
        for prefix in ("fwd", "gen"):
            for name, value in self._fresh(prefix, 1, torch.device("cpu")).items():
                self.register_buffer(name, value, persistent=False)
        self.register_buffer("fwd_history", torch.zeros(1, self.context), persistent=False)

    def _fresh(self, prefix: str, batch: int, device: torch.device) -> Dict[str, Tensor]:
        out = {prefix + "_" + str(i): t for i, t in enumerate(self.model.zero_state(batch, device))}
        out[prefix + "_block"] = torch.zeros(1, dtype=torch.int64, device=device)
        return out

    @torch.jit.export
    def get_temperature(self) -> float:
        return self.temperature

    @torch.jit.export
    def set_temperature(self, value: float) -> int:
        if not math.isfinite(value) or value < 0.0:
            return -1
        self.temperature = value
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.fwd_history.shape[0] != x.shape[0] or self.fwd_history.device != x.device:
            s = self._fresh("fwd", x.shape[0], x.device)        # mc.nn~ changed the batch: start afresh
            self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3 = s["fwd_0"], s["fwd_1"], s["fwd_2"], s["fwd_3"]
            self.fwd_4, self.fwd_5, self.fwd_block = s["fwd_4"], s["fwd_5"], s["fwd_block"]
            self.fwd_history = torch.zeros(x.shape[0], self.context, device=x.device)
        signal = torch.cat([self.fwd_history, x[:, 0]], 1)
        heard, audible = self.model.frames(signal)
        start = int(self.fwd_block[0])
        state = [self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3, self.fwd_4, self.fwd_5]
        frames, state = self.model.advance(heard, audible, heard.shape[1], state, self.temperature, self.seed, start)
        audio, state = self.model.decode(frames, state, start * self.hop)
        self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3, self.fwd_4, self.fwd_5 = \
            state[0], state[1], state[2], state[3], state[4], state[5]
        self.fwd_history = signal[:, signal.shape[1] - self.context:]
        self.fwd_block = self.fwd_block + heard.shape[1]
        return audio.unsqueeze(1)

    @torch.jit.export
    def continue_from_heard(self) -> int:
        """The next `generate` call goes on from `forward`'s state: the frames it heard and
        its decoder (the co-performer's answer continues from what it just heard)."""
        if self.gen_1.shape[0] == self.fwd_1.shape[0] and self.gen_1.device == self.fwd_1.device:
            self.gen_0, self.gen_1, self.gen_2 = self.fwd_0.clone(), self.fwd_1.clone(), self.fwd_2.clone()
            self.gen_3, self.gen_4, self.gen_5 = self.fwd_3.clone(), self.fwd_4.clone(), self.fwd_5.clone()
            self.gen_block = self.fwd_block.clone()
        return 0

    @torch.jit.export
    def generate(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.gen_1.shape[0] != x.shape[0] or self.gen_1.device != x.device:
            s = self._fresh("gen", x.shape[0], x.device)
            self.gen_0, self.gen_1, self.gen_2, self.gen_3 = s["gen_0"], s["gen_1"], s["gen_2"], s["gen_3"]
            self.gen_4, self.gen_5, self.gen_block = s["gen_4"], s["gen_5"], s["gen_block"]
        n = x.shape[2] // self.hop
        start = int(self.gen_block[0])
        state = [self.gen_0, self.gen_1, self.gen_2, self.gen_3, self.gen_4, self.gen_5]
        frames, state = self.model.advance(None, None, n, state, self.temperature, self.seed, start)
        audio, state = self.model.decode(frames, state, start * self.hop)
        self.gen_0, self.gen_1, self.gen_2, self.gen_3, self.gen_4, self.gen_5 = \
            state[0], state[1], state[2], state[3], state[4], state[5]
        self.gen_block = self.gen_block + n
        return audio.unsqueeze(1)
