"""Benchmark: record from JACK through PortAudio under load, tag over OSC at 1,000/s.

    .venv/bin/python bench/record.py [--seconds 60] [--period 128] [--baseline-seconds 20]

Conditions (issue 2): 48 kHz, 128-frame JACK period (dummy driver), the other core kept
busy by a spinning process, a busy pure-Python thread beside the recorder in the app
process (as a UI would be), OSC tags sent at 1,000/s from another process, plus one
timing tag per second sent from the JACK cycle in which a click is played.

Reports: input overflows and JACK xruns (goal 0), frames written / (wall clock x rate)
(goal 1.0), tags stored / sent (goal 1.0), marker timing error in samples (median, max),
the capture process's CPU share of one core. Baseline measured in the same run: the same
stream opened *in* the app process (callback sharing the GIL with the busy thread), which
is what the separate capture process is designed against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackserver import JackServer, realtime_allowed  # noqa: E402


def busy_python_thread(stop: threading.Event) -> None:
    """A pure-Python busy loop, the worst case a UI thread can be."""
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i
    return None


def spin_other_core() -> subprocess.Popen:
    from tests.support.jackserver import _die_with_parent

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=_die_with_parent)


def osc_flood(port: int, rate: int, seconds: float) -> subprocess.Popen:
    code = f"""
import time
from pythonosc.udp_client import SimpleUDPClient
c = SimpleUDPClient('127.0.0.1', {port})
n = 0; t0 = time.monotonic(); end = t0 + {seconds}
while time.monotonic() < end:
    due = t0 + n / {rate}
    d = due - time.monotonic()
    if d > 0: time.sleep(d)
    c.send_message('/rehearsal/tag', ['good', 'flood'])
    n += 1
