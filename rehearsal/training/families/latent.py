"""The latent family: no pitch at all, for sound poetry, noise, percussion and textures.

    audio -> causal spectrum (1024-sample Hann window ending at each block)
          -> descriptors (loudness, spectral centroid, flatness)  } the latent, one vector
          -> small encoder -> learned dims z in [-1, 1]          } per block of 256 samples
    latent -> recurrent decoder -> gains of 48 band-noises -> 48 kHz audio

The latent is exposed (nn~ `encode` / `decode`): its first three channels are readable
descriptors, normalised on the dataset (0 = the dataset's mean, 1 = one standard
deviation), the rest are learned. Drive any of them from a patch. No F0 estimate anywhere,
so nothing biases the model towards pitched material.

Steered by symbols (`condition="symbols"`, `rehearsal train --condition symbols`): each
symbol of the notation the dataset's clips carry (from tags and score markers) gets a
learned embedding, plus one for "no symbol", appended to the decoder's input; a clip
carrying several symbols trains on all of them: its windows hear the mean of their
embeddings (each symbol an equal share; `SymbolSteer`). Half the
training windows hide everything but the loudness from the decoder (the timbre must then
come from the symbol), and some hide the symbol, so the model plays both ways: on audio,
the current symbol steers it; with no audio at all (`render_symbols`, `rehearsal render
--score`), the symbols and the dynamics alone prompt it.
"""

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .. import dsp
from ..nn_tilde import NNTildeModule
from .defaults import LATENT_DEFAULTS
from .nets import MLP, RecurrentDecoder

DEFAULTS: Dict[str, object] = dict(LATENT_DEFAULTS)

DESCRIPTORS = ["loudness", "centroid", "flatness"]


CONDITIONS = ("none", "symbols")
PROMPT_ONLY = 0.5      # of training windows: the decoder hears the loudness and the symbol alone
NO_SYMBOL = 0.15       # of training windows: the symbol is hidden ("no symbol")


class NoSteer(nn.Module):
    """An unconditioned model: the decoder hears the latent alone."""

    def forward(self, latent: Tensor, symbol: Tensor) -> Tensor:
        return latent


class SymbolSteer(nn.Module):
    """One learned embedding per symbol, index 0 standing for "no symbol", appended to the
    latent the decoder hears (channel 0, the loudness, stays where it is).

    `symbol` is per block either an index (B, n), as play and render steer by one symbol at
    a time, or weights over the embeddings (B, n, symbols + 1), as training reads a clip
    tagged with several symbols: the decoder hears the weighted mean of their embeddings
    (rehearsal.training.data.assign_symbols gives each of a clip's symbols an equal share)."""

    def __init__(self, n_symbols: int, dims: int):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols + 1, dims)

    def forward(self, latent: Tensor, symbol: Tensor) -> Tensor:
        if symbol.dim() == latent.dim():
            w = symbol.to(latent.dtype)
            w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
            return torch.cat([latent, torch.matmul(w, self.embedding.weight)], -1)
        return torch.cat([latent, self.embedding(symbol.long().clamp(0, self.embedding.num_embeddings - 1))], -1)


def hide_symbol(symbol: Tensor, hide: Tensor) -> Tensor:
    """The batch items where `hide` (B,) is set steered by "no symbol": index 0, or all the
    weight on entry 0."""
    if symbol.dim() == 3:
        none = torch.zeros_like(symbol)
        none[..., 0] = 1.0
        return torch.where(hide[:, None, None], none, symbol)
    return torch.where(hide[:, None], torch.zeros_like(symbol), symbol)


def symbol_vocabulary(cfg: Dict[str, object]) -> List[str]:
    """The symbols a configuration is steered by ([] unconditioned); bad settings in words."""
    condition = cfg.get("condition", "none")
    if condition not in CONDITIONS:
        raise ValueError(f"condition={condition!r}: it is one of {', '.join(CONDITIONS)}")
    if condition == "none":
        return []
    symbols = cfg.get("symbols")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(x, str) and x for x in symbols):
        raise ValueError("condition=symbols learns the symbols of the dataset's clips: this one has none "
                         "(tag the takes, or record them from a score)")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"condition=symbols: a symbol is named twice in {symbols}")
    if int(cfg.get("symbol_dims", 8)) < 1:
        raise ValueError("condition=symbols: symbol_dims must be at least 1")
    return list(symbols)


