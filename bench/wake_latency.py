"""Benchmark: how late this machine wakes a real-time thread (the floor under every dry block).

    .venv/bin/python bench/wake_latency.py [--seconds 60] [--busy]

Runs `cyclictest` (Debian's rt-tests: `apt-get install rt-tests`) with one SCHED_FIFO thread
per CPU at priority 80 (above JACK's 70 and the play process's 60-65), each asking to wake
every millisecond, and counts the wake-ups that came later than one period of 128, 256 and
512 samples at 48 kHz. No application code runs: a block of live play needs the JACK
driver thread, the play callback and the model host all woken on time in one period, so a
machine where a bare C thread wakes a period late N times a minute cannot play N blocks a
minute on time, whatever the application does. --busy spins the other core as bench/play.py
does. Figures go to bench/results/wake-latency-<date>-<configuration>.json and are printed
against the latest earlier file of the same configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.play import spin_other_core  # noqa: E402

PERIODS = {"128": 128 / 48000, "256": 256 / 48000, "512": 512 / 48000}


def run(seconds: float, interval_us: int = 1000) -> dict:
    exe = shutil.which("cyclictest")
    if exe is None:
        raise SystemExit("cyclictest is not installed: apt-get install rt-tests (Debian), then run this again")
    with tempfile.TemporaryDirectory() as tmp:
        hist = Path(tmp) / "hist"
        limit_us = 100_000
        p = subprocess.run([exe, "-m", "-p", "80", "-i", str(interval_us), "-t", str(os.cpu_count()), "-a", "-q", "-D", f"{int(seconds)}",
                            f"--histogram={limit_us}", f"--histfile={hist}"], capture_output=True, text=True)
        if p.returncode != 0 or not hist.exists():
            raise SystemExit(f"cyclictest failed (exit {p.returncode}): {p.stderr.strip()[-400:]}")
        rows, maxima, overflows = [], [], 0
        for line in hist.read_text().splitlines():
            if line.startswith("# Max Latencies:"):
                maxima = [int(v) for v in line.split(":")[1].split()]
            elif line.startswith("# Histogram Overflows:"):
                overflows = sum(int(v) for v in line.split(":")[1].split())
            elif line and not line.startswith("#"):
                us, *counts = (int(v) for v in line.split())
                rows.append((us, sum(counts)))
    minutes = seconds / 60.0
    total = sum(n for _, n in rows) + overflows
    late = {name: round((sum(n for us, n in rows if us >= p * 1e6) + overflows) / minutes, 1)
            for name, p in PERIODS.items()}
    return {"seconds": seconds, "cpus": os.cpu_count(), "wakeups": total, "max_us": max(maxima or [0]),
            "later_than_1ms_per_minute": round(sum(n for us, n in rows if us >= 1000) / minutes, 1),
            "later_than_a_period_per_minute": late}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--busy", action="store_true", help="spin the other core, as bench/play.py does")
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("results"))
    args = ap.parse_args()
    label = "busy" if args.busy else "quiet"
    load_before = os.getloadavg()
    spinner = spin_other_core() if args.busy else None
    try:
        r = run(args.seconds)
    finally:
        if spinner:
            spinner.kill()
    r.update({"configuration": label, "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()]})
    earlier = sorted(args.results.glob(f"wake-latency-*-{label}.json"))
    prev = json.loads(earlier[-1].read_text()) if earlier else None
    print(f"wake latency: {r['cpus']} SCHED_FIFO threads (priority 80) waking every 1 ms for {args.seconds:.0f} s, "
          f"{label}; load {load_before[0]:.1f} before")
    print(f"  max                      {r['max_us'] / 1000:.2f} ms"
          + (f"   (was {prev['max_us'] / 1000:.2f} ms)" if prev else ""))
    print(f"  later than 1 ms          {r['later_than_1ms_per_minute']:.1f} /min")
    for name, n in r["later_than_a_period_per_minute"].items():
        was = f"   (was {prev['later_than_a_period_per_minute'][name]:.1f})" if prev else ""
        print(f"  later than {name:>3} samples   {n:.1f} /min  ({PERIODS[name] * 1000:.2f} ms){was}")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"wake-latency-{time.strftime('%Y-%m-%d-%H%M', time.gmtime())}-{label}.json"
    out.write_text(json.dumps(r, indent=1) + "\n")
    print(f"  -> {out}")


if __name__ == "__main__":
    main()
