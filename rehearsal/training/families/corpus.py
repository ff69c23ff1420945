"""The corpus family's model: a unit bank in buffers, played by weighted nearest neighbour.

No gradient training: "training" is analysis (rehearsal.training.corpus.analyse_corpus cuts
the dataset into units and describes them); the bank then lives in this module's buffers,
so a checkpoint, the model host and the nn~ export carry it like any weights.

Playing is causal and block by block (hop 256 samples): every `grain_hop` samples (half a
grain, a whole number of blocks) the input heard so far is described (`describe`, the same
function the analysis describes units with), a unit is chosen (weighted nearest neighbour
in units of each descriptor's spread over the bank, `jitter` widening the choice among the
16 nearest, the last `avoid` units barred, `sequence` the chance of playing the previous
unit's successor in its clip instead), transposed and levelled towards the input when
asked, Hann-windowed and overlap-added. The choice noise is counter-based (a hash of seed,
batch item and decision index), so a streamed render equals the whole-clip render whatever
the buffer sizes.
"""

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import dsp
from ..nn_tilde import NNTildeModule
from .autoregressive import _hash_uniform
from .defaults import CORPUS_DEFAULTS

DEFAULTS: Dict[str, object] = dict(CORPUS_DEFAULTS)

N_BANDS = 8
N_DESCRIPTORS = 5 + N_BANDS
DESCRIPTORS = ("loudness", "pitch", "confidence", "centroid", "flatness") + tuple(f"band{i}" for i in range(N_BANDS))
BAND_FFT = 1024
DECIMATE, PITCH_WIN = 8, 256
VOICED = 0.5            # pitch confidence above which a unit (or the input) counts as pitched
SEARCH = 16             # jitter 1: any of the 16 nearest
# never finer than one can hear: loudness dB, semitones, confidence, log2 Hz, flatness, band dB
SCALE_FLOOR = [3.0, 1.0, 0.1, 0.25, 0.05] + [3.0] * N_BANDS
WINDOW = PITCH_WIN * DECIMATE   # 2048 samples: the widest analysis window (pitch)


