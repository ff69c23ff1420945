"""Score alignment: how many event boundaries of a take recorded from a score land within
50 ms of the truth, aligned (rehearsal.scores.align) and as the score placed them.

Performances from tests/support/score_take.py: real material (sampled instruments, espeak-ng
speech), a steady 5% tempo drift over the take, every event +-0.3 s early or late on top.

    .venv/bin/python bench/score_align.py [--seeds 12] [--events 40] [--out bench/results/score-align-DATE.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rehearsal.curation.analysis import analyse_array  # noqa: E402
from rehearsal.notation import parse_notation  # noqa: E402
from rehearsal.notation.score import parse_score  # noqa: E402
from rehearsal.scores.align import align  # noqa: E402
from tests.support.score_take import NOTATION, SR, boundaries_of, perform, score_text  # noqa: E402


def run(seeds: int, events: int) -> dict:
    notation = parse_notation(NOTATION)
    rows, errs_a, errs_u = [], [], []
    for seed in range(seeds):
        score = parse_score(score_text(seed, events), notation=notation)
        p = perform(score, seed)
        t0 = time.perf_counter()
        fd = analyse_array(p.samples, SR)
        t1 = time.perf_counter()
        found = boundaries_of(align(score, fd, p.origin), score)
        t2 = time.perf_counter()
        ea, eu = np.abs(found - p.truth) / SR, np.abs(p.nominal - p.truth) / SR
        errs_a += list(ea)
        errs_u += list(eu)
        rows.append({"seed": seed, "take_s": round(len(p.samples) / SR, 1), "boundaries": len(ea),
                     "aligned_within_50ms": round(float(np.mean(ea <= 0.05)), 3),
                     "unaligned_within_50ms": round(float(np.mean(eu <= 0.05)), 3),
                     "analyse_s": round(t1 - t0, 2), "align_s": round(t2 - t1, 2)})
        print(json.dumps(rows[-1]), flush=True)
    ea, eu = np.array(errs_a), np.array(errs_u)
    return {"what": "score alignment: share of event boundaries within 50 ms of the truth",
            "drift": 0.05, "jitter_s": 0.3, "seeds": seeds, "events_per_score": events,
            "boundaries": len(ea),
            "aligned_within_50ms": round(float(np.mean(ea <= 0.05)), 4),
            "unaligned_within_50ms": round(float(np.mean(eu <= 0.05)), 4),
            "aligned_median_error_ms": round(float(np.median(ea) * 1000), 1),
            "unaligned_median_error_ms": round(float(np.median(eu) * 1000), 1),
            "per_take": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / f"score-align-{datetime.date.today()}.json")
    a = ap.parse_args()
    result = run(a.seeds, a.events)
    print(f"aligned: {result['aligned_within_50ms']:.1%} of {result['boundaries']} boundaries within 50 ms "
          f"(median error {result['aligned_median_error_ms']} ms); unaligned: {result['unaligned_within_50ms']:.1%} "
          f"(median {result['unaligned_median_error_ms']} ms)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
