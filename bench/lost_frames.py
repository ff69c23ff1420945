"""Benchmark: real missed JACK cycles while recording, found, filled and counted (issue 22).

An asynchronous JACK dummy server (not -S: a late client misses its cycles, as on a real
interface), the real capture process recording a JACK client that plays a ramp (each
sample names its own source frame). The capture process is stopped (SIGSTOP) for
`--stall-ms` a few times mid-take: a real stall of the client, longer than a period. Then:

- gap frames: what the recorder found from JACK's cycle counter and filled with silence;
- where the take holds the source, "source frame - take frame" may only change where the
  source itself missed cycles (it is a Python client on a loaded machine too: its own
  counter says how often; those shift it one way). A rise would be a loss the recorder
  did not fill (goal 0).

    .venv/bin/python bench/lost_frames.py [--seconds 6] [--stalls 3] [--stall-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackserver import JackServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--stalls", type=int, default=3)
    ap.add_argument("--stall-ms", type=float, default=50.0)
    ap.add_argument("--json", help="write the figures here (default bench/results/lost-frames-DATE.json)")
    args = ap.parse_args()
    server = JackServer(f"rehearsal-bench-lost-{os.getpid()}", synchronous=False).start()
    try:
        r = run(args)
    finally:
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
        server.stop()
    print(f"lost-frames bench: {args.seconds:.0f} s take, {args.stalls} stalls of {args.stall_ms:.0f} ms "
          "(SIGSTOP of the capture process), asynchronous JACK dummy server, period 256")
    print(f"  gap frames filled      {r['gap_frames']} (JACK cycle counter), overflow flags {r['overflows']}")
    print(f"  source's own misses    {r['source_missed_cycles']} cycles")
    print(f"  take vs source         {r['offset_falls']} shifts where the source missed, "
          f"{r['offset_rises']} unfilled losses (goal 0)")
    out = Path(args.json or Path(__file__).with_name("results") / f"lost-frames-{date.today()}.json")
    out.write_text(json.dumps(r, indent=2) + "\n")


def run(args) -> dict:
    import soundfile as sf

    from rehearsal.audio import Recorder, RecorderConfig
    from tests.support.jackplayer import JackPlayer

    sr = 48000
    ramp = ((np.arange(int(sr * args.seconds)) + 1) / 1e6 + 0.001).astype(np.float32)   # exact in float32 < 2^24
    rec = Recorder(RecorderConfig(channels=1, preroll_s=0.2)).open()
    player = JackPlayer("lost-frames-source", channels=1)
    missed = [None, 0]

    def own_counter(pos, frames):
        t = player.client.last_frame_time
        if missed[0] is not None and t - missed[0] != frames:
            missed[1] += 1
        missed[0] = t

    player.cycle_callbacks.append(own_counter)
    path = Path(tempfile.mkdtemp(prefix="rehearsal-bench-lost-")) / "take.w64"
    try:
        assert rec.cycle_counter, "the capture process found no JACK cycle counter"
        player.connect_to("PortAudio")
        rec.start_take(path)
        player.play(ramp)
        stop = threading.Event()
        for k in range(args.stalls):
            stop.wait(args.seconds / (args.stalls + 1))
            os.kill(rec.pid, signal.SIGSTOP)      # the stall itself: a duration, not synchronisation
            time.sleep(args.stall_ms / 1000)
            os.kill(rec.pid, signal.SIGCONT)
        assert player.done.wait(60)
        stopped = rec.stop_take()
    finally:
        player.close()
        rec.close()
    take, _ = sf.read(path, dtype="float32", always_2d=True)
    v = take[:, 0]
    held = np.flatnonzero(v > 0)
    source = np.round((v[held] - 0.001) * 1e6).astype(np.int64) - 1
    steps = np.diff(source - held)
    return {"seconds": args.seconds, "stalls": args.stalls, "stall_ms": args.stall_ms,
            "gap_frames": stopped.gap_frames, "overflows": stopped.overflows, "frames": stopped.frames,
            "source_missed_cycles": missed[1], "offset_falls": int((steps < 0).sum()),
            "offset_rises": int((steps > 0).sum()), "shifts": [int(s) for s in steps[steps != 0]][:50]}


if __name__ == "__main__":
    main()