class LatentModel(nn.Module):
    def __init__(self, config: Dict[str, object]):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.config = cfg
        spectral_setup(self, cfg)
        self.n_latent = int(cfg["latent"])
        n_in = int(cfg["n_analysis_bands"])
        width = int(cfg["width"])
        # everything else is computed from the audio, inside the model; a steered one also
        # takes the symbol of each block (an index into `symbols`, 1-based; 0: none)
        self.symbols = symbol_vocabulary(cfg)
        self.conditioning = ("symbol",) if self.symbols else ()
        steer_dims = int(cfg["symbol_dims"]) if self.symbols else 0
        self.steer = SymbolSteer(len(self.symbols), steer_dims) if self.symbols else NoSteer()
        self.encoder = nn.Sequential(MLP(n_in + 3, width), nn.Linear(width, self.n_latent))
        self.decoder = RecurrentDecoder(3 + self.n_latent + steer_dims, self.n_noise_bands + 1, width,
                                        int(cfg["hidden"]))

    @property
    def latent_size(self) -> int:
        return 3 + self.n_latent

    def latent_labels(self) -> List[str]:
        return [f"(signal) {d} (dataset z-score)" for d in DESCRIPTORS] + \
            [f"(signal) learned latent {i + 1} (-1..1)" for i in range(self.n_latent)]

    # -- analysis ----------------------------------------------------------------------
    def analyse(self, audio_ctx: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, context + n*hop) -> raw descriptors (B, n, 3) and log band energies (B, n, bands)."""
        return spectral_frames(audio_ctx, self.context, self.hop, self.fft, self.loudness_window, self.window,
                               self.bands, self.sample_rate)

    def encode(self, audio_ctx: Tensor) -> Tensor:
        """audio -> latent (B, n, 3 + latent)."""
        desc, bands = self.analyse(audio_ctx)
        desc_n = (desc - self.desc_mean) / self.desc_std
        bands_n = (bands - self.band_mean) / self.band_std
        z = torch.tanh(self.encoder(torch.cat([bands_n, desc_n], -1)))
        return torch.cat([desc_n, z], -1)

    def fit_normalisation(self, audio_ctx: Tensor) -> None:
        desc, bands = self.analyse(audio_ctx)
        fit_spectral_normalisation(self, desc, bands)

    # -- synthesis -----------------------------------------------------------------------
    def zero_state(self, batch: int, device: torch.device) -> List[Tensor]:
        return [self.decoder.initial_state(batch, device), torch.zeros(batch, 1, self.n_noise_bands, device=device)]

    def decode_frames(self, latent: Tensor, state: List[Tensor], counter: int) -> Tuple[Tensor, List[Tensor]]:
        """latent (B, n, 3 + latent) -> audio (B, n*hop); the output level follows channel 0."""
        y, h = self.decoder(latent, state[0])
        loud_db = latent[..., 0] * self.desc_std[0] + self.desc_mean[0]
        audio, gains = band_noise(self.noise_bank, y, loud_db, state[1], counter, self.hop, self.gain_range)
        return audio, [h, gains]

    def no_symbol(self, latent: Tensor) -> Tensor:
        return torch.zeros(latent.shape[0], latent.shape[1], dtype=torch.int64, device=latent.device)

    def forward(self, audio_ctx: Tensor, symbol: Optional[Tensor] = None, counter: int = 0) -> Tensor:
        """Training and whole-clip rendering: encode then decode from a zero state. `symbol`
        (B, n) indices or (B, n, symbols + 1) weights steers a conditioned model (None: no symbol)."""
        latent = self.encode(audio_ctx)
        steered = self.steer(latent, self.no_symbol(latent) if symbol is None else symbol)
        audio, _ = self.decode_frames(steered, self.zero_state(audio_ctx.shape[0], audio_ctx.device), counter)
        return audio

    def training_loss(self, audio_ctx: Tensor, symbol: Optional[Tensor] = None, counter: int = 0) -> Tensor:
        """The multi-scale spectral loss of the render; a conditioned model hides from the
        decoder, per window, all but the loudness (PROMPT_ONLY) or the symbol (NO_SYMBOL),
        drawn from the batch's noise offset, so a resumed run draws the same."""
        latent = self.encode(audio_ctx)
        if symbol is None:
            symbol = self.no_symbol(latent)
        elif self.symbols:
            g = torch.Generator().manual_seed(int(counter))
            prompt_only = (torch.rand(latent.shape[0], generator=g) < PROMPT_ONLY).to(latent.device)
            hide = (torch.rand(latent.shape[0], generator=g) < NO_SYMBOL).to(latent.device)
            keep = torch.ones_like(latent)
            keep[prompt_only, :, 1:] = 0.0
            latent = latent * keep
            symbol = hide_symbol(symbol, hide)
        audio, _ = self.decode_frames(self.steer(latent, symbol), self.zero_state(audio_ctx.shape[0], audio_ctx.device),
                                      counter)
        return dsp.multiscale_spectral_loss(audio, audio_ctx[:, self.context:])

    def symbol_index(self, symbol: Optional[str]) -> int:
        """A symbol id as the model's index (1-based; 0 for None or a symbol it never learned)."""
        return self.symbols.index(symbol) + 1 if symbol in self.symbols else 0

    def prompt(self, symbol: Tensor, loudness_db: Tensor) -> Tensor:
        """The decoder's input with no audio: the loudness (dB per block) and the symbols (B, n),
        every other channel at the dataset's mean."""
        latent = torch.zeros(symbol.shape[0], symbol.shape[1], self.latent_size, device=loudness_db.device)
        latent[..., 0] = (loudness_db - self.desc_mean[0]) / self.desc_std[0]
        return self.steer(latent, symbol)

    def render_symbols(self, symbol: Tensor, loudness_db: Tensor, seed: int = 0, start: int = 0,
                       state: Optional[List[Tensor]] = None) -> Tuple[Tensor, List[Tensor]]:
        """Audio (B, n*hop) prompted only by symbols and loudness, and the state to go on from
        (block `start` of a longer render: pass the state back). `seed` picks where the band
        noises start: same seed, same audio."""
        if state is None:
            state = self.zero_state(symbol.shape[0], loudness_db.device)
        counter = (int(seed) * 7919 + int(start)) * self.hop % int(self.noise_bank.shape[1])
        return self.decode_frames(self.prompt(symbol, loudness_db), state, counter)

    def stream_module(self):
        return LatentStream(self)


