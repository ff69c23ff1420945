"""The corpus family's core (numpy, no torch): a unit bank made by analysis, and
concatenative resynthesis from it.

    bank = analyse_corpus([clip_audio, ...], CorpusParams(grain_ms=40))   # "training"
    bank.save(folder / "bank.npz"); bank = UnitBank.load(folder / "bank.npz")  # no pickle
    out = resynthesise(bank, live_audio, PlayParams(sequence=0.0, pitch_match=True))

Units are fixed grains or onset-cut segments (20-250 ms). Each unit's descriptors come from
the curation analysis (rehearsal.curation.analysis: loudness, pitch + confidence, centroid,
flatness per frame, averaged over the unit) plus log band energies. Playing is weighted
nearest neighbour on the input's descriptors, with jitter, repetition avoidance, a
"sequence" blend towards each unit's successor in its clip, optional pitch and level
matching, Hann-windowed overlap-add at half the grain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..curation.analysis import AnalysisParams, analyse_array

SAMPLE_RATE = 48000
N_BANDS = 8
BAND_FFT = 1024
SCALAR_DESCRIPTORS = ("loudness", "pitch", "confidence", "centroid", "flatness")
DESCRIPTORS = SCALAR_DESCRIPTORS + tuple(f"band{i}" for i in range(N_BANDS))
# loudness dB, semitones, confidence, log2 Hz, flatness, band dB
SCALE_FLOOR = np.array([3.0, 1.0, 0.1, 0.25, 0.05] + [3.0] * N_BANDS)
DECIMATE, PITCH_WIN = 8, 256
_HANN = np.hanning(BAND_FFT).astype(np.float32)
_EDGES = np.geomspace(2, BAND_FFT // 2 + 1, N_BANDS + 1).astype(int)
VOICED = 0.5   # pitch confidence above which a unit (or the input) counts as pitched


@dataclass(frozen=True)
class CorpusParams:
    grain_ms: float = 40.0
    units: str = "grains"           # "grains" (fixed) or "onsets"

    def __post_init__(self):
        if not 20 <= self.grain_ms <= 250:
            raise ValueError(f"grain_ms must be 20 to 250 ms, got {self.grain_ms}")
        if self.units not in ("grains", "onsets"):
            raise ValueError(f"units must be 'grains' or 'onsets', got {self.units!r}")

    @property
    def grain(self) -> int:
        return int(round(self.grain_ms * SAMPLE_RATE / 1000))


@dataclass
class PlayParams:
    weights: dict = field(default_factory=dict)   # descriptor -> weight (default 1; bands 0.25)
    jitter: float = 0.0          # 0: the nearest unit; 1: any of the 16 nearest
    avoid: int = 4               # the last N chosen units are not chosen again
    sequence: float = 0.0        # 0: match the input; 1: the corpus continues its own order
    pitch_match: bool = False
    level_match: bool = True
    seed: int = 0


@dataclass
class UnitBank:
    """Units as (start, length) into one concatenated sample array."""

    audio: np.ndarray          # float32, all clips end to end
    starts: np.ndarray         # int64 per unit
    lengths: np.ndarray        # int64 per unit
    clip: np.ndarray           # int64 per unit: which clip it came from
    descriptors: np.ndarray    # float32 (units, len(DESCRIPTORS))
    grain: int                 # samples per played grain

    @property
    def size(self) -> int:
        return len(self.starts)

    def successors(self) -> np.ndarray:
        """Index of the next unit in the same clip, -1 at a clip's end."""
        nxt = np.arange(1, self.size + 1)
        nxt[-1:] = -1
        if self.size > 1:
            nxt[:-1][self.clip[1:] != self.clip[:-1]] = -1
        return nxt

    def save(self, path: Path) -> None:
        path = Path(path)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, audio=self.audio, starts=self.starts, lengths=self.lengths, clip=self.clip,
                     descriptors=self.descriptors, grain=np.array([self.grain], np.int64),
                     names=np.array(DESCRIPTORS))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "UnitBank":
        try:
            with np.load(path, allow_pickle=False) as z:
                names = tuple(str(n) for n in z["names"])
                if names != DESCRIPTORS:
                    raise ValueError(f"descriptors {names} are not this version's {DESCRIPTORS}")
                bank = cls(z["audio"].astype(np.float32), z["starts"].astype(np.int64), z["lengths"].astype(np.int64),
                           z["clip"].astype(np.int64), z["descriptors"].astype(np.float32), int(z["grain"][0]))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a readable unit bank ({e})") from e
        if not (len(bank.starts) == len(bank.lengths) == len(bank.clip) == len(bank.descriptors)):
            raise ValueError(f"{path}: unit arrays of different lengths")
        if bank.size and int((bank.starts + bank.lengths).max()) > len(bank.audio):
            raise ValueError(f"{path}: units reach past the bank's audio")
        return bank

    def merged(self, other: "UnitBank") -> "UnitBank":
        """This bank with another's units appended (convergent training)."""
        if other.grain != self.grain:
            raise ValueError(f"banks of different grains ({self.grain} and {other.grain} samples) cannot merge")
        return UnitBank(np.concatenate([self.audio, other.audio]),
                        np.concatenate([self.starts, other.starts + len(self.audio)]),
                        np.concatenate([self.lengths, other.lengths]),
                        np.concatenate([self.clip, other.clip + (int(self.clip.max()) + 1 if self.size else 0)]),
                        np.concatenate([self.descriptors, other.descriptors]), self.grain)


