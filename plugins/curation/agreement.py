"""Agreement: decide each moment's symbol from everyone who tagged it, by a named rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rehearsal.curation import Clip, Step
from rehearsal.curation.clips import sound_vector
from rehearsal.curation.regions import subtract


@dataclass
class Agreement(Step):
    """Keep a moment only if at least `min_people` different people tagged it with the same
    symbols. Tags of one take whose regions share at least `min_overlap` of the shorter one
    (`overlap_of = "longer"`: of the longer one, so that a short region lying inside a long
    neighbour's, as a phrase's covering region inside the next phrase's, is not taken for
    the same moment) are the same moment; with `once_each`, a moment holds at most one tag
    of each person (a person tags a moment once: two of their tags are two moments, and a
    chain of overlaps never joins neighbouring moments); they become one clip spanning their `union` (or `intersection`)
    and naming everyone who tagged it. With `symbols`, only those symbols need agreement.

    `rule` names how a moment tagged differently by different people is decided (tags of all
    concerned symbols are then grouped together, whatever their symbol):
    - "at-least" (default): the above, `min_people` per symbol;
    - "majority": the symbol most people gave wins; a tie drops the moment, unless `veto`
      is among the tied symbols;
    - "veto": anyone's `veto` symbol (e.g. "bad") wins; otherwise the majority;
    - "person": `person`'s word wins where they tagged the moment; otherwise the majority.
    The merged clip names only the people who agreed on the winning symbol (`who`), and its
    reason names who said otherwise. Run it before select-symbols: agreement decides each
    moment's symbol first, then "drop" applies without exception."""

    min_people: int = 2
    min_overlap: float = 0.5
    overlap_of: Literal["shorter", "longer"] = "shorter"
    once_each: bool = False
    bounds: Literal["union", "intersection"] = "union"
    symbols: tuple[str, ...] = ()
    rule: Literal["at-least", "majority", "veto", "person"] = "at-least"
    veto: str = ""
    person: str = ""
    tie: Literal["rule", "sound"] = "rule"
    sound_distance: float = 1.0
    sound_ratio: float = 1 / 3
    tie_margin_s: float = 0.3

    def __post_init__(self):
        if self.tie not in ("rule", "sound"):
            raise ValueError(f'tie must be "rule" or "sound", got {self.tie!r}')
        if self.sound_distance <= 0 or not 0 < self.sound_ratio < 1:
            raise ValueError(f"need sound_distance > 0 and 0 < sound_ratio < 1, got {self.sound_distance} "
                             f"and {self.sound_ratio}")
        if self.tie_margin_s < 0:
            raise ValueError(f"tie_margin_s must be 0 or more, got {self.tie_margin_s}")
        if self.min_people < 1:
            raise ValueError(f"min_people must be at least 1, got {self.min_people}")
        if self.rule not in ("at-least", "majority", "veto", "person"):
            raise ValueError(f"rule must be at-least, majority, veto or person, got {self.rule!r}")
        if self.rule == "veto" and not self.veto:
            raise ValueError('rule "veto" needs veto = "<symbol>" (e.g. "bad")')
        if self.rule == "person" and not self.person:
            raise ValueError('rule "person" needs person = "<name>"')
        if self.overlap_of not in ("shorter", "longer"):
            raise ValueError(f"overlap_of must be shorter or longer, got {self.overlap_of!r}")
        if not 0 < self.min_overlap <= 1:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}")

    def _concerned(self, clip: Clip) -> bool:
        return not self.symbols or any(s in self.symbols for s in clip.symbols)

    def apply(self, clips, ctx):
        if self.rule != "at-least":
            return self._decide(clips, ctx)
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(clips):
            if self._concerned(c):
                groups.setdefault((c.take_id, c.symbols), []).append(i)
        out: dict[int, Clip | None] = {}   # index of the first member -> merged clip
        consumed = set()
        for members in groups.values():
            for cluster in _clusters([clips[i] for i in members], members, self.min_overlap, self.overlap_of, self.once_each):
                people = sorted({w for i in cluster for w in clips[i].who})
                first = cluster[0]
                if len(people) < self.min_people:
                    for i in cluster:
                        ctx.drop(clips[i], f"tagged by {len(people)} ({', '.join(people) or 'nobody'}); "
                                           f"{self.min_people} needed")
                        consumed.add(i)
                    continue
                if len(cluster) == 1:
                    continue   # one tag is enough (min_people 1, or one tag naming several people)
                merged = _merge([clips[i] for i in cluster], people, self.bounds)
                for i in cluster:
                    ctx.replace(clips[i], [merged], f"{len(people)} people agreed ({', '.join(people)})")
                    consumed.add(i)
                out[first] = merged
        result = []
        for i, c in enumerate(clips):
            if i in out:
                result.append(out[i])
            elif i not in consumed:
                result.append(c)
        return result


    def _decide(self, clips, ctx):
        groups: dict[int, list[int]] = {}
        for i, c in enumerate(clips):
            if self._concerned(c):
                groups.setdefault(c.take_id, []).append(i)
        out: dict[int, list[Clip]] = {}
        consumed = set()
        for take_id, members in groups.items():
            decided, ties = [], []
            for cluster in _clusters([clips[i] for i in members], members, self.min_overlap, self.overlap_of, self.once_each):
                said: dict[str, set[str]] = {}     # symbol -> people who gave it
                for i in cluster:
                    for sym in clips[i].symbols:
                        said.setdefault(sym, set()).update(clips[i].who)
                if len(said) == 1 and len(cluster) == 1:
                    decided.append((clips[cluster[0]], clips[cluster[0]].symbols[0]))   # nobody disagrees
                    continue
                winner, how, tied = self._winner(said)
                consumed.update(cluster)
                if tied and self.tie == "sound":
                    ties.append((cluster, said, winner, how, tied))
                    continue
                self._settle(clips, cluster, said, winner, how, out, ctx, decided)
            if ties:
                heard = _Heard(ctx.frames(take_id), decided)
                for cluster, said, winner, how, tied in ties:
                    core = _core([clips[i] for i in cluster])
                    by_sound = heard.decide(core, tied, self.sound_distance, self.sound_ratio)
                    if by_sound is None:
                        self._settle(clips, cluster, said, winner, how, out, ctx)
                        continue
                    sym, near, far = by_sound
                    how = (f"a tie between {', '.join(tied)}, decided by the sound: like this take's moments "
                           f"agreed {sym} ({near:.2f} against {far:.2f})")
                    self._settle(clips, cluster, said, sym, how, out, ctx, keep_veto=True)
        return [x for i, c in enumerate(clips) if i in out or i not in consumed for x in (out.get(i) or [c])]

    def _settle(self, clips, cluster, said, winner, how, out, ctx, decided=None, keep_veto=False) -> None:
        """Replace `cluster`'s clips by one clip of `winner` (or drop them all: no winner).
        `keep_veto`: what the veto symbol's regions hold beyond the winner's stays, under the
        veto symbol (a tie decided by the sound keeps the phrase, not what a covering region
        reached into)."""
        if winner is None:
            for i in cluster:
                ctx.drop(clips[i], f"no agreement ({how})")
            return
        agreed = sorted(said[winner])
        others = "; ".join(f"{', '.join(sorted(p))} said {s}" for s, p in sorted(said.items()) if s != winner)
        pick = [clips[i] for i in cluster if winner in clips[i].symbols]
        merged = _merge(pick, agreed, self.bounds, (winner,))
        reason = f"{', '.join(agreed)} agreed on {winner} ({how})" + (f"; {others}" if others else "")
        made = [merged]
        for i in cluster:
            c = clips[i]
            if keep_veto and self.veto and self.veto in c.symbols and winner not in c.symbols:
                beyond = [c.with_bounds(*self._next_to(s, e, c, merged))
                          for s, e in subtract([(c.start, c.end)], [(merged.start, merged.end)])]
                made.extend(beyond)
                ctx.replace(c, [merged] + beyond, reason + (f"; what {', '.join(c.who)}'s {self.veto} covered "
                                                            f"beyond it stays {self.veto}" if beyond else ""))
            else:
                ctx.replace(c, [merged], reason)
        out[cluster[0]] = made
        if decided is not None:
            decided.append((merged, winner))

    def _next_to(self, s: int, e: int, veto: Clip, kept: Clip) -> tuple[int, int]:
        """A part [s, e) of the veto's region beyond the kept moment. Where it goes on for more
        than `tie_margin_s`, it is another moment next to this one (a covering region reaching
        on to its tap, or back to the phrase's start), and the kept moment's edge there was found
        from a change, placed to a few tenths of a second: that much of the kept moment next to
        it stays under the veto too (as a covering region's own margin does)."""
        m = int(self.tie_margin_s * veto.sample_rate)
        if e - s > m:
            if s == kept.end:
                s = max(veto.start, kept.start, s - m)
            if e == kept.start:
                e = min(veto.end, kept.end, e + m)
        return s, e

    def _winner(self, said: dict[str, set[str]]) -> tuple[str | None, str, list[str]]:
        """(winner or None, how, the tied symbols where a tie decided it, else [])."""
        if self.rule == "veto" and self.veto in said:
            return self.veto, f"{', '.join(sorted(said[self.veto]))}'s {self.veto} vetoes", []
        if self.rule == "person":
            theirs = [s for s, p in said.items() if self.person in p]
            if len(theirs) == 1:
                return theirs[0], f"{self.person}'s word wins", []
        top = max(len(p) for p in said.values())
        tied = sorted(s for s, p in said.items() if len(p) == top)
        if len(tied) == 1:
            return tied[0], f"majority, {top} of {len(set().union(*said.values()))}", []
        if self.veto and self.veto in tied:
            return self.veto, f"a tie between {', '.join(tied)}; {self.veto} vetoes", tied
        return None, f"a tie between {', '.join(tied)}", tied


