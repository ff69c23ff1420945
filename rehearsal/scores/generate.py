"""The next score: one that asks for what a dataset lacks.

    text = generate_score(notation, seconds={"laugh": 40.0, ...}, pairs={("laugh", "waste"): 3},
                          minutes=5, seed=1, sections=3, arc="rise", arc_of="both", avoid=("waste",))

Each symbol's weight is what the dataset lacks of it: the inverse of its seconds in the
dataset's coverage (a symbol with none weighs most), so the least covered symbols get more
than their share of the score's time. The next event prefers pairs the dataset holds least
(a pair never heard after this symbol counts double). Symbols to avoid never appear. The
composer's arc shapes density (shorter events where it is high) and dynamics (pp to ff)
over the score: `rise`, `fall`, `arch` or `flat`. Sections split the time evenly. The same
inputs and seed give the same bytes.
"""

from __future__ import annotations

import math
import random

ARCS = ("rise", "fall", "arch", "flat")
ARC_OF = ("density", "dynamics", "both")
DYNAMIC_STEPS = ("pp", "p", "mp", "mf", "f", "ff")


def _arc(shape: str, x: float) -> float:
    """0..1 along the score -> 0..1 intensity."""
    return {"rise": x, "fall": 1 - x, "arch": 1 - abs(2 * x - 1), "flat": 0.5}[shape]


def need_weights(symbols, seconds: dict[str, float]) -> dict[str, float]:
    """What the dataset lacks of each symbol, as weights summing to 1."""
    covered = [seconds.get(s, 0.0) for s in symbols]
    floor = max(1.0, 0.05 * (sum(covered) / max(1, len(covered))))
    raw = {s: 1.0 / (seconds.get(s, 0.0) + floor) for s in symbols}
    total = sum(raw.values())
    return {s: w / total for s, w in raw.items()}


def generate_score(notation, seconds: dict[str, float], pairs: dict[tuple[str, str], int] | None = None,
                   minutes: float = 5.0, seed: int = 0, sections: int = 2, arc: str = "arch",
                   arc_of: str = "both", avoid=(), title: str | None = None, author: str = "",
                   notation_ref: str | None = None, dataset: str = "") -> str:
    if arc not in ARCS:
        raise ValueError(f"arc {arc!r}: one of {', '.join(ARCS)}")
    if arc_of not in ARC_OF:
        raise ValueError(f"arc_of {arc_of!r}: one of {', '.join(ARC_OF)}")
    unknown = [a for a in avoid if notation.symbol(a) is None]
    if unknown:
        raise ValueError(f"cannot avoid {', '.join(map(repr, unknown))}: not in notation {notation.name!r}")
    symbols = [s.id for s in notation.symbols if s.id not in set(avoid)]
    if not symbols:
        raise ValueError("every symbol of the notation is avoided: nothing left to write")
    if not 0 < minutes <= 360:
        raise ValueError(f"minutes must be more than 0 and at most 360, got {minutes}")
    sections = max(1, min(int(sections), 26))
    pairs = pairs or {}
    rng = random.Random(seed)
    weights = need_weights(symbols, seconds)
    total = minutes * 60.0
    # each symbol's time: its weight's share of the score, written as events of 1.5-6 s
    written = {s: 0.0 for s in symbols}
    t, prev, lines = 0.0, None, []
    head = [f"# written by `rehearsal score generate`{f' for dataset {dataset}' if dataset else ''}, seed {seed}:",
            "# it asks for what the dataset lacks: " + ", ".join(
                f"{s} {seconds.get(s, 0.0):.0f} s" for s in sorted(symbols, key=lambda s: seconds.get(s, 0.0))[:6]),
            f"title: {title or f'study {seed}'}"]
    if author:
        head.append(f"author: {author}")
    head.append(f"notation: {notation_ref or notation.name}")
    section = -1
    while t < total - 0.5:
        x = t / total
        now_section = min(sections - 1, int(x * sections))
        if now_section != section:
            section = now_section
            lines.append(f"== {chr(ord('A') + section)} ==")
        # the symbol the score owes most (its weight's share of the time so far), pairs the dataset lacks
        owed = {s: weights[s] * (t + 4.0) - written[s] for s in symbols}
        choice = []
        for s in symbols:
            pair_need = 1.0 if prev is None else 2.0 / (1.0 + pairs.get((prev, s), 0)) + 0.5
            repeat = 0.3 if s == prev else 1.0
            choice.append(math.exp(max(-20.0, min(20.0, owed[s] / 4.0))) * pair_need * repeat)
        s = rng.choices(symbols, weights=choice)[0]
        density = _arc(arc, x) if arc_of in ("density", "both") else 0.5
        duration = round(min(total - t, (6.0 - 4.5 * density) * rng.uniform(0.8, 1.2)), 1)
        if duration < 0.5:
            break
        loud = _arc(arc, x) if arc_of in ("dynamics", "both") else 0.5
        step = min(len(DYNAMIC_STEPS) - 1, max(0, int(round(loud * (len(DYNAMIC_STEPS) - 1) + rng.uniform(-0.6, 0.6)))))
        sym = notation.symbol(s)
        name = sym.glyph if _round_trips(notation, sym) else sym.id
        lines.append(f"{name} {duration:.1f}s {DYNAMIC_STEPS[step]}")
        written[s] += duration
        t += duration
        prev = s
    return "\n".join(head + [""] + lines) + "\n"


def _round_trips(notation, sym) -> bool:
    """The glyph can stand for the symbol in a score: one token, and no other symbol's id."""
    g = sym.glyph
    if not g or any(c.isspace() or c in '"#' for c in g) or g == "rest" or g.startswith(("[:", ":]", "==")):
        return False
    return all(o.id != g for o in notation.symbols if o is not sym) and \
        next((o for o in notation.symbols if g in (o.glyph,)), sym) is sym


def dataset_needs(db, ref) -> tuple[dict[str, float], dict[tuple[str, str], int], int | None]:
    """Seconds per symbol (its coverage), how often each pair follows in its takes, and the
    notation id of its takes (the first clip's)."""
    from ..curation.coverage import coverage
    from ..curation.versions import version_clips

    cov = coverage(db, ref)
    seconds = {s: sec for s, _, sec in cov.per_symbol}
    clips = sorted(version_clips(db, ref), key=lambda sc: (sc.clip.take_id, sc.clip.start))
    pairs: dict[tuple[str, str], int] = {}
    for a, b in zip(clips, clips[1:]):
        if a.clip.take_id == b.clip.take_id:
            for x in a.clip.symbols:
                for y in b.clip.symbols:
                    pairs[(x, y)] = pairs.get((x, y), 0) + 1
    notation_id = None
    if clips:
        row = db.execute("SELECT notation_id FROM takes WHERE id = ?", [clips[0].clip.take_id]).fetchone()
        notation_id = row[0] if row else None
    return seconds, pairs, notation_id
