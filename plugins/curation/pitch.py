"""Pitch range: keep one register (e.g. C3 to C5) per model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rehearsal.curation import Filter, StepParamError, hz_to_note, note_to_hz


@dataclass
class PitchRange(Filter):
    """Keep clips whose pitch stays within `low`..`high` (note names like "C3", or Hz): the
    10th and 90th percentiles of the clip's confidently pitched frames must both lie inside.
    Clips with less than `min_pitched` of their sounding frames pitched are `unpitched`:
    dropped by default, or kept with `unpitched = "keep"`."""

    low: str | float = "C2"
    high: str | float = "C6"
    min_pitched: float = 0.5
    unpitched: Literal["drop", "keep"] = "drop"
    low_hz: float = field(init=False, default=0.0)
    high_hz: float = field(init=False, default=0.0)

    def __post_init__(self):
        for name in ("low", "high"):
            try:
                setattr(self, f"{name}_hz", note_to_hz(getattr(self, name)))
            except ValueError as exc:
                raise StepParamError(name, str(exc)) from None
        if self.low_hz >= self.high_hz:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if not 0 <= self.min_pitched <= 1:
            raise ValueError(f"min_pitched must be between 0 and 1, got {self.min_pitched}")

    def params(self):
        return {"low": self.low, "high": self.high, "min_pitched": self.min_pitched, "unpitched": self.unpitched}

    def reject(self, clip, ctx):
        d = ctx.descriptors(clip)
        if d["pitch_hz"] is None or d["pitched_fraction"] < self.min_pitched:
            if self.unpitched == "keep":
                return None
            return f"unpitched: {d['pitched_fraction'] * 100:.0f}% of sounding frames pitched"
        lo, hi = d["pitch_low_hz"], d["pitch_high_hz"]
        if lo < self.low_hz * 0.985 or hi > self.high_hz * 1.015:   # a quarter of a semitone of tolerance
            return (f"pitch {hz_to_note(lo)}-{hz_to_note(hi)} ({lo:.0f}-{hi:.0f} Hz) leaves "
                    f"{hz_to_note(self.low_hz)}-{hz_to_note(self.high_hz)}")
        return None