class _Heard:
    """The moments of one take decided without a tie, as sound vectors per symbol, to tell
    what a tied moment sounds like (standardised by the spread of those moments)."""

    def __init__(self, fd, decided):
        self.fd = fd
        self.refs: dict[str, list[np.ndarray]] = {}
        for clip, symbol in decided:
            v = sound_vector(fd, clip.start, clip.end)
            if v is not None:
                self.refs.setdefault(symbol, []).append(v)
        every = [v for vs in self.refs.values() for v in vs]
        self.scale = np.std(every, axis=0) if len(every) > 1 else None

    def decide(self, region, tied, distance: float, ratio: float):
        """(symbol, mean distance to its two nearest moments, distance to the nearest moment
        agreed another symbol) where `region` is clearly like the moments agreed one of
        `tied`, else None."""
        if self.scale is None or not np.all(self.scale > 1e-9):
            return None
        v = sound_vector(self.fd, *region)
        if v is None:
            return None
        dist = {s: np.sort(np.sqrt((((np.array(vs) - v) / self.scale) ** 2).sum(axis=1)))
                for s, vs in self.refs.items() if len(vs) >= 2}
        if any(s not in dist for s in tied):
            return None    # too few agreed moments of a tied symbol to compare with
        for s in tied:   # every tied symbol is in `dist`: there is always another to compare with
            # like two of the moments agreed `s` (one alone may be a look-alike), and nearer by
            # `ratio` than the single nearest moment agreed anything else
            near = float(dist[s][:2].mean())
            far = min(float(d[0]) for t, d in dist.items() if t != s)
            if near <= distance and near <= ratio * far:
                return s, near, far
        return None


