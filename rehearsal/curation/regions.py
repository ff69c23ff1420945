"""Regions as sets of time, and regions that follow the music.

Interval arithmetic on sample positions (half-open `[start, end)`):

    union([(0, 10), (5, 20), (30, 40)])        -> [(0, 20), (30, 40)]
    subtract([(0, 20)], [(5, 8)])              -> [(0, 5), (8, 20)]

Phrase boundaries come from a take's cached frame descriptors (analysis.FrameDescriptors):
silence (frames below `silence_db` for at least `min_gap_s`) and novelty (a change of level
or timbre: the distance between the mean standardised descriptors before and after each
frame, over `novelty_s` on each side). `PhraseFinder.region(tap, lo, hi)` returns the
phrase a tap refers to: it ends on the strongest boundary shortly before the tap (players
tap after they hear the phrase end) and starts on the latest clear boundary before that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import FrameDescriptors

Interval = tuple[int, int]


def union(intervals) -> list[Interval]:
    """Sorted, merged (overlapping or touching) intervals; empty ones left out."""
    out: list[list[int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in intervals if e > s):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def subtract(keep, remove) -> list[Interval]:
    """`keep` minus `remove`: what of `keep` no interval of `remove` covers."""
    keep, remove = union(keep), union(remove)
    out, j = [], 0
    for s, e in keep:
        while j < len(remove) and remove[j][1] <= s:
            j += 1
        k, pos = j, s
        while k < len(remove) and remove[k][0] < e:
            if remove[k][0] > pos:
                out.append((pos, remove[k][0]))
            pos = max(pos, remove[k][1])
            k += 1
        if pos < e:
            out.append((pos, e))
    return out


def intersect(a: Interval, b: Interval) -> int:
    """Samples two intervals share."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def total(intervals) -> int:
    return sum(e - s for s, e in union(intervals))


@dataclass(frozen=True)
class Boundary:
    sample: int
    kind: str          # "silence-start" (a phrase ends), "silence-end" (one starts), "novelty"
    strength: float

    @property
    def can_end(self) -> bool:
        return self.kind != "silence-end"

    @property
    def can_start(self) -> bool:
        return self.kind != "silence-start"


SILENCE_STRENGTH = 100.0
DIP_S, DIP_DB = 0.1, 18.0   # a dip in sound: this far below the loudest frame this close on each side
GAP_REACH = 4 / 3        # a covering region goes back to a short quiet run this many novelty_s before its start
WEAK_NOVELTY = 0.75      # a weak change: novelty this fraction of min_novelty (a covering region's start where no boundary shows one)
SILENCE_MARGIN_S = 0.1   # a covering region's margin before a start found on the first frame of a silence


