"""Select clips by symbol, by person, or by duration."""

from __future__ import annotations

from dataclasses import dataclass

from rehearsal.curation import Filter


def _known_symbols(clips, ctx) -> set[str]:
    known = set()
    for take_id in {c.take_id for c in clips}:
        known.update(s.id for s in ctx.notation(take_id).symbols)
    known.update(s for c in clips for s in c.symbols)
    return known


@dataclass
class SelectSymbols(Filter):
    """Keep clips tagged with a symbol in `keep` (every clip if empty); drop clips tagged
    with a symbol in `drop`. A symbol that no notation of these takes defines is an error
    (a typo would silently empty the dataset)."""

    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

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
        return super().apply(clips, ctx)

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
