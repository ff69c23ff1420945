"""What a dataset covers: durations per symbol and person, pitch and loudness spread.

So players know what the next model was trained on ("C3 to C5, mostly ana, little
breath"). Pitch bins are octaves (C to B), weighted by clip duration; loudness bins are
6 dB wide. A clip tagged by two people counts half to each in the per-person share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sqlite_utils

from .clips import hz_to_note
from .versions import version_clips, version_info

LOUDNESS_BINS = list(range(-60, 1, 6))   # -60..0 dBFS


@dataclass
class Coverage:
    ref: str
    clip_count: int
    total_s: float
    per_symbol: list[tuple[str, int, float]] = field(default_factory=list)          # symbol, clips, seconds
    per_person: list[tuple[str, float, float]] = field(default_factory=list)        # who, seconds, share
    pitch_hist: list[tuple[str, float]] = field(default_factory=list)               # octave, seconds
    loudness_hist: list[tuple[str, float]] = field(default_factory=list)            # bin, seconds
    unpitched_s: float = 0.0
    pitch_range: tuple[str, str] | None = None                                       # (low, high) note names
    pitch_range_hz: tuple[float, float] | None = None

    def text(self, width: int = 30) -> str:
        def bar(value: float, most: float) -> str:
            n = 0 if most <= 0 else round(width * value / most)
            return "█" * n

        lines = [f"{self.ref}: {self.clip_count} clips, {_dur(self.total_s)}"]
        if self.pitch_range:
            lines.append(f"pitch range (5-95%): {self.pitch_range[0]} to {self.pitch_range[1]} "
                         f"({self.pitch_range_hz[0]:.0f}-{self.pitch_range_hz[1]:.0f} Hz)")
        lines.append("")
        lines.append("per symbol")
        most = max((s for _, _, s in self.per_symbol), default=0)
        for sym, n, s in self.per_symbol:
            lines.append(f"  {sym:<16} {n:>5} clips {_dur(s):>9}  {bar(s, most)}")
        lines.append("per person")
        for who, s, share in self.per_person:
            lines.append(f"  {who:<16} {share * 100:5.1f}% {_dur(s):>9}  {bar(share, 1.0)}")
        lines.append("pitch (median of each clip, by octave)")
        most = max([s for _, s in self.pitch_hist] + [self.unpitched_s], default=0)
        for label, s in self.pitch_hist:
            lines.append(f"  {label:<16} {_dur(s):>9}  {bar(s, most)}")
        lines.append(f"  {'unpitched':<16} {_dur(self.unpitched_s):>9}  {bar(self.unpitched_s, most)}")
        lines.append("loudness (dBFS RMS)")
        most = max((s for _, s in self.loudness_hist), default=0)
        for label, s in self.loudness_hist:
            lines.append(f"  {label:<16} {_dur(s):>9}  {bar(s, most)}")
        return "\n".join(lines)


def _dur(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def coverage(db: sqlite_utils.Database, ref) -> Coverage:
    info = version_info(db, ref)
    clips = version_clips(db, info.id)
    cov = Coverage(info.ref, len(clips), float(sum(s.clip.duration_s for s in clips)))
    by_symbol: dict[str, list] = {}
    by_person: dict[str, float] = {}
    pitched, lows, highs, weights = [], [], [], []
    loud = np.zeros(len(LOUDNESS_BINS) + 1)
    for sc in clips:
        d, dur = sc.descriptors, sc.clip.duration_s
        for sym in sc.clip.symbols:
            entry = by_symbol.setdefault(sym, [0, 0.0])
            entry[0] += 1
            entry[1] += dur
        people = sc.clip.who or ("(nobody)",)
        for who in people:
            by_person[who] = by_person.get(who, 0.0) + dur / len(people)
        if d.get("pitch_hz"):
            pitched.append((d["pitch_hz"], dur))
            lows.append(d.get("pitch_low_hz") or d["pitch_hz"])
            highs.append(d.get("pitch_high_hz") or d["pitch_hz"])
            weights.append(dur)
        else:
            cov.unpitched_s += dur
        if d.get("loudness_db") is not None:
            loud[int(np.searchsorted(LOUDNESS_BINS, d["loudness_db"], side="right"))] += dur
    cov.per_symbol = sorted(((s, n, sec) for s, (n, sec) in by_symbol.items()), key=lambda t: -t[2])
    total_people = sum(by_person.values()) or 1.0
    cov.per_person = sorted(((w, s, s / total_people) for w, s in by_person.items()), key=lambda t: -t[1])
    if pitched:
        octaves: dict[int, float] = {}
        for hz, dur in pitched:
            midi = 69 + 12 * np.log2(hz / 440.0)
            octave = int(np.floor(round(midi) / 12)) - 1
            octaves[octave] = octaves.get(octave, 0.0) + dur
        cov.pitch_hist = [(f"C{o}-B{o}", octaves[o]) for o in sorted(octaves)]
        lo = _weighted_percentile(np.array(lows), np.array(weights), 5)
        hi = _weighted_percentile(np.array(highs), np.array(weights), 95)
        cov.pitch_range_hz = (lo, hi)
        cov.pitch_range = (hz_to_note(lo), hz_to_note(hi))
    labels = [f"< {LOUDNESS_BINS[0]}"] + [f"{a} to {b}" for a, b in zip(LOUDNESS_BINS, LOUDNESS_BINS[1:])] + \
             [f">= {LOUDNESS_BINS[-1]}"]
    cov.loudness_hist = [(lab, float(s)) for lab, s in zip(labels, loud) if s > 0]
    return cov


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(q / 100 * w.sum(), cum, v))