class SpectralStream(NNTildeModule):
    """The nn~ module of a family built on `spectral_setup` (latent, autoregressive): at
    another host rate (`set_sample_rate`) the analysis bands are re-binned and the noise
    tables resampled to it, so every band keeps its frequencies in Hz (a 48 kHz table read
    at 44.1 kHz would sound 1.5 semitones low) and the centroid is computed at that rate.
    The model's own tables are kept on the first change, so going back is exact."""

    def __init__(self, model: nn.Module):
        super().__init__(model.sample_rate)
        self.model = model
        self.register_buffer("rate_bands", torch.zeros(0), persistent=False)
        self.register_buffer("rate_bank", torch.zeros(0), persistent=False)

    def adapt_rate(self, sample_rate: int) -> None:
        if self.rate_bank.numel() == 0:
            self.rate_bands = self.model.bands
            self.rate_bank = self.model.noise_bank
        self.model.sample_rate = sample_rate
        if sample_rate == self.model_rate:
            self.model.bands = self.rate_bands
            self.model.noise_bank = self.rate_bank
        else:
            self.model.bands = rebin_bands(self.rate_bands, self.model_rate, sample_rate)
            self.model.noise_bank = resample_table(self.rate_bank, self.model_rate, sample_rate)


class LatentStream(SpectralStream):
    """nn~ methods: encode (audio -> latent), decode (latent -> audio), forward (both). A
    model steered by symbols has the attribute `symbol` (`set symbol nasal-m` in Max, "" for
    none): the symbol forward and decode are steered by from the next call on."""

    def __init__(self, model: LatentModel):
        super().__init__(model)
        self.hop = model.hop
        self.context = model.context
        labels = model.latent_labels()
        self.register_method("forward", 1, 1, 1, 1, ["(signal) audio in"], ["(signal) resynthesis"])
        self.register_method("encode", 1, 1, len(labels), self.hop, ["(signal) audio in"], labels)
        self.register_method("decode", len(labels), self.hop, 1, 1, labels, ["(signal) synthesis"])
        self.symbol_names = [""] + list(model.symbols)     # index 0, "": no symbol
        self.current_symbol = ""
        self.register_buffer("symbol_index", torch.zeros(1, dtype=torch.int64, device="cpu"), persistent=False)
        if model.symbols:
            self.register_attribute("symbol", "")
        for name, value in self._fresh("fwd", 1, torch.device("cpu")).items():
            self.register_buffer(name, value, persistent=False)
        for name, value in self._fresh("dec", 1, torch.device("cpu")).items():
            self.register_buffer(name, value, persistent=False)
        self.register_buffer("enc_history", torch.zeros(1, self.context), persistent=False)

    def _fresh(self, prefix: str, batch: int, device: torch.device) -> Dict[str, Tensor]:
        s = self.model.zero_state(batch, device)
        out = {prefix + "_h": s[0], prefix + "_gains": s[1],
               prefix + "_counter": torch.zeros(1, dtype=torch.int64, device=device)}
        if prefix == "fwd":
            out["fwd_history"] = torch.zeros(batch, self.context, device=device)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.fwd_history.shape[0] != x.shape[0] or self.fwd_history.device != x.device:
            s = self._fresh("fwd", x.shape[0], x.device)
            self.fwd_h, self.fwd_gains, self.fwd_counter = s["fwd_h"], s["fwd_gains"], s["fwd_counter"]
            self.fwd_history = s["fwd_history"]
        signal = torch.cat([self.fwd_history, x[:, 0]], 1)
        latent = self.steered(self.model.encode(signal))
        audio, state = self.model.decode_frames(latent, [self.fwd_h, self.fwd_gains], int(self.fwd_counter[0]))
        self.fwd_h, self.fwd_gains = state[0], state[1]
        self.fwd_history = signal[:, signal.shape[1] - self.context:]
        self.fwd_counter = self.fwd_counter + x.shape[2]
        return audio.unsqueeze(1)

    def steered(self, latent: Tensor) -> Tensor:
        symbol = self.symbol_index.to(latent.device).view(1, 1).expand(latent.shape[0], latent.shape[1])
        return self.model.steer(latent, symbol)

    @torch.jit.export
    def get_symbol(self) -> str:
        return self.current_symbol

    @torch.jit.export
    def set_symbol(self, value: str) -> int:
        """0 when accepted ("" is no symbol); -1 for a symbol the model never learned, which
        changes nothing."""
        index = -1
        for i, name in enumerate(self.symbol_names):
            if name == value:
                index = i
        if index < 0:
            return -1
        self.current_symbol = value
        self.symbol_index = torch.full([1], index, dtype=torch.int64, device=self.symbol_index.device)
        return 0

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.enc_history.shape[0] != x.shape[0] or self.enc_history.device != x.device:
            self.enc_history = torch.zeros(x.shape[0], self.context, device=x.device)
        signal = torch.cat([self.enc_history, x[:, 0]], 1)
        latent = self.model.encode(signal)
        self.enc_history = signal[:, signal.shape[1] - self.context:]
        return latent.transpose(1, 2)

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.dec_h.shape[1] != z.shape[0] or self.dec_h.device != z.device:
            s = self._fresh("dec", z.shape[0], z.device)
            self.dec_h, self.dec_gains, self.dec_counter = s["dec_h"], s["dec_gains"], s["dec_counter"]
        audio, state = self.model.decode_frames(self.steered(z.transpose(1, 2)), [self.dec_h, self.dec_gains],
                                                int(self.dec_counter[0]))
        self.dec_h, self.dec_gains = state[0], state[1]
        self.dec_counter = self.dec_counter + z.shape[2] * self.hop
        return audio.unsqueeze(1)


