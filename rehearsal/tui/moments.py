"""Moments to review: markers with their take, how many people agreed, filters and order.

Agreement is how many different people (or devices, for unmapped sources) tagged within
`window_s` of a moment, in the same take, whatever symbol they chose: three people
stamping on their pedals at once is what a collective means by "that one".
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..store.markers import Marker

AGREEMENT_WINDOW_S = 4.0
SORTS = ("time", "agreement")


@dataclass(frozen=True)
class Moment:
    marker: Marker
    take: dict            # the takes row (number, sample_rate, path, ...)
    agreement: int = 1

    @property
    def id(self) -> int:
        return self.marker.id

    @property
    def sample_rate(self) -> int:
        return self.take["sample_rate"]

    @property
    def tap_s(self) -> float:
        return self.marker.tap_sample / self.sample_rate

    @property
    def start_s(self) -> float:
        return self.marker.start_sample / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.marker.end_sample / self.sample_rate


def agreement(markers: list[Marker], sample_rate: int, window_s: float = AGREEMENT_WINDOW_S) -> dict[int, int]:
    """marker id -> number of distinct `who` tagging within window_s of it (itself included)."""
    ordered = sorted(markers, key=lambda m: m.tap_sample)
    taps = [m.tap_sample for m in ordered]
    w = round(window_s * sample_rate)
    out = {}
    for m in ordered:
        lo = bisect.bisect_left(taps, m.tap_sample - w)
        hi = bisect.bisect_right(taps, m.tap_sample + w)
        out[m.id] = len({o.who for o in ordered[lo:hi]})
    return out


def moments_of(markers_by_take: list[tuple[dict, list[Marker]]], window_s: float = AGREEMENT_WINDOW_S) -> list[Moment]:
    out = []
    for take, markers in markers_by_take:
        agree = agreement(markers, take["sample_rate"], window_s)
        out.extend(Moment(m, take, agree[m.id]) for m in markers)
    return out


@dataclass(frozen=True)
class Filter:
    symbol: str | None = None
    who: str | None = None
    source: str | None = None

    def keep(self, m: Moment) -> bool:
        mk = m.marker
        return ((self.symbol is None or mk.symbol == self.symbol) and (self.who is None or mk.who == self.who)
                and (self.source is None or mk.source == self.source))


def select(moments: list[Moment], flt: Filter, sort: str = "time") -> list[Moment]:
    if sort not in SORTS:
        raise ValueError(f"sort by {sort!r}: one of {', '.join(SORTS)}")
    kept = [m for m in moments if flt.keep(m)]
    by_time = lambda m: (m.take["number"], m.marker.tap_sample, m.id)  # noqa: E731
    if sort == "agreement":
        return sorted(kept, key=lambda m: (-m.agreement, *by_time(m)))
    return sorted(kept, key=by_time)


def clock(seconds: float, tenths: bool = True) -> str:
    """m:ss.t (or h:mm:ss.t): how musicians read a position in a take."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:04.1f}" if tenths else f"{int(s):02d}"
    return f"{sign}{int(h)}:{int(m):02d}:{sec}" if h >= 1 else f"{sign}{int(m)}:{sec}"