# -- analysis ---------------------------------------------------------------------------------

def _descriptors_of(audio: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per segment of `audio`, all segments at once: loudness (dB of its mean square),
    pitch (semitones, 0 when unpitched) and YIN confidence on audio decimated to 6 kHz
    (dsp.yin: the batched copy of aubio's YIN the curation analysis runs), and spectral
    centroid (log2 Hz), flatness and log band energies of a 1024-sample Hann window at
    the segment's centre. The per-frame aubio loop of the curation analysis takes ~1 s per
    minute of audio; this takes ~0.2 s, which is what makes 10 minutes playable in seconds."""
    import torch

    from . import dsp

    out = np.zeros((len(starts), len(DESCRIPTORS)), np.float32)
    if not len(starts):
        return out
    x = np.asarray(audio, np.float32)
    cs = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    ends = np.minimum(starts + lengths, len(x))
    out[:, 0] = 10 * np.log10((cs[ends] - cs[starts]) / np.maximum(ends - starts, 1) + 1e-10)
    pad = np.concatenate([np.zeros(PITCH_WIN * DECIMATE, np.float32), x, np.zeros(PITCH_WIN * DECIMATE, np.float32)])
    centre = starts + lengths // 2 + PITCH_WIN * DECIMATE
    # pitch: a 256-sample window at 6 kHz (periods to 47 Hz) centred on the segment
    dec = pad[: len(pad) // DECIMATE * DECIMATE].reshape(-1, DECIMATE).mean(1)
    idx = (centre // DECIMATE - PITCH_WIN // 2)[:, None] + np.arange(PITCH_WIN)[None, :]
    f0, conf = dsp.yin(torch.from_numpy(dec[idx])[None], SAMPLE_RATE // DECIMATE, silence_db=-70.0)
    f0, conf = f0[0].numpy(), conf[0].clamp(0, 1).numpy()
    voiced = (conf > VOICED) & (f0 > 0)
    out[:, 1] = np.where(voiced, 69 + 12 * np.log2(np.maximum(f0, 1e-3) / 440), 0.0)
    out[:, 2] = np.where(f0 > 0, conf, 0.0)
    frames = pad[(centre - BAND_FFT // 2)[:, None] + np.arange(BAND_FFT)[None, :]] * _HANN
    power = np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32) ** 2 + 1e-12
    total = power.sum(1)
    freqs = np.arange(power.shape[1], dtype=np.float32) * (SAMPLE_RATE / BAND_FFT)
    out[:, 3] = np.log2(np.maximum(power @ freqs / total, 20.0))
    out[:, 4] = np.exp(np.log(power).mean(1)) / power.mean(1)
    csum = np.concatenate([np.zeros((len(power), 1), np.float32), np.cumsum(power, 1)], 1)
    out[:, 5:] = 10 * np.log10(csum[:, _EDGES[1:]] - csum[:, _EDGES[:-1]] + 1e-10)
    return out


def _cut(audio: np.ndarray, params: CorpusParams) -> tuple[np.ndarray, np.ndarray]:
    grain = params.grain
    if params.units == "grains" or len(audio) < grain:
        starts = np.arange(0, max(len(audio) - grain + 1, 1), grain // 2, dtype=np.int64)
        return starts, np.full(len(starts), min(grain, len(audio)), np.int64)
    onsets = analyse_array(audio, SAMPLE_RATE, AnalysisParams()).onsets
    starts = np.unique(np.concatenate([[0], onsets])).astype(np.int64)
    ends = np.concatenate([starts[1:], [len(audio)]])
    lo, hi = int(0.020 * SAMPLE_RATE), int(0.250 * SAMPLE_RATE)
    keep = ends - starts >= lo
    starts, ends = starts[keep], ends[keep]
    return starts, np.clip(ends - starts, lo, hi)


def analyse_corpus(clips: list[np.ndarray], params: CorpusParams | None = None) -> UnitBank:
    """Cut each clip (mono float32, 48 kHz) into units and describe them."""
    params = params or CorpusParams()
    audio, starts, lengths, clip_of, desc, offset = [], [], [], [], [], 0
    for i, x in enumerate(clips):
        x = np.asarray(x, np.float32)
        if len(x) < int(0.020 * SAMPLE_RATE):
            continue
        s, n = _cut(x, params)
        desc.append(_descriptors_of(x, s, n))
        audio.append(x)
        starts.append(s + offset)
        lengths.append(n)
        clip_of.append(np.full(len(s), i, np.int64))
        offset += len(x)
    if not audio:
        raise ValueError("no clip of at least 20 ms to analyse")
    return UnitBank(np.concatenate(audio), np.concatenate(starts), np.concatenate(lengths),
                    np.concatenate(clip_of), np.concatenate(desc), params.grain)


# -- playing ----------------------------------------------------------------------------------

def _weights(params: PlayParams) -> np.ndarray:
    w = np.array([params.weights.get(d, 0.25 if d.startswith("band") else 1.0) for d in DESCRIPTORS], np.float64)
    return w


class Selector:
    """Chooses one unit per grain from target descriptors; keeps its state between blocks."""

    def __init__(self, bank: UnitBank, params: PlayParams):
        self.bank, self.params = bank, params
        d = bank.descriptors.astype(np.float64)
        # each descriptor in units of its spread over the bank, but never finer than what
        # one can hear: else a bank of one level would choose by fractions of a dB
        self.scale = np.maximum(d.std(0), SCALE_FLOOR)
        self.scale[1] = 1.0                    # pitch in semitones: a semitone is a semitone
        self.units = d / self.scale
        self.weights = _weights(params)
        self.next = bank.successors()
        self.rng = np.random.default_rng(params.seed)
        self.recent: list[int] = []
        self.last = -1

    def choose(self, target: np.ndarray) -> int:
        p = self.params
        if p.sequence > 0 and self.rng.random() < p.sequence:
            nxt = self.next[self.last] if self.last >= 0 else 0
            if nxt < 0:   # the clip ended: the next clip's first unit (or the first)
                nxt = (self.last + 1) % self.bank.size
            return self._chose(int(nxt))
        t = target.astype(np.float64) / self.scale
        diff = (self.units - t) ** 2
        w = np.broadcast_to(self.weights, diff.shape).copy()
        voiced_in = target[2] > VOICED
        # pitch counts only between pitched sounds; an unpitched unit for a pitched input costs
        unit_voiced = self.bank.descriptors[:, 2] > VOICED
        w[:, 1] = np.where(voiced_in & unit_voiced, w[:, 1], 0.0)
        dist = (diff * w).sum(1) + np.where(voiced_in & ~unit_voiced, 36.0 * self.weights[1], 0.0)
        if self.recent:
            dist[self.recent] = np.inf
        k = 1 + int(round(np.clip(p.jitter, 0, 1) * 15))
        k = min(k, int(np.isfinite(dist).sum()) or 1)
        nearest = np.argpartition(dist, k - 1)[:k] if k < len(dist) else np.arange(len(dist))
        return self._chose(int(self.rng.choice(nearest)) if k > 1 else int(nearest[np.argmin(dist[nearest])]))

    def _chose(self, i: int) -> int:
        self.last = i
        if self.params.avoid > 0:
            self.recent = (self.recent + [i])[-min(self.params.avoid, max(self.bank.size - 1, 0)):] \
                if self.bank.size > 1 else []
        return i


def grain_window(grain: int) -> np.ndarray:
    return np.hanning(grain + 2)[1:-1].astype(np.float32)


def unit_audio(bank: UnitBank, i: int, target: np.ndarray | None, params: PlayParams) -> np.ndarray:
    """The grain played for unit i: transposed and levelled towards the target when asked."""
    g = bank.grain
    s, n = int(bank.starts[i]), int(bank.lengths[i])
    ratio = 1.0
    if params.pitch_match and target is not None and target[2] > VOICED and bank.descriptors[i, 2] > VOICED:
        ratio = 2 ** (np.clip(target[1] - bank.descriptors[i, 1], -12, 12) / 12)
    need = int(np.ceil(g * ratio)) + 1
    src = bank.audio[s:s + min(max(n, need), len(bank.audio) - s)]
    if ratio != 1.0:
        src = np.interp(np.arange(g) * ratio, np.arange(len(src)), src, right=0.0).astype(np.float32)
    grain = np.zeros(g, np.float32)
    grain[:min(g, len(src))] = src[:g]
    if params.level_match and target is not None:
        gain = 10 ** (np.clip(target[0] - bank.descriptors[i, 0], -24, 24) / 20)
        grain *= np.float32(gain)
    return grain * grain_window(g)


def target_descriptors(bank: UnitBank, audio: np.ndarray) -> np.ndarray:
    """The input's descriptors, one row per grain position (every grain/2 samples)."""
    hop = bank.grain // 2
    starts = np.arange(0, max(len(audio), 1), hop, dtype=np.int64)
    return _descriptors_of(np.asarray(audio, np.float32), starts, np.full(len(starts), bank.grain, np.int64))


def overlap_add(bank: UnitBank, choices: list[int], targets: np.ndarray | None, length: int,
                params: PlayParams) -> np.ndarray:
    hop = bank.grain // 2
    out = np.zeros(length + bank.grain, np.float32)
    for k, i in enumerate(choices):
        out[k * hop:k * hop + bank.grain] += unit_audio(bank, i, None if targets is None else targets[k], params)
    return out[:length]


def resynthesise(bank: UnitBank, audio: np.ndarray, params: PlayParams | None = None) -> np.ndarray:
    """The input rendered from the bank, the same length as the input."""
    params = params or PlayParams()
    targets = target_descriptors(bank, audio)
    sel = Selector(bank, params)
    choices = [sel.choose(t) for t in targets]
    return overlap_add(bank, choices, targets, len(audio), params)


def random_units(bank: UnitBank, audio: np.ndarray, params: PlayParams | None = None) -> np.ndarray:
    """The baseline: the same bank and overlap-add, units chosen at random."""
    params = params or PlayParams()
    targets = target_descriptors(bank, audio)
    rng = np.random.default_rng(params.seed)
    return overlap_add(bank, list(rng.integers(0, bank.size, len(targets))), targets, len(audio), params)
