"""The corpus family's analysis: a unit bank cut from clips and described ("training").

    bank = analyse_corpus([clip_audio, ...], CorpusParams(grain_ms=40))
    bank.save(folder / "bank.npz"); bank = UnitBank.load(folder / "bank.npz")  # no pickle
    model = model_of(bank, {"pitch_match": True}); out = resynthesise(bank, live_audio, {...})

Units are fixed grains or onset-cut segments (20-250 ms). Onsets come from the curation
analysis (rehearsal.curation.analysis), read from its cache when a curation step already
computed the take's descriptors (`cached=`); each unit is described by the same function
the model describes its input with (families/corpus.py `describe`: loudness, pitch +
confidence, centroid, flatness, 8 log band energies). Playing lives in the model
(rehearsal.training.families.corpus), one implementation for render, host and nn~.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..curation.analysis import AnalysisParams, analyse_array

SAMPLE_RATE = 48000
DESCRIPTORS = ("loudness", "pitch", "confidence", "centroid", "flatness") + tuple(f"band{i}" for i in range(8))


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
        from .families.corpus import grain_samples

        return grain_samples(self.grain_ms)


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
    """Per segment of `audio`, all at once, with the model's own `describe`: windows centred
    on each segment (zeros beyond the clip)."""
    import torch

    from .families.corpus import WINDOW, band_edges, describe

    if not len(starts):
        return np.zeros((0, len(DESCRIPTORS)), np.float32)
    pad = np.concatenate([np.zeros(WINDOW, np.float32), np.asarray(audio, np.float32), np.zeros(WINDOW, np.float32)])
    s = torch.as_tensor(starts + WINDOW)
    n = torch.as_tensor(np.minimum(lengths, len(audio) - starts))
    with torch.no_grad():
        return describe(torch.from_numpy(pad), s, n, s + n // 2, band_edges(),
                        torch.hann_window(1024, periodic=False), SAMPLE_RATE).numpy()


def _cut(audio: np.ndarray, params: CorpusParams, onsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    grain = params.grain
    if params.units == "grains" or len(audio) < grain:
        starts = np.arange(0, max(len(audio) - grain + 1, 1), grain // 2, dtype=np.int64)
        return starts, np.full(len(starts), min(grain, len(audio)), np.int64)
    if onsets is None:
        onsets = analyse_array(audio, SAMPLE_RATE, AnalysisParams()).onsets
    onsets = onsets[(onsets >= 0) & (onsets < len(audio))]
    starts = np.unique(np.concatenate([[0], onsets])).astype(np.int64)
    ends = np.concatenate([starts[1:], [len(audio)]])
    lo, hi = int(0.020 * SAMPLE_RATE), int(0.250 * SAMPLE_RATE)
    keep = ends - starts >= lo
    starts, ends = starts[keep], ends[keep]
    # a segment longer than 250 ms (a held note) goes on as 250 ms units, each its successor
    pieces = np.maximum(1, (ends - starts) // hi)
    first = np.repeat(starts, pieces) + hi * (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    last = np.repeat(ends, pieces)
    return first.astype(np.int64), np.clip(last - first, lo, hi).astype(np.int64)


def analyse_corpus(clips: list[np.ndarray], params: CorpusParams | None = None,
                   onsets: list[np.ndarray | None] | None = None) -> UnitBank:
    """Cut each clip (mono float32, 48 kHz) into units and describe them. `onsets` (per
    clip, samples, or None) are the curation analysis's, when its cache already has them."""
    params = params or CorpusParams()
    audio, starts, lengths, clip_of, desc, offset = [], [], [], [], [], 0
    for i, x in enumerate(clips):
        x = np.asarray(x, np.float32)
        if len(x) < int(0.020 * SAMPLE_RATE):
            continue
        s, n = _cut(x, params, onsets[i] if onsets else None)
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


# -- playing (the model's) ----------------------------------------------------------------------

def model_of(bank: UnitBank, config: dict | None = None):
    """A corpus model holding `bank` in its buffers."""
    from .family import get_family

    model = get_family("corpus").build({**(config or {}), "grain_ms": bank.grain * 1000 / SAMPLE_RATE,
                                        "n_units": bank.size, "n_samples": len(bank.audio)})
    model.set_bank(bank)
    return model.eval()


def bank_of(model) -> UnitBank:
    """The bank a corpus model holds (a parent's, to merge with)."""
    return UnitBank(model.bank_audio.float().numpy(), model.unit_start.numpy().copy(),
                    model.unit_length.numpy().copy(), model.unit_clip.numpy().copy(),
                    model.unit_desc.numpy().copy(), model.grain)


def _render(model, audio: np.ndarray, random_units: bool = False) -> np.ndarray:
    import torch

    n = -(-len(audio) // model.hop) * model.hop
    x = torch.zeros(1, n)
    x[0, :len(audio)] = torch.as_tensor(np.asarray(audio, np.float32))
    with torch.no_grad():
        out, _ = model.render(x, model.zero_state(1, x.device), None, random_units)
    return out[0, :len(audio)].numpy()


def resynthesise(bank: UnitBank, audio: np.ndarray, config: dict | None = None) -> np.ndarray:
    """The input rendered from the bank (as the model plays it live), the input's length."""
    return _render(model_of(bank, config), audio)


def random_units(bank: UnitBank, audio: np.ndarray, config: dict | None = None) -> np.ndarray:
    """The baseline: the same bank, overlap-add and levelling, units chosen at random."""
    return _render(model_of(bank, config), audio, random_units=True)


# -- the curation analysis cache ------------------------------------------------------------------

def cached_onsets(ws, db, clips, names: set[str]) -> dict[str, np.ndarray]:
    """Onsets (samples at 48 kHz, from the clip's start) of the dataset clips named in
    `names` whose take a curation step already analysed (rehearsal.curation.descriptors,
    default parameters): read from its cache, never computed here."""
    from ..curation.descriptors import take_descriptors

    key = AnalysisParams().key()
    out: dict[str, np.ndarray] = {}
    for c in clips:
        take_id, start = c.meta.get("take_id"), c.meta.get("start_s")
        if c.name not in names or take_id is None or start is None:
            continue
        row = db.execute("SELECT 1 FROM take_descriptors WHERE take_id = ? AND params_key = ?",
                         [take_id, key]).fetchone()
        takes = list(db.query("SELECT * FROM takes WHERE id = ?", [take_id]))
        if not row or not takes:
            continue
        try:
            fd = take_descriptors(ws, db, takes[0])
        except Exception:                      # a take gone or changed: analyse the clip instead
            continue
        end = c.meta.get("end_s")
        lo = int(round(float(start) * fd.sample_rate))
        hi = int(round(float(end) * fd.sample_rate)) if end is not None else fd.total_samples
        found = fd.onsets_between(lo, hi) - lo
        out[c.name] = np.round(found * (SAMPLE_RATE / fd.sample_rate)).astype(np.int64)
    return out
