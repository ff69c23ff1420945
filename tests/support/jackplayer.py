"""A JACK test client that plays a known signal (and MIDI) into other clients' inputs.

The dummy driver's capture ports are silent, so tests connect this client's outputs to
the recorder's PortAudio inputs and play seeded noise or clicks: ground truth comes from
the audio itself. MIDI events are written in the same JACK cycle as the sample they
belong to, so "the click and the pedal press happened together" is exact.
"""

from __future__ import annotations

import threading
import time

import jack
import numpy as np


class JackPlayer:
    def __init__(self, name: str = "tester", channels: int = 2, midi: bool = False, xruns: bool = False):
        self.client = jack.Client(name, no_start_server=True)
        self.outs = [self.client.outports.register(f"out_{i + 1}") for i in range(channels)]
        self.midi_out = self.client.midi_outports.register("midi_out") if midi else None
        self.channels = channels
        self._pending: tuple | None = None
        self._signal: np.ndarray | None = None
        self._events: list[tuple[int, bytes]] = []
        self._pos = 0
        self.done = threading.Event()
        self.started_cycle_frame: int | None = None
        self.cycle_callbacks: list = []   # called as f(pos, frames) from the process thread
        self.xrun_times: list[float] = []  # with `xruns`: time.monotonic() of each xrun JACK reported
        self.client.set_process_callback(self._process)
        if xruns:   # only where asked: the callback takes this process's GIL at every xrun
            self.client.set_xrun_callback(lambda delayed_usecs: self.xrun_times.append(time.monotonic()))
        self.client.activate()

    @property
    def samplerate(self) -> int:
        return self.client.samplerate

    def connect_to(self, client_prefix: str) -> list[str]:
        """Connect our outputs to the input ports of the one client whose name starts with
        prefix. Two such clients mean a process leaked from an earlier test: say so rather
        than play into the wrong one."""
        targets = [p for p in self.client.get_ports(is_input=True, is_audio=True)
                   if p.name.startswith(client_prefix)]
        clients = sorted({p.name.split(":", 1)[0] for p in targets})
        if len(clients) > 1:
            raise RuntimeError(f"several JACK clients match {client_prefix!r}: {clients} (a leaked process?)")
        for out, target in zip(self.outs, targets):
            self.client.connect(out, target)
        return [t.name for t in targets]

    def connect_midi_to(self, port_name: str) -> str:
        targets = [p for p in self.client.get_ports(is_input=True, is_midi=True) if port_name in p.name]
        if not targets:
            raise RuntimeError(f"no MIDI input port matching {port_name!r}")
        self.client.connect(self.midi_out, targets[0])
        return targets[0].name

    def play(self, signal: np.ndarray, midi_events: list[tuple[int, bytes]] = ()) -> None:
        """Start playing `signal` (frames x channels, float32) at the next cycle."""
        signal = np.asarray(signal, dtype=np.float32)
        if signal.ndim == 1:
            signal = signal[:, None]
        self.done.clear()
        # handed over as one object; the process thread alone resets the position, so a
        # cycle never mixes the old position with the new signal
        self._pending = (signal, sorted(midi_events))

    def _process(self, frames: int) -> None:
        bufs = [p.get_array() for p in self.outs]
        for b in bufs:
            b.fill(0.0)
        if self.midi_out is not None:
            self.midi_out.clear_buffer()
        pending, self._pending = self._pending, None
        if pending is not None:
            self._signal, self._events = pending
            self._pos = 0
            self.started_cycle_frame = self.client.last_frame_time
        sig, pos = self._signal, self._pos
        if sig is None or pos >= len(sig):
            return
        n = min(frames, len(sig) - pos)
        for ch, b in enumerate(bufs):
            b[:n] = sig[pos:pos + n, ch % sig.shape[1]]
        if self.midi_out is not None:
            for index, data in self._events:
                if pos <= index < pos + frames:
                    self.midi_out.write_midi_event(index - pos, data)
        for cb in self.cycle_callbacks:
            cb(pos, frames)
        self._pos = pos + frames
        if self._pos >= len(sig):
            self.done.set()

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