# -- shared with the autoregressive family (the same frames, the same synthesiser) -----------
# Plain tensor/int arguments, so TorchScript compiles them for the nn~ exports of both.

def spectral_setup(model: nn.Module, cfg: Dict[str, object]) -> None:
    """The settings and tables of the causal analysis and the band-noise synthesiser: rates
    and sizes, the normalisation (fitted on the first dataset, inherited by children) and
    the deterministic tables (rebuilt from the config on load, never saved)."""
    model.sample_rate = int(cfg["sample_rate"])
    model.hop = int(cfg["hop"])
    model.fft = int(cfg["fft"])
    model.loudness_window = int(cfg["loudness_window"])
    model.n_noise_bands = int(cfg["n_noise_bands"])
    model.gain_range = float(cfg["gain_range"])
    model.context = max(model.fft, model.loudness_window) - model.hop
    n_in = int(cfg["n_analysis_bands"])
    model.register_buffer("band_mean", torch.full((n_in,), -6.0))
    model.register_buffer("band_std", torch.ones(n_in) * 2.0)
    model.register_buffer("desc_mean", torch.tensor([-30.0, 11.0, -20.0]))
    model.register_buffer("desc_std", torch.tensor([15.0, 1.5, 10.0]))
    model.register_buffer("window", torch.hann_window(model.fft), persistent=False)
    model.register_buffer("bands", dsp.log_band_matrix(model.fft, n_in, model.sample_rate), persistent=False)
    model.register_buffer("noise_bank", dsp.make_noise_bank(model.n_noise_bands, int(cfg["noise_table"]),
                                                            model.sample_rate), persistent=False)


