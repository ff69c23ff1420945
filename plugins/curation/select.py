"""Select clips by symbol, by person, or by duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rehearsal.curation import Clip, Filter
from rehearsal.curation.regions import intersect, subtract, union


def _known_symbols(clips, ctx) -> set[str]:
    known = set()
    for take_id in {c.take_id for c in clips}:
        known.update(s.id for s in ctx.notation(take_id).symbols)
    known.update(s for c in clips for s in c.symbols)
    return known


@dataclass
class SelectSymbols(Filter):
    """Regions as sets of time. Per take, what is kept is the union of the regions tagged with
    a symbol in `keep` (every symbol not dropped if `keep` is empty) minus the union of the
    regions tagged with a symbol in `drop`: no sample under a dropped region passes, whatever
    overlaps it. Overlapping kept regions merge into one clip naming every symbol, person and
    tag behind it, so no sample is in two clips. `overlap = "whole"` is the old clip-by-clip
    filter (a clip is kept or dropped as a whole, overlaps left as they are).
    A symbol that no notation of these takes defines is an error (a typo would silently empty
    the dataset)."""

    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    overlap: Literal["sets", "whole"] = "sets"

    def __post_init__(self):
        if not self.keep and not self.drop:
            raise ValueError("give `keep`, `drop` or both")

    def apply(self, clips, ctx):
        if clips:
            known_set = _known_symbols(clips, ctx)
            unknown = sorted((set(self.keep) | set(self.drop)) - known_set)
            if unknown:
                known = ", ".join(sorted(known_set))
                raise ValueError(f"unknown symbol(s) {', '.join(unknown)} (these takes' notations have: {known})")
        if self.overlap == "whole":
            return super().apply(clips, ctx)
        out = []
        for take_id in sorted({c.take_id for c in clips}):
            out.extend(self._sets([c for c in clips if c.take_id == take_id], ctx))
        return out

    def _sets(self, clips, ctx):
        dropped = [c for c in clips if any(s in self.drop for s in c.symbols)]
        kept = []
        for c in clips:
            if c in dropped:
                hit = [s for s in c.symbols if s in self.drop]
                ctx.drop(c, f"tagged {', '.join(hit)} (drop)")
            elif self.keep and not any(s in self.keep for s in c.symbols):
                ctx.drop(c, f"tagged {', '.join(c.symbols)}, not one of {', '.join(self.keep)} (keep)")
            else:
                kept.append(c)
        pieces = subtract(union((c.start, c.end) for c in kept), [(c.start, c.end) for c in dropped])
        made: dict[tuple[int, int], Clip] = {}
        for s, e in pieces:
            members = [c for c in kept if intersect((c.start, c.end), (s, e)) > 0]
            if len(members) == 1 and (members[0].start, members[0].end) == (s, e):
                made[(s, e)] = members[0]
                continue
            first = members[0]
            taps = sorted(c.tap for c in members if c.tap is not None and s <= c.tap < e)
            symbols = tuple(sorted({x for c in members for x in c.symbols if not self.keep or x in self.keep}))
            made[(s, e)] = Clip(first.take_id, s, e, first.sample_rate, symbols or first.symbols,
                                tuple(sorted({w for c in members for w in c.who})),
                                tuple(sorted({m for c in members for m in c.marker_ids})),
                                taps[0] if taps else None, corrected=any(c.corrected for c in members))
        for c in kept:
            mine = [made[p] for p in pieces if intersect((c.start, c.end), p) > 0]
            if mine == [c]:
                continue
            under = [d for d in dropped if intersect((c.start, c.end), (d.start, d.end)) > 0]
            cut = sum(intersect((c.start, c.end), (d.start, d.end)) for d in under)
            why = []
            if under:
                people = sorted({w for d in under for w in d.who})
                syms = sorted({x for d in under for x in d.symbols if x in self.drop})
                why.append(f"{min(cut, c.end - c.start) / c.sample_rate:.2f} s under a region tagged "
                           f"{', '.join(syms)} by {', '.join(people) or 'nobody'}")
            others = {id(o) for m in mine for o in kept if o is not c
                      and intersect((o.start, o.end), (m.start, m.end)) > 0}
            if others:
                why.append(f"merged with {len(others)} overlapping kept region(s)")
            if not mine:
                ctx.drop(c, "; ".join(why) or "nothing of it left")
            else:
                ctx.replace(c, mine, "; ".join(why) or "re-cut")
        return list(made.values())

    def reject(self, clip, ctx):
        hit = [s for s in clip.symbols if s in self.drop]
        if hit:
            return f"tagged {', '.join(hit)} (drop)"
        if self.keep and not any(s in self.keep for s in clip.symbols):
            return f"tagged {', '.join(clip.symbols)}, not one of {', '.join(self.keep)} (keep)"
        return None


@dataclass
class SelectPeople(Filter):
    """Keep clips tagged by someone in `keep` (everyone if empty); drop clips tagged by anyone in `drop`."""

    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.keep and not self.drop:
            raise ValueError("give `keep`, `drop` or both")

    def reject(self, clip, ctx):
        hit = [w for w in clip.who if w in self.drop]
        if hit:
            return f"tagged by {', '.join(hit)} (drop)"
        if self.keep and not any(w in self.keep for w in clip.who):
            return f"tagged by {', '.join(clip.who) or 'nobody'}, not one of {', '.join(self.keep)} (keep)"
        return None


@dataclass
class Duration(Filter):
    """Keep clips lasting between `min_s` and `max_s` seconds (no upper bound if max_s is not set)."""

    min_s: float = 0.0
    max_s: float | None = None

    def __post_init__(self):
        if self.min_s < 0 or (self.max_s is not None and self.max_s <= self.min_s):
            raise ValueError(f"need 0 <= min_s < max_s, got {self.min_s} and {self.max_s}")

    def reject(self, clip, ctx):
        d = clip.duration_s
        if d < self.min_s:
            return f"{d:.2f} s is shorter than {self.min_s:g} s"
        if self.max_s is not None and d > self.max_s:
            return f"{d:.2f} s is longer than {self.max_s:g} s"
        return None
