"""`--input-file`: stream an audio file through the same callback at real-time pace.

The embedded default on a machine with no sound card, and a way to tag an old recording.
It stands in for PortAudio: a thread reads blocks and calls the capture callback with the
same arguments a stream would, paced by the monotonic clock.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import soundfile as sf


MIN_RATE, MAX_RATE = 1000, 768_000   # outside this a header is broken, not a recording


class FileSource:
    """`nonfinite` counts NaN/inf samples read: they are replaced by 0 before the callback,
    so no take (and no model trained on one) ever holds them."""

    def __init__(self, path: str, callback, blocksize: int = 512, loop: bool = False, speed: float = 1.0,
                 on_end=None):
        try:
            self.file = sf.SoundFile(path)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise ValueError(f"{path}: cannot read as audio ({exc})") from None
        if not MIN_RATE <= self.file.samplerate <= MAX_RATE:
            rate = self.file.samplerate
            self.file.close()
            raise ValueError(f"{path}: the header says {rate} Hz; a recording is {MIN_RATE}-{MAX_RATE} Hz,"
                             " so the header is broken")
        if self.file.frames == 0:
            raise ValueError(f"{path}: the file holds no audio")
        self.samplerate, self.channels = self.file.samplerate, self.file.channels
        self.path, self.callback, self.blocksize = path, callback, blocksize
        self.loop, self.speed, self.on_end = loop, speed, on_end
        self.nonfinite = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="file-source", daemon=True)
        self.name = f"file:{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def close(self) -> None:
        self.stop()
        self.file.close()

    def _run(self) -> None:
        block = np.zeros((self.blocksize, self.channels), dtype=np.float32)
        status = SimpleNamespace(input_overflow=False)
        sent = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            n = self.file.read(out=block, dtype="float32")
            n = len(n)
            bad = ~np.isfinite(block[:n])
            if bad.any():
                self.nonfinite += int(bad.sum())
                block[:n][bad] = 0.0
            if n == 0:
                if self.loop:
                    self.file.seek(0)
                    continue
                if self.on_end:
                    self.on_end()
                return
            now = time.monotonic()
            info = SimpleNamespace(currentTime=now, inputBufferAdcTime=now)
            self.callback(block[:n], n, info, status)
            sent += n
            # pace: the next block is due when the audio so far would have played
            delay = t0 + sent / (self.samplerate * self.speed) - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