def grain_samples(grain_ms: float, hop: int = 256) -> int:
    """The grain in samples, a whole number of 2 blocks (so every choice falls on a block)."""
    if not 20.0 <= float(grain_ms) <= 250.0:
        raise ValueError(f"grain_ms must be 20 to 250 ms, got {grain_ms}")
    pair = 2 * hop
    return int(max(pair, min(round(float(grain_ms) * 48 / pair), 12000 // pair) * pair))


def describe(pad: Tensor, seg_start: Tensor, seg_len: Tensor, centre: Tensor, edges: Tensor, window: Tensor,
             sample_rate: int) -> Tensor:
    """Descriptors (n, 13) of segments of one padded signal `pad` (1-D; every window lies
    inside it): loudness (dB of the segment's mean square), pitch (MIDI, 0 unpitched) and
    YIN confidence on audio decimated 8x around `centre`, spectral centroid (log2 Hz),
    flatness and 8 log band energies of a 1024-sample Hann window at `centre`."""
    n = seg_start.shape[0]
    pitch_win, decimate, fft = 256, 8, 1024    # PITCH_WIN, DECIMATE, BAND_FFT
    cs = F.pad(torch.cumsum(pad.to(torch.float64).pow(2), 0), (1, 0))
    ends = seg_start + seg_len
    loud = 10.0 * torch.log10((cs[ends] - cs[seg_start]) / seg_len.clamp_min(1).to(torch.float64) + 1e-10)
    # pitch: the whole signal decimated once (means of 8), a 256-sample window at 6 kHz
    # around each centre: gathering 2048 samples per unit first cost 9x more on 10 minutes
    m = pad.shape[0] // decimate * decimate
    dec = pad[:m].reshape(-1, decimate).mean(-1)
    didx = (centre // decimate - pitch_win // 2).unsqueeze(1) + torch.arange(pitch_win, device=pad.device).unsqueeze(0)
    f0, conf = dsp.yin(dec[didx].unsqueeze(0), sample_rate // decimate, silence_db=-70.0)
    f0, conf = f0[0], conf[0].clamp(0.0, 1.0)
    voiced = (conf > 0.5) & (f0 > 0)
    pitch = torch.where(voiced, 69.0 + 12.0 * torch.log2(f0.clamp_min(1e-3) / 440.0), torch.zeros_like(f0))
    conf = torch.where(f0 > 0, conf, torch.zeros_like(conf))
    fidx = (centre - fft // 2).unsqueeze(1) + torch.arange(fft, device=pad.device).unsqueeze(0)
    power = torch.fft.rfft(pad[fidx] * window, dim=1).abs().pow(2) + 1e-12
    freqs = torch.arange(power.shape[1], device=pad.device, dtype=power.dtype) * (sample_rate / fft)
    centroid = torch.log2((power @ freqs / power.sum(1)).clamp_min(20.0))
    flatness = torch.exp(torch.log(power).mean(1)) / power.mean(1)
    csum = F.pad(torch.cumsum(power, 1), (1, 0))
    bands = 10.0 * torch.log10(csum[:, edges[1:]] - csum[:, edges[:-1]] + 1e-10)
    return torch.cat([loud.to(torch.float32).unsqueeze(1), pitch.unsqueeze(1), conf.unsqueeze(1),
                      centroid.unsqueeze(1), flatness.unsqueeze(1), bands], 1)


def band_edges() -> Tensor:
    import numpy as np

    return torch.as_tensor(np.geomspace(2, BAND_FFT // 2 + 1, N_BANDS + 1).astype("int64"))


class CorpusModel(nn.Module):
    conditioning = ()

    def __init__(self, config: Dict[str, object]):
        super().__init__()
        cfg = {**DEFAULTS, **config}
        self.config = cfg
        self.sample_rate = int(cfg["sample_rate"])
        self.hop = int(cfg["hop"])
        self.grain = grain_samples(float(cfg["grain_ms"]), self.hop)
        self.grain_hop = self.grain // 2
        self.memory = max(self.grain, WINDOW)          # input history each choice is made from
        self.context = 0
        self.n_bands = N_BANDS
        self.n_descriptors = N_DESCRIPTORS
        self.voiced = VOICED
        self.search = SEARCH
        self.whole = WINDOW
        self.jitter = float(cfg["jitter"])
        self.avoid = int(cfg["avoid"])
        self.sequence = float(cfg["sequence"])
        self.pitch_match = bool(cfg["pitch_match"])
        self.level_match = bool(cfg["level_match"])
        self.seed = int(cfg["seed"])
        n, samples = int(cfg["n_units"]), int(cfg["n_samples"])
        self.register_buffer("bank_audio", torch.zeros(samples, dtype=torch.float16))
        self.register_buffer("unit_start", torch.zeros(n, dtype=torch.int64))
        self.register_buffer("unit_length", torch.zeros(n, dtype=torch.int64))
        self.register_buffer("unit_clip", torch.zeros(n, dtype=torch.int64))
        self.register_buffer("unit_next", torch.zeros(n, dtype=torch.int64))
        self.register_buffer("unit_desc", torch.zeros(n, N_DESCRIPTORS))
        self.register_buffer("scale", torch.tensor(SCALE_FLOOR))
        w = [float(cfg["w_" + d]) for d in ("loudness", "pitch", "confidence", "centroid", "flatness")]
        self.register_buffer("weights", torch.tensor(w + [float(cfg["w_bands"])] * N_BANDS), persistent=False)
        self.register_buffer("edges", band_edges(), persistent=False)
        self.register_buffer("fft_window", torch.hann_window(BAND_FFT, periodic=False), persistent=False)
        self.register_buffer("grain_window", torch.hann_window(self.grain + 2, periodic=False)[1:-1],
                             persistent=False)

    # -- the bank ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.unit_start.shape[0])

    def set_bank(self, bank) -> None:
        """Fill the buffers from a rehearsal.training.corpus.UnitBank of the same sizes."""
        with torch.no_grad():
            self.bank_audio.copy_(torch.as_tensor(bank.audio).to(torch.float16))
            self.unit_start.copy_(torch.as_tensor(bank.starts))
            self.unit_length.copy_(torch.as_tensor(bank.lengths))
            self.unit_clip.copy_(torch.as_tensor(bank.clip))
            self.unit_next.copy_(torch.as_tensor(bank.successors()))
            d = torch.as_tensor(bank.descriptors, dtype=torch.float32)
            self.unit_desc.copy_(d)
            spread = d.std(0) if d.shape[0] > 1 else torch.zeros(N_DESCRIPTORS)
            scale = torch.maximum(torch.nan_to_num(spread), torch.tensor(SCALE_FLOOR))
            scale[1] = 1.0                       # pitch in semitones: a semitone is a semitone
            self.scale.copy_(scale)

    def fit_normalisation(self, audio_ctx: Tensor) -> None:
        """Nothing to fit: the bank's spreads are set with the bank."""

    # -- choosing ------------------------------------------------------------------------
    def zero_state(self, batch: int, device: torch.device) -> List[Tensor]:
        """[input history, pending output, last unit, recent units, absolute sample]."""
        return [torch.zeros(batch, self.memory, device=device), torch.zeros(batch, self.grain, device=device),
                torch.full((batch,), -1, dtype=torch.int64, device=device),
                torch.full((batch, max(self.avoid, 1)), -1, dtype=torch.int64, device=device),
                torch.zeros(1, dtype=torch.int64, device=device)]

    def targets(self, history: Tensor) -> Tensor:
        """The descriptors of what was just heard (B, 13): its last grain, windows ending
        1024 samples before now (the pitch window ends now)."""
        b = history.shape[0]
        out: List[Tensor] = []
        for i in range(b):
            start = torch.tensor([self.memory - self.grain], device=history.device)
            length = torch.tensor([self.grain], device=history.device)
            centre = torch.tensor([self.memory - self.whole // 2], device=history.device)
            out.append(describe(history[i], start, length, centre, self.edges, self.fft_window, self.sample_rate))
        return torch.cat(out, 0)

    def choose(self, target: Tensor, weights: Tensor, last: Tensor, recent: Tensor, decision: int,
               random_units: bool = False) -> Tensor:
        """One unit per batch item (B,) for target descriptors (B, 13)."""
        b, n = target.shape[0], self.size
        items = torch.arange(b, device=target.device, dtype=torch.int64)
        u = _hash_uniform((decision * 64 + items) * 4, self.seed)
        if random_units:
            return (u * n).to(torch.int64).clamp(0, n - 1)
        units = self.unit_desc / self.scale
        diff = (units.unsqueeze(0) - (target / self.scale).unsqueeze(1)).pow(2)
        voiced_in = (target[:, 2] > self.voiced).unsqueeze(1)
        unit_voiced = (self.unit_desc[:, 2] > self.voiced).unsqueeze(0)
        w = weights.view(1, 1, -1).expand(b, n, self.n_descriptors)
        both = (voiced_in & unit_voiced).to(diff.dtype)
        dist = (diff * w).sum(-1) - diff[:, :, 1] * weights[1] * (1.0 - both)
        # pitch counts only between pitched sounds; an unpitched unit for a pitched input costs
        dist = dist + (voiced_in & ~unit_voiced).to(dist.dtype) * (36.0 * float(weights[1]))
        taken = recent.shape[1] if self.avoid > 0 else 0
        if taken > 0 and n > 1:
            taken = min(taken, n - 1)
            bar = recent[:, recent.shape[1] - taken:]
            inf = torch.full(bar.shape, float("inf"), device=dist.device)
            dist = dist.scatter_add(1, bar.clamp_min(0), torch.where(bar >= 0, inf, torch.zeros_like(inf)))
        k = 1 + int(round(min(max(self.jitter, 0.0), 1.0) * (self.search - 1)))
        k = max(1, min(k, n - (taken if n > 1 else 0)))
        near = torch.topk(dist, k, dim=1, largest=False).indices
        pick = (_hash_uniform((decision * 64 + items) * 4 + 1, self.seed) * k).to(torch.int64).clamp(0, k - 1)
        chosen = near.gather(1, pick.unsqueeze(1)).squeeze(1)
        if self.sequence > 0.0:
            nxt = self.unit_next[last.clamp_min(0)]
            nxt = torch.where(nxt < 0, (last + 1) % n, nxt)
            nxt = torch.where(last < 0, torch.zeros_like(nxt), nxt)
            chosen = torch.where(u < self.sequence, nxt, chosen)
        return chosen

    def unit_grains(self, chosen: Tensor, target: Tensor) -> Tensor:
        """The grains played (B, grain): read from the bank, transposed and levelled towards
        the target when asked, windowed."""
        g = self.grain
        pos = torch.arange(g, device=target.device, dtype=torch.float32).unsqueeze(0)
        desc = self.unit_desc[chosen]
        ratio = torch.ones(chosen.shape[0], 1, device=target.device)
        if self.pitch_match:
            both = (target[:, 2] > self.voiced) & (desc[:, 2] > self.voiced)
            semis = (target[:, 1] - desc[:, 1]).clamp(-12.0, 12.0)
            ratio = torch.where(both, torch.pow(2.0, semis / 12.0), torch.ones_like(semis)).unsqueeze(1)
        where = pos * ratio
        i0 = where.floor().to(torch.int64)
        frac = where - i0.to(torch.float32)
        start = self.unit_start[chosen].unsqueeze(1)
        total = self.bank_audio.shape[0]
        a = start + i0
        x0 = self.bank_audio[a.clamp(0, total - 1)].to(torch.float32) * (a < total).to(torch.float32)
        x1 = self.bank_audio[(a + 1).clamp(0, total - 1)].to(torch.float32) * (a + 1 < total).to(torch.float32)
        grain = x0 + (x1 - x0) * frac
        if self.level_match:
            gain = torch.pow(10.0, (target[:, 0] - desc[:, 0]).clamp(-24.0, 24.0) / 20.0).unsqueeze(1)
            grain = grain * gain
        return grain * self.grain_window

    # -- rendering -----------------------------------------------------------------------
    def render(self, x: Tensor, state: List[Tensor], control: Optional[Tensor] = None,
               random_units: bool = False, free: bool = False) -> Tuple[Tensor, List[Tensor]]:
        """(B, n*hop) in -> (B, n*hop) out, carrying `state`. With `control` (B, 4, n):
        loudness dB, pitch MIDI (0: unpitched), centroid Hz, flatness per block choose the
        units instead of what is heard (the bands are not weighed). `free`: the corpus plays
        itself from the last unit on (each unit's successor, at its own level)."""
        history, pending, last, recent, pos = state[0], state[1], state[2], state[3], state[4]
        hop = self.hop
        blocks = x.shape[1] // hop
        out = torch.zeros(x.shape[0], blocks * hop, device=x.device)
        start = int(pos[0])
        weights = self.weights
        if control is not None:
            weights = torch.cat([self.weights[:5], torch.zeros(self.n_bands, device=x.device)])
        for j in range(blocks):
            sample = start + j * hop
            if sample % self.grain_hop == 0 and self.size > 0:
                if control is not None:
                    c = control[:, :, j]
                    target = torch.zeros(x.shape[0], self.n_descriptors, device=x.device)
                    target[:, 0] = c[:, 0]
                    target[:, 1] = c[:, 1]
                    target[:, 2] = (c[:, 1] > 0).to(torch.float32)
                    target[:, 3] = torch.log2(c[:, 2].clamp_min(20.0))
                    target[:, 4] = c[:, 3]
                elif free:
                    target = self.unit_desc[last.clamp_min(0)]
                else:
                    target = self.targets(history)
                if free:
                    nxt = self.unit_next[last.clamp_min(0)]
                    nxt = torch.where(nxt < 0, (last + 1) % self.size, nxt)
                    chosen = torch.where(last < 0, torch.zeros_like(nxt), nxt)
                    target = self.unit_desc[chosen]     # its own pitch and level: no matching
                else:
                    chosen = self.choose(target, weights, last, recent, sample // self.grain_hop, random_units)
                pending = pending + self.unit_grains(chosen, target)
                last = chosen
                recent = torch.cat([recent[:, 1:], chosen.unsqueeze(1)], 1)
            out[:, j * hop:(j + 1) * hop] = pending[:, :hop]
            pending = torch.cat([pending[:, hop:], torch.zeros(x.shape[0], hop, device=x.device)], 1)
            history = torch.cat([history[:, hop:], x[:, j * hop:(j + 1) * hop]], 1)
        return out, [history, pending, last, recent, pos + blocks * hop]

    def forward(self, audio_ctx: Tensor, counter: int = 0) -> Tensor:
        """Whole-clip render from a fresh state, as the live host plays it."""
        x = audio_ctx[:, self.context:]
        state = self.zero_state(x.shape[0], x.device)
        n = x.shape[1] // self.hop * self.hop
        out, _ = self.render(x[:, :n], state)
        return out

    def stream_module(self):
        return CorpusStream(self)


class CorpusStream(NNTildeModule):
    """nn~ methods, each with its own streaming state:

    forward:     audio -> audio (the input resynthesised from the unit bank)
    generate:    the corpus playing itself, unit after successor, from the last unit
                 `forward` chose when `continue_from_heard()` was called (else from the
                 first); its input is not listened to
    descriptors: 4 control signals -> audio: loudness (dB), pitch (MIDI note, 0: unpitched),
                 centroid (Hz), flatness (0-1), one value per 256-sample block
    attributes `jitter` and `sequence` (floats, 0 to 1).
    """

    jitter: float
    sequence: float

    def __init__(self, model: CorpusModel):
        super().__init__(model.sample_rate)
        self.model = model
        self.hop = model.hop
        self.jitter = model.jitter
        self.sequence = model.sequence
        self.register_method("forward", 1, 1, 1, 1, ["(signal) audio in"], ["(signal) resynthesis"])
        self.register_method("descriptors", 4, model.hop, 1, 1,
                             ["(signal) loudness dB", "(signal) pitch MIDI (0: unpitched)", "(signal) centroid Hz",
                              "(signal) flatness 0-1"], ["(signal) units chosen by the descriptors"])
        self.register_method("generate", 1, 1, 1, 1, ["(signal) not listened to: it generates from the corpus"],
                             ["(signal) generation"])
        self.register_attribute("jitter", model.jitter)
        self.register_attribute("sequence", model.sequence)
        for prefix in ("fwd", "dsc", "gen"):
            for i, t in enumerate(model.zero_state(1, torch.device("cpu"))):
                self.register_buffer(prefix + "_" + str(i), t, persistent=False)

    @torch.jit.export
    def get_jitter(self) -> float:
        return self.jitter

    @torch.jit.export
    def set_jitter(self, value: float) -> int:
        if not 0.0 <= value <= 1.0:
            return -1
        self.jitter = value
        self.model.jitter = value
        return 0

    @torch.jit.export
    def get_sequence(self) -> float:
        return self.sequence

    @torch.jit.export
    def set_sequence(self, value: float) -> int:
        if not 0.0 <= value <= 1.0:
            return -1
        self.sequence = value
        self.model.sequence = value
        return 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.fwd_0.shape[0] != x.shape[0] or self.fwd_0.device != x.device:
            s = self.model.zero_state(x.shape[0], x.device)     # mc.nn~ changed the batch: start afresh
            self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3, self.fwd_4 = s[0], s[1], s[2], s[3], s[4]
        state = [self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3, self.fwd_4]
        out, state = self.model.render(x[:, 0], state)
        self.fwd_0, self.fwd_1, self.fwd_2, self.fwd_3, self.fwd_4 = state[0], state[1], state[2], state[3], state[4]
        return out.unsqueeze(1)

    @torch.jit.export
    def continue_from_heard(self) -> int:
        """The next `generate` call continues from the last unit `forward` chose (the
        co-performer's answer: it goes on from what it just heard)."""
        if self.gen_2.shape[0] == self.fwd_2.shape[0]:
            self.gen_2 = self.fwd_2.clone()
            self.gen_1 = torch.zeros_like(self.gen_1)      # nothing left over from an earlier answer
            self.gen_4 = torch.zeros_like(self.gen_4)      # and its first block chooses a unit
        return 0

    @torch.jit.export
    def generate(self, x: torch.Tensor) -> torch.Tensor:
        self.check_buffer(x.shape[2])
        if self.gen_0.shape[0] != x.shape[0] or self.gen_0.device != x.device:
            s = self.model.zero_state(x.shape[0], x.device)
            self.gen_0, self.gen_1, self.gen_2, self.gen_3, self.gen_4 = s[0], s[1], s[2], s[3], s[4]
        state = [self.gen_0, self.gen_1, self.gen_2, self.gen_3, self.gen_4]
        out, state = self.model.render(torch.zeros(x.shape[0], x.shape[2], device=x.device), state, None, False, True)
        self.gen_0, self.gen_1, self.gen_2, self.gen_3, self.gen_4 = state[0], state[1], state[2], state[3], state[4]
        return out.unsqueeze(1)

    @torch.jit.export
    def descriptors(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[2] * self.hop
        if self.dsc_0.shape[0] != x.shape[0] or self.dsc_0.device != x.device:
            s = self.model.zero_state(x.shape[0], x.device)
            self.dsc_0, self.dsc_1, self.dsc_2, self.dsc_3, self.dsc_4 = s[0], s[1], s[2], s[3], s[4]
        state = [self.dsc_0, self.dsc_1, self.dsc_2, self.dsc_3, self.dsc_4]
        silent = torch.zeros(x.shape[0], n, device=x.device)
        out, state = self.model.render(silent, state, x)
        self.dsc_0, self.dsc_1, self.dsc_2, self.dsc_3, self.dsc_4 = state[0], state[1], state[2], state[3], state[4]
        return out.unsqueeze(1)