print(n)
"""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_recorder_bench(seconds: float, home: Path) -> dict:
    from rehearsal.audio import RecorderConfig
    from rehearsal.markers.osc import OscSource
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.room import Room
    from rehearsal.store import Workspace, open_db

    ws = Workspace.at(home)
    notation = load_notation(find_notation("good-bad-pedal"))
    room = Room(ws, "bench", notation, RecorderConfig(channels=1, preroll_s=0)).open()
    sr = room.recorder.samplerate

    async def main() -> dict:
        osc = await OscSource(room.bus, notation, port=0).start()
        clicks = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("jack_clicks.py")), str(osc.port), str(seconds),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert (await clicks.stdout.readline()).strip() == b"ready"
        stop = threading.Event()
        busy = threading.Thread(target=busy_python_thread, args=(stop,), daemon=True)
        spinner = spin_other_core()
        room.start_take()
        cpu0, wall0 = cpu_seconds(room.recorder.pid), time.monotonic()
        busy.start()
        flood = osc_flood(osc.port, 1000, seconds)
        clicks.stdin.write(b"go\n")
        await clicks.stdin.drain()
        result = json.loads(await clicks.stdout.readline())
        sent = int((await asyncio.to_thread(flood.communicate))[0].strip())
        await asyncio.to_thread(room.bus.flush)
        stop.set()
        spinner.kill()
        take = room.stop_take()
        wall = time.monotonic() - wall0
        cpu = cpu_seconds(room.recorder.pid) - cpu0
        await clicks.wait()
        osc.close()
        return {"take": take, "sent": sent, "wall": wall, "cpu": cpu, "osc": osc.stats(), **result}

    try:
        r = asyncio.run(main())
    finally:
        room.close()
    take = r["take"]
    import soundfile as sf

    audio, _ = sf.read(ws.resolve(take["path"]), dtype="float32", always_2d=True)
    click_at = np.flatnonzero(audio[:, 0] > 0.5)
    db = open_db(ws.db_path)
    flood_stored = db.execute("SELECT COUNT(*) FROM markers WHERE who = 'flood'").fetchone()[0]
    taps = [row[0] for row in db.execute("SELECT tap_sample FROM markers WHERE who = 'timing' ORDER BY tap_sample")]
    errors = [int(np.min(np.abs(click_at - t))) for t in taps] if len(click_at) else []
    return {
        "overflows": take["overflows"], "gap_frames": take.get("gap_frames", 0), "xruns": r["xruns"], "xruns_setup": r["xruns_setup"], "frames": take["frames"],
        "frames_per_wall_rate": take["frames"] / (r["wall"] * sr), "sent": r["sent"],
        "stored_ratio": flood_stored / max(r["sent"], 1), "timing_tags": len(taps), "clicks": len(click_at),
        "timing_median": statistics.median(errors) if errors else None, "timing_max": max(errors) if errors else None,
        "cpu_share": r["cpu"] / r["wall"], "osc": r["osc"],
    }


def run_inprocess_baseline(seconds: float) -> dict:
    """The same stream with its callback in this (busy) process: what the design avoids."""
    import sounddevice as sd

    overflows = [0]
    calls = [0]

    def callback(indata, frames, t, status):
        calls[0] += 1
        if status.input_overflow:
            overflows[0] += 1

    stop = threading.Event()
    busy = threading.Thread(target=busy_python_thread, args=(stop,), daemon=True)
    spinner = spin_other_core()
    with sd.InputStream(channels=1, samplerate=48000, dtype="float32", callback=callback, latency="low"):
        busy.start()
        time.sleep(seconds)
    stop.set()
    spinner.kill()
    return {"overflows": overflows[0], "callbacks": calls[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    ap.add_argument("--period", type=int, default=128)
    ap.add_argument("--baseline-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-realtime", action="store_true",
                    help="run jackd without SCHED_FIFO (as the tests do); real set-ups run JACK realtime")
    args = ap.parse_args()
    if args.baseline_only:  # child of the run below, on its JACK server (JACK_DEFAULT_SERVER)
        print(json.dumps(run_inprocess_baseline(args.baseline_seconds)), flush=True)
        sys.modules["sounddevice"]._terminate()
        return
    realtime = not args.no_realtime and realtime_allowed()
    server = JackServer(f"rehearsal-bench-{os.getpid()}", period=args.period, realtime=realtime).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_recorder_bench(args.seconds, Path(tmp) / "ws")
        b = None
        if args.baseline_seconds > 0:
            # a fresh process: PortAudio initialised after the recorder ran here once hung on exit
            out = subprocess.run([sys.executable, __file__, "--baseline-only", "--baseline-seconds",
                                  str(args.baseline_seconds)], capture_output=True, text=True,
                                 timeout=args.baseline_seconds * 3 + 60, env=os.environ)
            lines = out.stdout.strip().splitlines()
            b = json.loads(lines[-1]) if lines else None
            if b is None:
                print(f"baseline failed: {out.stderr[-500:]}")
    finally:
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
        server.stop()
    print(f"record bench: {args.seconds:.0f} s at 48 kHz, JACK period {args.period} "
          f"({'realtime' if realtime else 'no-realtime'}), other core busy, "
          f"busy Python thread, OSC 1,000 tags/s")
    print(f"  input overflows        {r['overflows']}   (goal 0)")
    print(f"  missed-cycle frames    {r['gap_frames']}   (found by JACK's cycle counter, filled with silence; goal 0)")
    print(f"  JACK xruns             {r['xruns']} while recording (goal 0); {r['xruns_setup']} while clients connected")
    print(f"  frames / (wall x rate) {r['frames_per_wall_rate']:.4f}   (goal 1.0)")
    print(f"  tags stored / sent     {r['stored_ratio']:.4f}   ({r['sent']} sent; goal 1.0)")
    print(f"  marker timing error    median {r['timing_median']} max {r['timing_max']} samples "
          f"({r['timing_tags']} timing tags, {r['clicks']} clicks)")
    print(f"  capture CPU share      {100 * r['cpu_share']:.1f}% of one core")
    print(f"  OSC counters           {dict(r['osc'].get('counts', {}))}")
    if b:
        print(f"baseline, callback in the busy app process ({args.baseline_seconds:.0f} s): "
              f"{b['overflows']} overflows in {b['callbacks']} callbacks "
              f"-> capture process: {r['overflows']} overflows")


if __name__ == "__main__":
    main()
