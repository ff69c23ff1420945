"""Helper process (bench/play.py, tests at another JACK rate): plays a signal into
PortAudio's input and records PortAudio's output, both as JACK clients, and counts JACK xruns.

In a process of its own so that its Python JACK callbacks share a GIL with nothing under
test, and so that it can talk to a JACK server other than the test process's (libjack
serves one server per process: a second one in the same process crashes it).
`python tests/support/play_io.py SIGNAL.npy OUT.npy` prints "ready" once connected, starts
on a line on stdin, and prints one JSON line at the end: the JACK frame the signal started
at, the frame the recording starts at, xruns while playing and while connecting. The
server is JACK_DEFAULT_SERVER's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


class PlayIO:
    """The helper in its own process, from the caller's side: plays `signal` in, records
    what comes out (`go`, then `result`: its JSON line and the recording)."""

    def __init__(self, signal: np.ndarray, tmp: Path, name: str):
        self.sig, self.out = Path(tmp) / f"{name}-in.npy", Path(tmp) / f"{name}-out.npy"
        np.save(self.sig, np.asarray(signal, np.float32))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(self.sig), str(self.out)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError("the JACK play/record helper did not connect to PortAudio's ports")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 30.0) -> tuple[dict, np.ndarray]:
        info = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout)
        return info, np.load(self.out)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support.jackplayer import JackPlayer
    from tests.support.jackrecorder import JackRecorder

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
