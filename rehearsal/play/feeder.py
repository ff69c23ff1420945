"""`--input-file` for play: a file stands in for the performer.

`FileFeeder` reads ahead from the file on the engine's main thread into a ring the audio
callback takes from (no disk access in the callback). `PacedClock` calls the callback at
real-time pace from a thread when there is no output device to be the clock.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import soundfile as sf

from ..audio.ring import Ring

AHEAD_S = 4.0


class FileFeeder:
    def __init__(self, path: str, loop: bool = False):
        try:
            self.file = sf.SoundFile(path)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise ValueError(f"{path}: cannot read as audio ({exc})") from None
        if self.file.frames == 0:
            raise ValueError(f"{path}: the file holds no audio")
        self.path, self.loop = path, loop
        self.samplerate, self.channels = self.file.samplerate, self.file.channels
        self.ring = Ring(int(AHEAD_S * self.samplerate) * 2, self.channels)
        self.taken = 0
        self.ended = False
        self.ended_reported = False
        self.underruns = 0
        self._block = np.zeros((4096, self.channels), np.float32)
        self._out = np.zeros((8192, self.channels), np.float32)

    def fill(self) -> None:
        """Main thread: keep AHEAD_S seconds ready."""
        while not self.ended and self.ring.written - self.taken < AHEAD_S * self.samplerate:
            n = len(self.file.read(out=self._block, dtype="float32"))
            if n == 0:
                if self.loop:
                    self.file.seek(0)
                    continue
                self.ended = True
                return
            self.ring.write(self._block[:n])

    def take(self, frames: int) -> np.ndarray:
        """Callback: the next `frames` frames; silence past the end (or if the disk lags)."""
        out = self._out[:frames]
        have = min(frames, self.ring.written - self.taken)
        pos = 0
        if have > 0:
            for v in self.ring.views(self.taken, self.taken + have):
                out[pos:pos + len(v)] = v
                pos += len(v)
            self.taken += have
        if pos < frames:
            out[pos:] = 0.0
            if not self.ended:
                self.underruns += 1
        return out

    def ended_and_drained(self) -> bool:
        return self.ended and not self.ended_reported and self.taken >= self.ring.written


class PacedClock:
    """A stand-in stream: start/stop/close, calls tick(frames) every block at real time."""

    def __init__(self, tick, blocksize: int, samplerate: int, speed: float = 1.0):
        self.tick, self.blocksize, self.samplerate, self.speed = tick, blocksize, samplerate, speed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="play-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def close(self) -> None:
        self.stop()

    def _run(self) -> None:
        sent = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.tick(self.blocksize)
            sent += self.blocksize
            delay = t0 + sent / (self.samplerate * self.speed) - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
