"""A JACK test client that records what other clients output, with JACK's frame times.

The other half of JackPlayer: connect it to PortAudio's outputs and it keeps every cycle
with `last_frame_time`, so what a player played at absolute frame F and what came out at
absolute frame G can be compared sample for sample: G - F is the latency, exactly.
"""

from __future__ import annotations

import threading

import jack
import numpy as np


class JackRecorder:
    def __init__(self, name: str = "listener", channels: int = 1, seconds: float = 60.0):
        self.client = jack.Client(name, no_start_server=True)
        self.ins = [self.client.inports.register(f"in_{i + 1}") for i in range(channels)]
        self.buffer = np.zeros((int(seconds * self.client.samplerate), channels), np.float32)
        self.pos = 0
        self.first_frame: int | None = None   # JACK frame time of buffer[0]
        self.recording = False
        self.full = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def connect_from(self, client_prefix: str) -> list[str]:
        """Connect the output ports of the one client whose name starts with prefix."""
        sources = [p for p in self.client.get_ports(is_output=True, is_audio=True) if p.name.startswith(client_prefix)]
        clients = sorted({p.name.split(":", 1)[0] for p in sources})
        if len(clients) > 1:
            raise RuntimeError(f"several JACK clients match {client_prefix!r}: {clients} (a leaked process?)")
        for src, dst in zip(sources, self.ins):
            self.client.connect(src, dst)
        return [s.name for s in sources]

    def start(self) -> None:
        self.recording = True

    def _process(self, frames: int) -> None:
        if not self.recording or self.full.is_set():
            return
        if self.first_frame is None:
            self.first_frame = self.client.last_frame_time
        n = min(frames, len(self.buffer) - self.pos)
        for ch, port in enumerate(self.ins):
            self.buffer[self.pos:self.pos + n, ch] = port.get_array()[:n]
        self.pos += n
        if self.pos >= len(self.buffer):
            self.full.set()

    def frames_recorded_until(self) -> int:
        """The JACK frame time just past what is recorded."""
        return (self.first_frame or 0) + self.pos

    def at(self, abs_frame: int, n: int) -> np.ndarray:
        """Recorded frames [abs_frame, abs_frame + n) of channel 0."""
        i = abs_frame - self.first_frame
        assert 0 <= i and i + n <= self.pos, f"frames {abs_frame}..+{n} not recorded ({self.first_frame}..+{self.pos})"
        return self.buffer[i:i + n, 0]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()