def _core(members: list[Clip]) -> tuple[int, int]:
    """The part of a moment every tag's region holds (the shortest region where they share none)."""
    s, e = max(c.start for c in members), min(c.end for c in members)
    if s < e:
        return s, e
    c = min(members, key=lambda c: c.end - c.start)
    return c.start, c.end


def _clusters(clips: list[Clip], idx: list[int], min_overlap: float, of: str = "shorter",
              once_each: bool = False) -> list[list[int]]:
    """Connected groups of clips overlapping by >= min_overlap of the shorter (or longer) one."""
    parent = list(range(len(clips)))
    people = [set(c.who) for c in clips]   # per root: who tagged the group

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    order = sorted(range(len(clips)), key=lambda k: clips[k].start)
    pick = min if of == "shorter" else max
    pairs = []   # (share, a, b): the closest pairs join first
    for pos, a in enumerate(order):
        for b in order[pos + 1:]:
            if clips[b].start >= clips[a].end:
                break
            base = pick(clips[a].end - clips[a].start, clips[b].end - clips[b].start)
            if base > 0 and clips[a].overlap(clips[b]) >= min_overlap * base:
                pairs.append((clips[a].overlap(clips[b]) / base, a, b))
    for _, a, b in sorted(pairs, key=lambda p: -p[0]):
        ra, rb = find(a), find(b)
        if ra == rb or (once_each and people[ra] & people[rb]):
            continue
        parent[ra] = rb
        people[rb] = people[ra] | people[rb]
    groups: dict[int, list[int]] = {}
    for k in order:
        groups.setdefault(find(k), []).append(idx[k])
    return [sorted(g) for g in groups.values()]


def _merge(members: list[Clip], people: list[str], bounds: str, symbols: tuple[str, ...] | None = None) -> Clip:
    start, end = min(c.start for c in members), max(c.end for c in members)
    if bounds == "intersection":
        s, e = max(c.start for c in members), min(c.end for c in members)
        if s < e:
            start, end = s, e
    taps = sorted(c.tap for c in members if c.tap is not None)
    markers = tuple(sorted({m for c in members for m in c.marker_ids}))
    first = members[0]
    return Clip(first.take_id, start, end, first.sample_rate, symbols or first.symbols, tuple(people), markers,
                taps[len(taps) // 2] if taps else None)
