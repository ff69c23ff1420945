"""Regions: re-cut from taps (snapped to onsets), trim silence, segment into chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rehearsal.curation import Transform
from rehearsal.curation.regions import PhraseFinder


def _nearest(onsets: np.ndarray, target: int, within: int) -> int | None:
    if len(onsets) == 0:
        return None
    i = int(np.argmin(np.abs(onsets - target)))
    return int(onsets[i]) if abs(int(onsets[i]) - target) <= within else None


@dataclass
class RegionFromTaps(Transform):
    """Re-cut each tagged clip from its tap. The window is [tap - before_s, tap + after_s]
    (default: the symbol's `before` / `after` in the notation the take was recorded with).

    `mode = "window"` keeps that window, then moves its start (and with `snap = "both"` its
    end) to the nearest onset within `snap_within_s`, so clips begin on an attack.
    `mode = "phrase"` finds, inside the window, the phrase the tap refers to from the take's
    cached descriptors (silence, change of level or timbre; see rehearsal.curation.regions):
    it ends on the strongest boundary `min_delay_s`..`max_delay_s` before the tap and starts
    on the latest clear boundary before that. Where no boundary shows the end, the window
    stays. Symbols in `cover` (what a later step drops: no sample of it may stay) reach to
    the tap and start `cover_margin_s` earlier, and keep the whole window where no phrase end
    is found. A notation's `region = "window"` or `"phrase"` (in [defaults] or per symbol)
    wins over `mode` for its symbols. Clips without a tap, and regions a person corrected
    (trimmed), stay as they are."""

    before_s: float | None = None
    after_s: float | None = None
    mode: Literal["window", "phrase"] = "window"
    snap: Literal["start", "both", "none"] = "start"
    snap_within_s: float = 0.5
    max_delay_s: float = 2.0
    min_delay_s: float = 0.05
    min_phrase_s: float = 0.5
    silence_db: float = -50.0
    min_gap_s: float = 0.25
    min_novelty: float = 1.2
    cover: tuple[str, ...] = ()
    cover_margin_s: float = 0.3

    def __post_init__(self):
        for name in ("before_s", "after_s"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if self.snap_within_s < 0:
            raise ValueError(f"snap_within_s must be >= 0, got {self.snap_within_s}")
        if not 0 <= self.min_delay_s < self.max_delay_s:
            raise ValueError(f"need 0 <= min_delay_s < max_delay_s, got {self.min_delay_s} and {self.max_delay_s}")
        self._finders: dict[int, PhraseFinder] = {}

    def finder(self, take_id, ctx) -> PhraseFinder:
        if take_id not in self._finders:
            self._finders[take_id] = PhraseFinder(ctx.frames(take_id), self.silence_db, self.min_gap_s,
                                                  min_novelty=self.min_novelty)
        return self._finders[take_id]

    def apply(self, clips, ctx):
        self._taps = {}
        for c in clips:
            if c.tap is not None:
                self._taps.setdefault(c.take_id, []).append((c.tap, c.who, c.symbols))
        return super().apply(clips, ctx)

    def transform(self, clip, ctx):
        if clip.tap is None or clip.corrected:
            return [clip]
        take = ctx.take(clip.take_id)
        sr = clip.sample_rate
        symbol = ctx.notation(clip.take_id).symbol(clip.symbols[0])
        before = self.before_s if self.before_s is not None else (symbol.before_s if symbol else 8.0)
        after = self.after_s if self.after_s is not None else (symbol.after_s if symbol else 2.0)
        start = max(0, clip.tap - int(round(before * sr)))
        end = min(take["frames"], clip.tap + int(round(after * sr)))
        notes = [f"{before:g} s before to {after:g} s after the tap"]
        mode = (symbol.region if symbol and symbol.region else "") or self.mode
        if mode != self.mode:
            notes.append(f"the notation's {clip.symbols[0]!r} asks for its {mode}")
        if mode == "phrase":
            cover = any(s in self.cover for s in clip.symbols)
            found = self.finder(clip.take_id, ctx).region(clip.tap, start, end, self.max_delay_s,
                                                           self.min_delay_s, self.min_phrase_s,
                                                           cover, self.cover_margin_s,
                                                           taps=sorted(t for t, _, _ in self._taps.get(clip.take_id, ())),
                                                           others=[t for t, w, _ in self._taps.get(clip.take_id, ())
                                                                   if t != clip.tap and set(w) & set(clip.who)],
                                                           mates=_mates(self._taps.get(clip.take_id, ()), clip, int(self.max_delay_s * sr)),
                                                           next_own=_next_own(self._taps.get(clip.take_id, ()), clip, int(self.max_delay_s * sr)))
            if found is not None:
                return [clip.with_bounds(found[0], found[1])], found[2]
            notes.append("no phrase end found before the tap: the window stays")
        if self.snap != "none":
            fd = ctx.frames(clip.take_id)
            within = int(self.snap_within_s * sr)
            s = _nearest(fd.onsets, start, within)
            if s is not None and s < end - fd.hop:
                start = s
                notes.append(f"start on the onset at {s / sr:.3f} s")
            if self.snap == "both":
                e = _nearest(fd.onsets, end, within)
                if e is not None and e > start + fd.hop:
                    end = e
                    notes.append(f"end on the onset at {e / sr:.3f} s")
        if end <= start:
            return "the tap's window lies outside the take"
        new = clip.with_bounds(start, end)
        return [new], ", ".join(notes)


@dataclass
class TrimSilence(Transform):
    """Cut silence (frames below `threshold_db`) from both ends of each clip, keeping `pad_s`
    around the sound. A clip with nothing above the threshold, or less than `min_s` of it,
    is dropped."""

    threshold_db: float = -50.0
    pad_s: float = 0.05
    min_s: float = 0.1

    def transform(self, clip, ctx):
        fd = ctx.frames(clip.take_id)
        sl = fd.frames_between(clip.start, clip.end)
        loud = fd.loudness_db[sl]
        if len(loud) == 0:
            return [clip]
        active = np.flatnonzero(loud >= self.threshold_db)
        if len(active) == 0:
            return f"silent throughout: peak {float(loud.max()):.1f} dBFS < {self.threshold_db:g} dBFS"
        pad = int(self.pad_s * clip.sample_rate)
        half = fd.hop // 2
        start = max(clip.start, int(fd.frame_centre(sl.start + active[0])) - half - pad)
        end = min(clip.end, int(fd.frame_centre(sl.start + active[-1])) + half + pad)
        if (end - start) / clip.sample_rate < self.min_s:
            return f"only {(end - start) / clip.sample_rate:.2f} s above {self.threshold_db:g} dBFS (< {self.min_s:g} s)"
        if start - clip.start < half and clip.end - end < half:
            return [clip]
        cut_head, cut_tail = (start - clip.start) / clip.sample_rate, (clip.end - end) / clip.sample_rate
        return [clip.with_bounds(start, end)], f"trimmed {cut_head:.2f} s of silence at the start, {cut_tail:.2f} s at the end"


@dataclass
class Segment(Transform):
    """Cut clips longer than `max_s` into training chunks, each cut on the last onset that
    leaves a chunk of `min_s` to `max_s` (or at `max_s` where there is none). A last piece
    shorter than `min_s` is merged into the chunk before it (`tail = "merge"`), dropped, or
    kept as it is."""

    max_s: float = 4.0
    min_s: float = 1.0
    tail: Literal["merge", "drop", "keep"] = "merge"

    def __post_init__(self):
        if not 0 < self.min_s < self.max_s:
            raise ValueError(f"need 0 < min_s < max_s, got {self.min_s} and {self.max_s}")

    def transform(self, clip, ctx):
        sr = clip.sample_rate
        if clip.duration_s <= self.max_s:
            return [clip]
        onsets = ctx.frames(clip.take_id).onsets
        lo, hi = int(self.min_s * sr), int(self.max_s * sr)
        pieces, pos, at_onsets = [], clip.start, 0
        while clip.end - pos > hi:
            window = onsets[(onsets > pos + lo) & (onsets <= pos + hi)]
            cut = int(window[-1]) if len(window) else pos + hi
            at_onsets += bool(len(window))
            pieces.append((pos, cut))
            pos = cut
        tail_note = ""
        if clip.end - pos >= lo or self.tail == "keep":
            pieces.append((pos, clip.end))
        elif self.tail == "merge":
            pieces[-1] = (pieces[-1][0], clip.end)
        else:
            tail_note = f"; the last {(clip.end - pos) / sr:.2f} s dropped"
        chunks = [clip.replace(start=s, end=e, tap=clip.tap if clip.tap is not None and s <= clip.tap < e else None)
                  for s, e in pieces]
        return chunks, f"cut into {len(chunks)} chunks ({at_onsets} cuts on onsets){tail_note}"


def _next_own(taps, clip, within: int) -> int | None:
    """The next tap (any symbol) by a person who made `clip`'s, within `within` samples after it."""
    later = [t for t, who, _ in taps if clip.tap < t <= clip.tap + within and set(who) & set(clip.who)]
    return min(later) if later else None


def _mates(taps, clip, within: int) -> list[int]:
    """The taps that may have followed the same phrase as `clip`'s, by other people: each
    other person's tap nearest to it (within `within` samples), where that tap came before
    it and has its symbol. A person taps each phrase once, so their earlier taps followed
    earlier phrases: two bad phrases in a row must not end the second's region at the first
    one's tap; and where their nearest tap comes after this one, that is theirs for this
    phrase and the one before followed an earlier phrase (a slow tap of the phrase before
    must not end a bad region before the bad phrase does)."""
    nearest: dict[str, tuple[int, tuple]] = {}
    for t, who, symbols in taps:
        if t != clip.tap and abs(t - clip.tap) <= within and not set(who) & set(clip.who):
            for person in who:
                if person not in nearest or abs(t - clip.tap) < abs(nearest[person][0] - clip.tap):
                    nearest[person] = (t, symbols)
    return sorted({t for t, symbols in nearest.values() if t < clip.tap and symbols == clip.symbols})
