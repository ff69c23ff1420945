"""Helper process for bench/play.py: plays a signal into PortAudio's input and records
PortAudio's output, both as JACK clients, and counts JACK xruns.

In a process of its own so that its Python JACK callbacks share a GIL with nothing under
test. `python bench/play_io.py SIGNAL.npy OUT.npy` prints "ready" once connected, starts on
a line on stdin, and prints one JSON line at the end: the JACK frame the signal started at,
the frame the recording starts at, xruns while playing and while connecting.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackplayer import JackPlayer  # noqa: E402
from tests.support.jackrecorder import JackRecorder  # noqa: E402


def main() -> None:
    signal = np.load(sys.argv[1])
    import jack

    xruns = []
    monitor = jack.Client("bench-xruns", no_start_server=True)
    monitor.set_xrun_callback(lambda delay: xruns.append(delay))
    monitor.activate()
    tester = JackPlayer("bench-in", channels=1)
    listener = JackRecorder("bench-out", seconds=len(signal) / tester.samplerate + 5)
    tester.connect_to("PortAudio")
    listener.connect_from("PortAudio")
    print("ready", flush=True)
    sys.stdin.readline()
    before = len(xruns)
    listener.start()
    tester.play(signal)
    tester.done.wait(len(signal) / tester.samplerate * 3 + 30)
    deadline = time.monotonic() + 30
    while listener.frames_recorded_until() < tester.started_cycle_frame + len(signal) + 8192:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    np.save(sys.argv[2], listener.buffer[:listener.pos, 0])
    print(json.dumps({"started": tester.started_cycle_frame, "first": listener.first_frame,
                      "xruns": len(xruns) - before, "xruns_setup": before}), flush=True)
    tester.close()
    listener.close()
    monitor.deactivate()
    monitor.close()


if __name__ == "__main__":
    main()
