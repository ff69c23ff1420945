"""Agreement: keep a moment only if enough different people tagged it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rehearsal.curation import Clip, Step


@dataclass
class Agreement(Step):
    """Keep a moment only if at least `min_people` different people tagged it with the same
    symbols. Tags of one take whose regions share at least `min_overlap` of the shorter one
    are the same moment; they become one clip spanning their `union` (or `intersection`)
    and naming everyone who tagged it. With `symbols`, only those symbols need agreement."""

    min_people: int = 2
    min_overlap: float = 0.5
    bounds: Literal["union", "intersection"] = "union"
    symbols: tuple[str, ...] = ()

    def __post_init__(self):
        if self.min_people < 1:
            raise ValueError(f"min_people must be at least 1, got {self.min_people}")
        if not 0 < self.min_overlap <= 1:
            raise ValueError(f"min_overlap must be in (0, 1], got {self.min_overlap}")

    def _concerned(self, clip: Clip) -> bool:
        return not self.symbols or any(s in self.symbols for s in clip.symbols)

    def apply(self, clips, ctx):
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(clips):
            if self._concerned(c):
                groups.setdefault((c.take_id, c.symbols), []).append(i)
        out: dict[int, Clip | None] = {}   # index of the first member -> merged clip
        consumed = set()
        for members in groups.values():
            for cluster in _clusters([clips[i] for i in members], members, self.min_overlap):
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


def _clusters(clips: list[Clip], idx: list[int], min_overlap: float) -> list[list[int]]:
    """Connected groups of clips overlapping by >= min_overlap of the shorter one."""
    parent = list(range(len(clips)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    order = sorted(range(len(clips)), key=lambda k: clips[k].start)
    for pos, a in enumerate(order):
        for b in order[pos + 1:]:
            if clips[b].start >= clips[a].end:
                break
            shorter = min(clips[a].end - clips[a].start, clips[b].end - clips[b].start)
            if shorter > 0 and clips[a].overlap(clips[b]) >= min_overlap * shorter:
                parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for k in order:
        groups.setdefault(find(k), []).append(idx[k])
    return [sorted(g) for g in groups.values()]


def _merge(members: list[Clip], people: list[str], bounds: str) -> Clip:
    start, end = min(c.start for c in members), max(c.end for c in members)
    if bounds == "intersection":
        s, e = max(c.start for c in members), min(c.end for c in members)
        if s < e:
            start, end = s, e
    taps = sorted(c.tap for c in members if c.tap is not None)
    markers = tuple(sorted({m for c in members for m in c.marker_ids}))
    first = members[0]
    return Clip(first.take_id, start, end, first.sample_rate, first.symbols, tuple(people), markers,
                taps[len(taps) // 2] if taps else None)
