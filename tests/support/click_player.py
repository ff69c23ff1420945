"""Clicks with pedal taps and OSC tags in the same JACK cycle, from a process of its own.

    python -m tests.support.click_player OSC_PORT N SPACING_S

Plays 2*N clicks into the recorder's PortAudio inputs. With every even click it writes a
MIDI tap (CC 64 press, release 50 ms later) at the click's sample into
`RtMidiIn Client:rehearsal`; with every odd click its process callback wakes a thread
that sends `/rehearsal/tag good` to 127.0.0.1:OSC_PORT.

Why a separate process: JackPlayer's process callback is Python, so it needs the GIL
every JACK cycle. In the process under test (marker bus, OSC loop, MIDI callbacks) it
would wait for the GIL behind them, and a late client makes the whole JACK cycle late:
the recorder then overflows because of the test, not the product. A pedal and a phone are
other devices anyway.

Protocol on stdin/stdout: prints "ready" once connected, plays on a line "go", prints
"done" when the last sample has been played, then one JSON line: the time.monotonic() of
the cycle that played each click and of each xrun JACK reported while playing (a tap in a
cycle the machine ran late arrives late, and the test must know which clicks those were).
"""

from __future__ import annotations

import json
import queue
import socket
import sys
import threading
import time

import numpy as np

from tests.support.jackplayer import JackPlayer

CLICK_LEN = 8
IN_CYCLE = 17             # clicks sit a little way into a cycle, not on its edge


def plan(sr: int, period: int, n_each: int, spacing_s: float):
    """Click positions (MIDI clicks at even indexes, OSC at odd) and the MIDI events."""
    lead_in = sr // 2
    positions = [lead_in + int(i * spacing_s * sr) // period * period + IN_CYCLE for i in range(2 * n_each)]
    events = []
    for p in positions[0::2]:
        events += [(p, bytes([0xB0, 64, 127])), (p + sr // 20, bytes([0xB0, 64, 0]))]
    return positions, events


def main() -> None:
    osc_port, n_each, spacing = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    player = JackPlayer("click-player", channels=2, midi=True, xruns=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/rehearsal/tag")
    b.add_arg("good")
    tag = b.build().dgram
    wake: queue.SimpleQueue = queue.SimpleQueue()

    def send():
        while wake.get() is not None:
            sock.sendto(tag, ("127.0.0.1", osc_port))

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        connected = player.connect_to("PortAudio")
        if len(connected) < 2:
            raise SystemExit(f"no PortAudio inputs to play into (found {connected})")
        player.connect_midi_to("RtMidiIn Client:rehearsal")
        positions, events = plan(player.samplerate, player.client.blocksize, n_each, spacing)
        osc_clicks = positions[1::2]
        signal = np.zeros((positions[-1] + player.samplerate, 2), np.float32)
        for p in positions:
            signal[p:p + CLICK_LEN] = 0.9

        click_times: list[float] = []

        def wake_sender(pos, frames):
            for p in positions:
                if pos <= p < pos + frames:
                    click_times.append(time.monotonic())
            for p in osc_clicks:
                if pos <= p < pos + frames:
                    wake.put(p)

        player.cycle_callbacks.append(wake_sender)
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        player.play(signal, events)
        if not player.done.wait(120):
            raise SystemExit("the player did not finish")
        print("done", flush=True)
        print(json.dumps({"clicks": click_times, "xruns": [t for t in player.xrun_times if t >= click_times[0] - 1.0]}),
              flush=True)
    finally:
        wake.put(None)
        player.close()
        sock.close()


if __name__ == "__main__":
    main()
