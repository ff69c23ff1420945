"""Helper process for bench/record.py: plays a click every second into PortAudio's inputs
and, in each click's JACK cycle, sends one OSC timing tag. Counts JACK xruns.

It runs in its own process so the busy Python thread of the app under test cannot starve
it through the GIL (a late JACK client would be the benchmark's fault, not the recorder's).
Prints one JSON line: {"xruns": N, "played": frames}.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackplayer import JackPlayer  # noqa: E402

CLICK_EVERY = 48_000


def main() -> None:
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/rehearsal/tag")
    b.add_arg("good")
    b.add_arg("timing")
    packet = b.build().dgram
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    import jack

    xruns = []
    monitor = jack.Client("bench-xruns", no_start_server=True)
    monitor.set_xrun_callback(lambda delay: xruns.append(delay))  # before activate, as JACK requires
    monitor.activate()
    player = JackPlayer("bench-clicks", channels=1)
    sr = player.samplerate
    clicks = np.zeros((int(seconds * sr), 1), np.float32)
    positions = np.arange(CLICK_EVERY // 2, len(clicks), CLICK_EVERY)
    clicks[positions] = 0.9

    def on_cycle(pos: int, frames: int) -> None:
        if np.any((positions >= pos) & (positions < pos + frames)):
            sock.sendto(packet, ("127.0.0.1", port))

    player.cycle_callbacks.append(on_cycle)
    player.connect_to("PortAudio")
    print("ready", flush=True)
    sys.stdin.readline()  # the app says go once its take has started
    before = len(xruns)  # connecting clients may cost an xrun; count only while playing
    player.play(clicks)
    player.done.wait(seconds * 3 + 30)
    print(json.dumps({"xruns": len(xruns) - before, "xruns_setup": before, "played": len(clicks) if player.done.is_set() else -1}), flush=True)
    player.close()
    monitor.deactivate()
    monitor.close()


if __name__ == "__main__":
    main()