class PhraseFinder:
    """Phrase boundaries of one take, computed once from its frame descriptors."""

    def __init__(self, fd: FrameDescriptors, silence_db: float = -50.0, min_gap_s: float = 0.25,
                 novelty_s: float = 0.75, min_novelty: float = 1.2):
        self.fd, self.sr = fd, fd.sample_rate
        self.min_novelty = min_novelty
        hop = fd.hop
        loud = np.nan_to_num(fd.loudness_db.astype(np.float64), nan=-120.0)
        active = loud >= silence_db
        n = len(loud)
        centre = lambda i: int(fd.frame_centre(i))   # noqa: E731
        bounds: list[Boundary] = []
        self.novelty_s = novelty_s
        self.gaps: list[int] = []    # starts of quiet runs too short to be a silence, and of dips
        # silence runs
        min_gap = max(1, int(round(min_gap_s * self.sr / hop)))
        edges = np.flatnonzero(np.diff(np.concatenate([[1], active.astype(np.int8), [1]])))
        for a, b in zip(edges[0::2], edges[1::2]):   # inactive runs [a, b)
            if b - a < min_gap:
                if 0 < a and b < n:   # a short quiet run inside sound: novelty is blind beside it
                    self.gaps.append(centre(a) - hop // 2)
            else:
                if a > 0:
                    bounds.append(Boundary(centre(a) - hop // 2, "silence-start", SILENCE_STRENGTH))
                if b < n:
                    bounds.append(Boundary(centre(b) - hop // 2, "silence-end", SILENCE_STRENGTH))
        # a dip: a frame in sound DIP_DB below the loudest of the frames DIP_S on each side
        # (a phrase ended and the next began, with no quiet run between)
        w = max(1, int(round(DIP_S * self.sr / hop)))
        if n > 2 * w:
            win = np.lib.stride_tricks.sliding_window_view(np.pad(loud, w, constant_values=-120.0), w)
            before, after = win[:n].max(axis=1), win[w + 1:w + 1 + n].max(axis=1)
            dip = active & (loud <= before - DIP_DB) & (loud <= after - DIP_DB)
            runs = np.flatnonzero(dip & ~np.concatenate([[False], dip[:-1]]))
            self.gaps += [centre(i) - hop // 2 for i in runs]
        self._gaps = np.array(sorted(self.gaps), dtype=np.int64)
        # novelty: level and timbre changes inside sound, at two time scales (a long window
        # finds clear changes, a short one the changes next to short phrases, held to a higher bar)
        self.novelty = np.zeros(n)
        if active.any():
            feats = np.stack([
                np.clip(loud, -80.0, 0.0),
                np.log2(np.maximum(fd.centroid_hz.astype(np.float64), 50.0)),
                np.log10(np.maximum(np.nan_to_num(fd.flatness.astype(np.float64)), 1e-4)),
                np.nan_to_num(fd.pitch_confidence.astype(np.float64)),
            ], axis=1)
            mu, sd = feats[active].mean(axis=0), feats[active].std(axis=0)
            z = (feats - mu) / np.where(sd > 1e-9, sd, 1.0)
            cs = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
            act = np.concatenate([[0], np.cumsum(active)])
            found: list[Boundary] = []
            for scale, bar in ((novelty_s, min_novelty), (novelty_s / 2, min_novelty * 4 / 3)):
                half = max(2, int(round(scale * self.sr / hop)))
                if n <= 2 * half:
                    continue
                i = np.arange(half, n - half)
                diff = ((cs[i + half] - cs[i]) - (cs[i] - cs[i - half])) / half
                nov = np.sqrt((diff ** 2).sum(axis=1))
                # only where both sides are sound: silence edges are found above
                both = ((act[i] - act[i - half]) >= half) & ((act[i + half] - act[i]) >= half)
                nov = np.where(both, nov, 0.0)
                self.novelty[i] = np.maximum(self.novelty[i], nov)
                for k in np.flatnonzero(nov >= bar):
                    lo, hi = max(0, k - half), min(len(nov), k + half + 1)
                    if nov[k] == nov[lo:hi].max() and (k == lo or nov[k] > nov[k - 1]):
                        at = int(centre(i[k])) - hop // 2
                        if all(abs(at - f.sample) > 0.15 * self.sr for f in found):
                            found.append(Boundary(at, "novelty", float(nov[k] / bar * min_novelty)))
            bounds.extend(found)
        bounds.sort(key=lambda b: b.sample)
        self.boundaries = bounds
        self._samples = np.array([b.sample for b in bounds], dtype=np.int64)

    def _weak_change(self, lo: int, hi: int) -> int | None:
        """The earliest local peak of novelty in [lo, hi) at WEAK_NOVELTY of the bar, or None."""
        sl = self.fd.frames_between(lo, hi + 1)
        nv = self.novelty[sl]
        if len(nv) < 3:
            return None
        k = np.flatnonzero((nv[1:-1] >= WEAK_NOVELTY * self.min_novelty) & (nv[1:-1] >= nv[:-2]) & (nv[1:-1] >= nv[2:]))
        return int(self.fd.frame_centre(sl.start + 1 + k[0])) - self.fd.hop // 2 if len(k) else None

    def between(self, lo: int, hi: int) -> list[Boundary]:
        a, b = np.searchsorted(self._samples, [lo, hi])
        return self.boundaries[a:b]

    def region(self, tap: int, lo: int, hi: int, max_delay_s: float = 2.0, min_delay_s: float = 0.05,
               min_phrase_s: float = 0.5, cover: bool = False, margin_s: float = 0.3,
               guard_s: float = 0.05, taps=(), others=(), mates=(), next_own: int | None = None) -> tuple[int, int, str] | None:
        """(start, end, how) of the phrase a tap at `tap` refers to, inside [lo, hi); None if
        the window leaves no room for a phrase. Where no boundary shows the end, the phrase
        is taken to end `max_delay_s` before the tap (it surely lasted that long). With `cover` (a region that must hold all of the
        phrase: what is dropped) it reaches to the tap and starts `margin_s` earlier; without,
        ends found from novelty move `guard_s` inwards (they are placed to a few frames).
        `taps` (every tap of the take) bound the start: a tap before this phrase's end marks
        an earlier phrase, which ended at most `max_delay_s` before it; with no silence
        between, a kept region starts there (a dropped neighbour's covering region takes
        its share back). `others` (the other taps of the person who made this one) rule out
        an end that such a tap follows before this one: a person taps each phrase once, so
        that tap refers to an earlier phrase, and this one ended after it (two phrases end
        close together, the stronger change being the earlier one). Where that rules out
        every end of a covering region, or no boundary showed its end and the guess lies
        before such a tap, it ends after the latest such tap; and every such tap bounds a
        covering region's start as a tap of an earlier phrase does. A covering region
        starts no later than the latest tap of an earlier phrase where sound goes on from
        that tap (no silence ends between): that sound is this phrase's. `mates` (taps
        of the same symbol by other people) bound a covering region that reaches to its tap:
        another person's tap between the phrase's end and this one followed the same phrase.
        `next_own` (this person's next tap, within `max_delay_s`) refers to the next phrase:
        where the end chosen here is also the clearest end before that tap, it is that
        phrase's, and this one ended at least `min_phrase_s` before it."""
        sr = self.sr
        guess = max(lo, tap - int(max_delay_s * sr))   # the end where no boundary shows it
        ends = [b for b in self.between(guess, min(hi, tap - int(min_delay_s * sr)) + 1)
                if b.can_end]
        md = int(min_delay_s * sr)
        ruled = [t for t in others if lo < t < tap - md]
        later = [b for b in ends if not any(b.sample + md < t for t in ruled)]
        if ruled and cover and (ends and not later or not ends and max(ruled) > guess):
            # every boundary is followed by another tap of this person's (or none showed the
            # end, and the guess lies before such a tap): those refer to phrases before this
            # one, so this one ended after the latest of them
            ends = [Boundary(max(ruled), "tap", 0.0)]
        else:
            ends = later or ends
        if ends:
            end_b = max(ends, key=lambda b: (b.strength, b.sample))
            end, how_end = end_b.sample, f"ends at the {end_b.kind} at {end_b.sample / sr:.2f} s"
            if cover and next_own is not None and end_b.kind != "tap":
                theirs = [b for b in self.between(next_own - int(max_delay_s * sr), next_own - md + 1) if b.can_end]
                if theirs and max(theirs, key=lambda b: (b.strength, b.sample)).sample == end_b.sample:
                    # the next tap of this person's followed the phrase that ends there (taps
                    # come in the order of the phrases): this one ended before that one began
                    before = [b for b in ends if b.sample <= end_b.sample - int(min_phrase_s * sr)]
                    if before:
                        end_b = max(before, key=lambda b: (b.strength, b.sample))
                        end, how_end = end_b.sample, (f"ends at the {end_b.kind} at {end_b.sample / sr:.2f} s "
                                                      f"(the one at {end / sr:.2f} s is their next tap's)")
        else:
            # no boundary shows the end: the phrase went on at least until max_delay before the tap
            end, how_end = guess, f"no clear end: ends {max_delay_s:g} s before the tap"
        # taps of earlier phrases: before this one's end. A covering region's end found from
        # a change is placed to a margin, and another person's tap that close after it may
        # be theirs of this same phrase (the region must not start after this phrase did)
        slack = int(margin_s * sr) if cover and ends and end_b.kind == "novelty" else 0
        own = set(others)
        earlier = [t for t in taps if t < end - md - (0 if t in own else slack)]
        if cover:   # this person's own taps before this one all mark earlier phrases
            earlier = sorted(set(earlier) | set(ruled))
        floor = max([lo] + [int(t) - int(max_delay_s * sr) for t in earlier])
        starts = [b for b in self.between(floor, end - int(min_phrase_s * sr) + 1) if b.can_start or cover]
        clear = [b for b in starts if b.strength >= 2 * self.min_novelty]
        if starts:
            if floor > lo and cover:
                # all of what is dropped: from the earliest change since the phrase before can
                # have ended, its end included (sparse sounds, knocks with silence between,
                # start after a silence; the strongest change was often a later knock)
                start_b = starts[0]
            elif floor > lo:   # the phrase before is known: the strongest change since it ended
                start_b = max(starts, key=lambda b: (b.strength, b.sample))
                if start_b.kind != "silence-end" and not cover:
                    # no silence between: a kept phrase starts where the one before may have
                    # ended (what of that was dropped is covered by its own region)
                    starts = []
            else:                      # the latest clear change, else the latest change
                start_b = (clear or starts)[-1]
            start, how_start = start_b.sample, f"starts at the {start_b.kind} at {start_b.sample / sr:.2f} s"
        weak = self._weak_change(floor, end - int(min_phrase_s * sr)) if cover and not starts and floor > lo else None
        if weak is not None:
            # no clear change since the phrase before can have ended: the earliest weaker one
            # (a change of level or timbre a player hears, under the bar of a boundary) is
            # still later than that floor, and no later than where this phrase began
            start, how_start = weak, f"starts at the weak change at {weak / sr:.2f} s"
        elif not starts and floor > lo:
            start, how_start = floor, f"starts {max_delay_s:g} s before the tap of the phrase before"
        elif not starts:
            start, how_start = lo, "starts where the window starts"
        if cover and earlier and start > max(earlier) - md and not any(
                b.kind == "silence-end" for b in self.between(max(earlier), start + 1)):
            # the phrase before ended before its tap, and sound went on from that tap to here:
            # that sound is this phrase's (a change found inside it is not where it started)
            start, how_start = max(earlier) - md, "starts at the tap of the phrase before"
        if end <= start and not cover:
            return None
        how = f"phrase: {how_start}, {how_end}"
        guard = int(guard_s * sr)   # a change of level or timbre is placed to a few frames: stay inside
        if not cover and ends and end_b.kind == "novelty":
            end -= guard
        if not cover and starts and start_b.kind == "novelty":
            start += guard
        if end <= start:
            return None
        if cover and not (starts and start_b.kind == "silence-end"):
            # novelty needs sound on both sides of its window, so a phrase that starts softly
            # after a short quiet run (shorter than a silence) shows its change only once the
            # window has left that run (up to its half, 0.75 s, and the peak's own width), and
            # a phrase that opens with such a run shows none: what is dropped starts at the
            # earliest such run that close before the start found
            first = np.searchsorted(self._gaps, max(lo, start - int(GAP_REACH * self.novelty_s * sr)))
            if first < len(self._gaps) and self._gaps[first] < start:
                start = int(self._gaps[first])
                how_start += f", back to the short quiet at {start / sr:.2f} s"
                how = f"phrase: {how_start}, {how_end}"
        if cover:   # all of the phrase: to the tap (it ended before), a margin earlier. Never only
            # past the end found: a change inside a sound that goes on (a helicopter's chop, a
            # noise's own swell) looks as clear as its end, and what is dropped must hold all of it
            # another person's tap after the end found follows this phrase; where no boundary
            # showed the end (it is only a guess, max_delay before the tap), such a tap may
            # be theirs of the phrase before, and this phrase may go on past it; so too where
            # the end is only this person's own earlier tap (no boundary showed it either)
            shown = ends and end_b.kind != "tap"
            reach = min([t for t in (mates if shown else ()) if end < t < tap] + [tap])
            end = min(hi, max(end, reach))
            # a start on the first quiet frame after the phrase before is placed to the frame,
            # not to a few tenths as a change of level or timbre is: a smaller margin there
            at_silence = bool(starts) and start_b.kind == "silence-start" and start == start_b.sample
            margin = min(margin_s, SILENCE_MARGIN_S) if at_silence else margin_s
            start = max(lo, start - int(margin * sr))
            how += f"; covering: {margin:g} s earlier, to the tap"
        return start, end, how
