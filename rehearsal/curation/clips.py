"""Clips: a region of a take with the symbols and people that tagged it.

A clip is a value: steps never change one, they make new ones (`with_bounds`, `replace`).
Its `key` (take, start, end, symbols, and for a clip an augmentation step made, what it
did) is what versions and diffs compare.
Clip descriptors summarise the take's frame descriptors over the clip's region.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .analysis import FrameDescriptors

ACTIVE_DB = -60.0          # frames quieter than this are left out of pitch/timbre statistics
PITCHED_CONFIDENCE = 0.8   # YIN confidence above which a frame counts as pitched


class ClipKey(NamedTuple):
    take_id: int
    start: int
    end: int
    symbols: tuple[str, ...]
    variant: str = ""              # "" for the take's samples; an augmented clip: what was done

    def __str__(self) -> str:
        extra = f" ({self.variant})" if self.variant else ""
        return f"take#{self.take_id} {self.start}-{self.end} [{', '.join(self.symbols)}]{extra}"


@dataclass(frozen=True)
class Clip:
    take_id: int
    start: int                     # first sample, at the take's rate
    end: int                       # one past the last sample
    sample_rate: int
    symbols: tuple[str, ...]
    who: tuple[str, ...] = ()
    marker_ids: tuple[int, ...] = ()
    tap: int | None = None         # the tap that made it, if it came from a tap
    made_by: str = "markers"       # "markers", or the step that made these bounds
    corrected: bool = False        # a person trimmed its region: never recomputed
    channels: tuple[int, ...] | None = None   # the take's input channels it holds (None: all)
    augment: tuple[tuple[str, object], ...] = ()   # made by an augmentation step: its parameters

    @property
    def key(self) -> ClipKey:
        return ClipKey(self.take_id, self.start, self.end, self.symbols, augment_label(self.augment))

    @property
    def augmented(self) -> bool:
        return bool(self.augment)

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / self.sample_rate

    @property
    def start_s(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end / self.sample_rate

    def with_bounds(self, start: int, end: int) -> "Clip":
        return dataclasses.replace(self, start=int(start), end=int(end))

    def replace(self, **changes) -> "Clip":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        who = f" by {', '.join(self.who)}" if self.who else ""
        extra = f" ({augment_label(self.augment)})" if self.augment else ""
        return f"take#{self.take_id} {self.start_s:.3f}-{self.end_s:.3f} s [{', '.join(self.symbols)}]{who}{extra}"

    def overlap(self, other: "Clip") -> int:
        if other.take_id != self.take_id:
            return 0
        return max(0, min(self.end, other.end) - max(self.start, other.start))

    def iou(self, other: "Clip") -> float:
        inter = self.overlap(other)
        union = max(self.end, other.end) - min(self.start, other.start)
        return inter / union if union > 0 else 0.0


def augment_label(augment) -> str:
    """"augmented: gain_db=-3, pitch_semitones=0.5, ..." ("" when not augmented)."""
    if not augment:
        return ""
    return "augmented: " + ", ".join(f"{k}={v}" for k, v in augment)


def _r(x, digits=4):
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits)


def sound_vector(fd: FrameDescriptors, start: int, end: int) -> np.ndarray | None:
    """What a region sounds like, as numbers to compare regions of one take by: the mean and
    spread over its active frames (>= ACTIVE_DB) of brightness (log centroid), noisiness (log
    flatness) and how pitched it is (YIN confidence); level is left out (the same sound
    played louder is the same sound). None with fewer than 5 active frames."""
    sl = fd.frames_between(start, end)
    loud = np.nan_to_num(fd.loudness_db[sl].astype(np.float64), nan=-120.0)
    active = loud >= ACTIVE_DB
    if active.sum() < 5:
        return None
    centroid = np.log2(np.maximum(np.nan_to_num(fd.centroid_hz[sl][active].astype(np.float64)), 50.0))
    flatness = np.log10(np.maximum(np.nan_to_num(fd.flatness[sl][active].astype(np.float64)), 1e-4))
    confidence = np.nan_to_num(fd.pitch_confidence[sl][active].astype(np.float64))
    return np.array([centroid.mean(), centroid.std(), flatness.mean(), flatness.std(),
                     confidence.mean(), confidence.std()])


def clip_descriptors(fd: FrameDescriptors, start: int, end: int) -> dict:
    """Summary of one region: level, pitch, timbre, onsets. None where there is nothing to measure.

    loudness_db is the RMS level over the whole clip (dBFS); pitch statistics use frames that
    are active (>= ACTIVE_DB) and confidently pitched (YIN confidence >= PITCHED_CONFIDENCE);
    centroid and flatness average the active frames.
    """
    sl = fd.frames_between(start, end)
    loud = fd.loudness_db[sl]
    duration = (end - start) / fd.sample_rate
    out = {"duration_s": _r(duration, 6), "loudness_db": None, "peak_db": None, "active_fraction": 0.0,
           "pitch_hz": None, "pitch_low_hz": None, "pitch_high_hz": None, "pitched_fraction": 0.0,
           "pitch_confidence": None, "centroid_hz": None, "flatness": None,
           "onsets": 0, "onset_rate": 0.0}
    onsets = fd.onsets_between(start, end)
    out["onsets"] = int(len(onsets))
    out["onset_rate"] = _r(len(onsets) / duration if duration > 0 else 0.0, 3)
    if len(loud) == 0:
        return out
    energy = np.power(10.0, loud.astype(np.float64) / 10).mean()
    out["loudness_db"] = _r(10 * np.log10(max(energy, 1e-12)), 2)
    out["peak_db"] = _r(loud.max(), 2)
    active = loud >= ACTIVE_DB
    n_active = int(active.sum())
    out["active_fraction"] = _r(n_active / len(loud), 3)
    if n_active == 0:
        return out
    conf = fd.pitch_confidence[sl]
    f0 = fd.pitch_hz[sl]
    pitched = active & (conf >= PITCHED_CONFIDENCE) & (f0 > 0)
    out["pitch_confidence"] = _r(conf[active].mean(), 3)
    out["pitched_fraction"] = _r(pitched.sum() / n_active, 3)
    if pitched.any():
        p = f0[pitched].astype(np.float64)
        out["pitch_hz"] = _r(np.median(p), 2)
        out["pitch_low_hz"] = _r(np.percentile(p, 10), 2)
        out["pitch_high_hz"] = _r(np.percentile(p, 90), 2)
    out["centroid_hz"] = _r(fd.centroid_hz[sl][active].mean(), 1)
    out["flatness"] = _r(fd.flatness[sl][active].mean(), 4)
    return out


# -- pitch names (scientific pitch notation, A4 = 440 Hz, C4 = middle C) ---------------

_NOTE_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_to_hz(value) -> float:
    """'C3', 'F#4', 'Bb2' or a number of Hz -> Hz. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a pitch: {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"a frequency must be > 0 Hz, got {value}")
        return float(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty pitch")
    letter, rest = text[0].upper(), text[1:]
    if letter not in _NOTE_STEPS:
        raise ValueError(f"not a note name: {value!r} (write C3, F#4, Bb2 or a number of Hz)")
    accidental = 0
    while rest[:1] in ("#", "b", "♯", "♭"):
        accidental += 1 if rest[0] in "#♯" else -1
        rest = rest[1:]
    try:
        octave = int(rest)
    except ValueError:
        raise ValueError(f"not a note name: {value!r} (write C3, F#4, Bb2 or a number of Hz)") from None
    midi = 12 * (octave + 1) + _NOTE_STEPS[letter] + accidental
    return 440.0 * 2 ** ((midi - 69) / 12)


def hz_to_note(hz: float | None) -> str:
    if not hz or hz <= 0:
        return "-"
    midi = int(round(69 + 12 * math.log2(hz / 440.0)))
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"
