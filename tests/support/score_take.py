"""A performance of a score whose truth is known: real material, late and early, drifting.

The material is truth_take's (sampled piano, flute, cello, overdriven guitar, espeak-ng
speech: rendered once and cached). Each symbol of NOTATION is played by one of them. A
performance of a score:

- drifts in tempo: the performer's tempo moves steadily from the score's to `drift` (5%)
  faster or slower by the end;
- places every event start `jitter_s` (0.3 s) early or late at most (uniform), on top;
- plays each event as a phrase of its symbol's material, cut to the event's length (with a
  short breath before the next event now and then), at the event's dynamic; rests are silence.

`truth` is where each event really starts and where the last one ends, in samples; the
take starts `lead_s` before the score's first event (the count-in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .truth_take import SR, material

KINDS = {"piano": "program0", "flute": "program73", "cello": "program42", "guitar": "guitar", "voice": "speech"}
GLYPHS = {"piano": "P", "flute": "F", "cello": "C", "guitar": "G", "voice": "V"}
NOTATION = "name = \"score test\"\n" + "".join(
    f'[[symbols]]\nid = "{s}"\nglyph = "{g}"\n' for s, g in GLYPHS.items())
LEVEL_DB = {"ppp": -34, "pp": -30, "p": -26, "mp": -22, "mf": -19, "f": -16, "ff": -13, "fff": -10, None: -19}


@dataclass
class Performance:
    samples: np.ndarray
    origin: int                      # where the score's first event was meant to start
    truth: np.ndarray                # true sample of each event start, then the last end
    nominal: np.ndarray              # the score's own (origin + start_s * SR), same length


def score_text(seed: int, events: int = 40, rests: float = 0.1, author: str = "ana") -> str:
    """A score in NOTATION: `events` events of 1.5-4 s (seconds and beats at 72 bpm), some rests."""
    rng = np.random.default_rng(seed)
    names = list(GLYPHS)
    lines = [f"title: test score {seed}", f"author: {author}", "tempo: 72", "count-in: 2b", "== A =="]
    prev = None
    for k in range(events):
        if k == events // 2:
            lines.append("== B ==")
        if prev is not None and prev != "rest" and k < events - 1 and rng.random() < rests:
            lines.append(f"rest {rng.uniform(0.8, 1.5):.2f}s")
            prev = "rest"
            continue
        choices = [n for n in names if n != prev] if rng.random() < 0.85 else names
        name = choices[int(rng.integers(len(choices)))]
        glyph = GLYPHS[name] if rng.random() < 0.5 else name
        dur = f"{rng.uniform(1.5, 4.0):.2f}s" if rng.random() < 0.5 else f"{int(rng.integers(2, 5))}b"
        dyn = ["pp", "p", "mp", "mf", "f", "ff"][int(rng.integers(6))]
        lines.append(f"{glyph} {dur} {dyn}")
        prev = name
    return "\n".join(lines) + "\n"


def perform(score, seed: int, drift: float = 0.05, jitter_s: float = 0.3, lead_s: float = 1.7,
            tail_s: float = 2.0) -> Performance:
    rng = np.random.default_rng(seed + 1000)
    pool = material()
    by_kind: dict[str, list[np.ndarray]] = {}
    for p in pool:
        by_kind.setdefault(p["kind"], []).append(p["audio"])
    events = score.events
    ends = np.array([e.start_s for e in events] + [events[-1].end_s])
    total = ends[-1]
    sign = 1 if rng.random() < 0.5 else -1
    # tempo moves linearly from 1 to 1 + drift: time t of the score is played at
    # t + drift * t^2 / (2 total) (faster: earlier, slower: later)
    warped = ends - sign * drift * ends ** 2 / (2 * total)
    jitter = rng.uniform(-jitter_s, jitter_s, len(ends))
    jitter[-1] = rng.uniform(-jitter_s, jitter_s) / 2
    times = warped + jitter
    for k in range(1, len(times)):                           # every event keeps 0.5 s at least
        times[k] = max(times[k], times[k - 1] + 0.5)
    origin = int(lead_s * SR)
    truth = (origin + times * SR).astype(np.int64)
    nominal = (origin + ends * SR).astype(np.int64)
    n = int(truth[-1] + tail_s * SR)
    out = np.zeros(n, np.float32)
    for k, e in enumerate(events):
        if e.symbol is None:
            continue
        a, b = int(truth[k]), int(truth[k + 1])
        if k + 1 < len(events) and events[k + 1].symbol is not None and rng.random() < 0.3:
            b -= int(rng.uniform(0.1, 0.25) * SR)            # a breath before the next event
        phrases = by_kind[KINDS[e.symbol]]
        x = phrases[int(rng.integers(len(phrases)))]
        while len(x) < b - a:
            x = np.concatenate([x, phrases[int(rng.integers(len(phrases)))]])
        x = x[: b - a].astype(np.float64)
        rms = np.sqrt(np.mean(x ** 2) + 1e-20)
        x *= 10 ** (LEVEL_DB[e.dynamic] / 20) / rms
        fi, fo = min(len(x) // 4, int(0.01 * SR)), min(len(x) // 4, int(0.03 * SR))
        x[:fi] *= np.linspace(0, 1, fi)
        x[len(x) - fo:] *= np.linspace(1, 0, fo)
        out[a:a + len(x)] += x.astype(np.float32)
    out += (10 ** (-75 / 20) * rng.standard_normal(n)).astype(np.float32)
    return Performance(np.clip(out, -0.99, 0.99), origin, truth, nominal)


def within(found: np.ndarray, truth: np.ndarray, tolerance_s: float = 0.05) -> float:
    """The share of boundaries placed within `tolerance_s` of the truth."""
    return float(np.mean(np.abs(np.asarray(found) - truth) <= tolerance_s * SR))


def boundaries_of(aligned, score) -> np.ndarray:
    """Each event's start, then the last end, from aligned sounding events (a rest starts
    where the event before it ends)."""
    by_index = {a.index: a for a in aligned}
    out = []
    for k, e in enumerate(score.events):
        if e.symbol is not None:
            out.append(by_index[e.index].start)
        else:
            out.append(by_index[score.events[k - 1].index].end if k else by_index[score.events[k + 1].index].start)
    last = score.events[-1]
    out.append(by_index[last.index].end if last.symbol is not None else out[-1])
    return np.array(out)