def spectral_frames(audio_ctx: Tensor, context: int, hop: int, fft: int, loudness_window: int,
                    window: Tensor, bands: Tensor, sample_rate: int) -> Tuple[Tensor, Tensor]:
    """(B, context + n*hop) -> raw descriptors (B, n, 3: loudness dB, log2 centroid, flatness
    dB) and log10 band energies (B, n, bands), each from a window ending with its block."""
    frames = dsp.frames_of(audio_ctx[:, context - (fft - hop):], fft, hop)
    power = dsp.power_spectrum(frames, window)
    lw = loudness_window
    loud = dsp.loudness_db(dsp.frames_of(audio_ctx[:, context - (lw - hop):], lw, hop), lw)
    centroid, flatness = dsp.centroid_and_flatness(power, sample_rate)
    energies = torch.log10(power @ bands.t() + 1e-10)
    return torch.stack([loud, centroid, flatness], -1), energies


def rebin_bands(bands: Tensor, rate: int, new_rate: int) -> Tensor:
    """A (bands, bins) matrix over an FFT's bins at `rate`, for the same FFT size at
    `new_rate`: each new bin takes the weights at its frequency (linear between the old
    bins; none past the old Nyquist), rows summing to one again."""
    bins = bands.shape[1]
    pos = torch.arange(bins, dtype=torch.float64, device=bands.device) * (float(new_rate) / float(rate))
    lo = pos.floor().to(torch.int64)
    frac = (pos - lo.to(torch.float64)).to(bands.dtype)
    inside = lo < bins - 1
    lo_c = lo.clamp(0, bins - 2)
    out = bands[:, lo_c] * (1.0 - frac) + bands[:, lo_c + 1] * frac
    out = out * inside.to(bands.dtype)
    return out / out.sum(-1, keepdim=True).clamp_min(1e-12)


def resample_table(bank: Tensor, rate: int, new_rate: int) -> Tensor:
    """Periodic tables (K, L) at `rate` -> (K, L') at `new_rate`, L' = L x new_rate / rate:
    exact for a periodic table (its spectrum kept bin for bin, so each band keeps its
    frequencies in Hz; what lies past the new Nyquist is dropped)."""
    length = bank.shape[1]
    new_length = int(round(float(length) * float(new_rate) / float(rate)))
    spec = torch.fft.rfft(bank.to(torch.float64), dim=-1)
    keep = min(spec.shape[1], new_length // 2 + 1)
    new_spec = torch.zeros(bank.shape[0], new_length // 2 + 1, dtype=spec.dtype, device=bank.device)
    new_spec[:, :keep] = spec[:, :keep]
    out = torch.fft.irfft(new_spec, n=new_length, dim=-1) * (float(new_length) / float(length))
    return out.to(bank.dtype)


def fit_spectral_normalisation(model: nn.Module, desc: Tensor, bands: Tensor) -> None:
    """desc_mean/std and band_mean/std from the audible blocks (> -70 dB) of a dataset."""
    keep = desc[..., 0] > -70.0
    if int(keep.sum()) >= 2:
        d, b = desc[keep], bands[keep]
        model.desc_mean.copy_(d.mean(0))
        model.desc_std.copy_(d.std(0).clamp_min(0.1))
        model.band_mean.copy_(b.mean(0))
        model.band_std.copy_(b.std(0).clamp_min(0.1))


def band_noise(noise_bank: Tensor, y: Tensor, loud_db: Tensor, gains_prev: Tensor, counter: int, hop: int,
               gain_range: float) -> Tuple[Tensor, Tensor]:
    """Decoder output y (B, n, bands + 1) -> band-noise audio (B, n*hop) whose level follows
    loud_db (B, n) with a learned gain of exp(+-gain_range) around it. Returns the audio and
    the last block's gains (B, 1, bands), where the next call starts."""
    nb = noise_bank.shape[0]
    rms = dsp.db_to_rms(loud_db.clamp(-100.0, 20.0)).unsqueeze(-1)
    shape = nn.functional.softplus(y[..., :nb])
    shape = shape / torch.sqrt(shape.pow(2).sum(-1, keepdim=True) + 1e-8)
    gains = shape * rms * torch.exp(gain_range * torch.tanh(y[..., nb:nb + 1]))
    audio = dsp.filtered_noise(noise_bank, gains_prev, gains, counter, hop)
    return audio, gains[:, -1:]
