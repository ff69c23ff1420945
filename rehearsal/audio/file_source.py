"""A file as the input, at real-time pace: `--input-file` for record and for play (one implementation).

The embedded default on a machine with no sound card (the demo take), a way to tag an old
recording, and play's stand-in for the performer. Three parts, used by both processes:

- `FileFeeder` reads the file ahead (off the audio callback) into a ring that the callback
  takes blocks from: no disk access in a callback, silence past the end (or if the disk
  lags, counted as `underruns`), NaN/inf replaced by 0 and counted (`nonfinite`), so no take
  (and no model trained on one) ever holds them.
- `PacedClock` calls a tick every block at real-time pace from a thread, where no sound card
  is the clock (record from a file; play into a null output).
- `FileSource` is the two together standing in for a PortAudio input stream: it calls the
  capture callback with the same arguments a stream would. Play with an output device
  takes from its `FileFeeder` in the output stream's own callback instead.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import soundfile as sf

from .ring import Ring

MIN_RATE, MAX_RATE = 1000, 768_000   # outside this a header is broken, not a recording
AHEAD_S = 4.0                        # how far the feeder reads ahead
READ_FRAMES = 4096


class FileFeeder:
    def __init__(self, path: str, loop: bool = False, max_block: int = 8192):
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
            self.file.close()
            raise ValueError(f"{path}: the file holds no audio")
        self.path, self.loop = path, loop
        self.samplerate, self.channels = self.file.samplerate, self.file.channels
        self.ring = Ring(int(AHEAD_S * self.samplerate) * 2, self.channels)
        self.taken = 0
        self.ended = False           # the file is read to its end (never, when looping)
        self.ended_reported = False
        self.underruns = 0
        self.nonfinite = 0
        self._block = np.zeros((READ_FRAMES, self.channels), np.float32)
        self._out = np.zeros((max(max_block, 1), self.channels), np.float32)

    def fill(self) -> None:
        """Not from a callback: keep AHEAD_S seconds ready."""
        while not self.ended and self.ring.written - self.taken < AHEAD_S * self.samplerate:
            n = len(self.file.read(out=self._block, dtype="float32"))
            if n == 0:
                if self.loop:
                    self.file.seek(0)
                    continue
                self.ended = True
                return
            block = self._block[:n]
            bad = ~np.isfinite(block)
            if bad.any():
                self.nonfinite += int(bad.sum())
                block[bad] = 0.0
            self.ring.write(block)

    def ready(self) -> int:
        """Frames read and not yet taken."""
        return self.ring.written - self.taken

    def take(self, frames: int) -> np.ndarray:
        """Callback: the next `frames` frames (at most max_block); silence past the end (or if
        the disk lags)."""
        out = self._out[:frames]
        have = min(frames, self.ready())
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
        """True once, when the end of the file has been taken (the caller sets `ended_reported`)."""
        return self.ended and not self.ended_reported and self.taken >= self.ring.written

    def close(self) -> None:
        self.file.close()


class PacedClock:
    """A stand-in stream: start/stop/close, calls tick(frames) every block at real time
    (speed 2: twice as fast) until stopped or tick returns False."""

    def __init__(self, tick, blocksize: int, samplerate: int, speed: float = 1.0, name: str = "paced-clock"):
        self.tick, self.blocksize, self.samplerate, self.speed = tick, blocksize, samplerate, speed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2)

    def close(self) -> None:
        self.stop()

    def _run(self) -> None:
        sent = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            if self.tick(self.blocksize) is False:
                return
            sent += self.blocksize
            # pace: the next block is due when the audio so far would have played
            delay = t0 + sent / (self.samplerate * self.speed) - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)


class FileSource:
    """Record's `--input-file`: calls `callback(block, frames, time_info, status)` like an
    input stream, the last block short, then `on_end()` once the file is done (not looping)."""

    def __init__(self, path: str, callback, blocksize: int = 512, loop: bool = False, speed: float = 1.0,
                 on_end=None):
        self.feeder = FileFeeder(path, loop=loop, max_block=blocksize)
        self.samplerate, self.channels = self.feeder.samplerate, self.feeder.channels
        self.path, self.callback, self.on_end = path, callback, on_end
        self.name = f"file:{path}"
        self._status = SimpleNamespace(input_overflow=False)
        self._clock = PacedClock(self._tick, blocksize, self.samplerate, speed, name="file-source")

    @property
    def nonfinite(self) -> int:
        return self.feeder.nonfinite

    @property
    def file(self):
        """The open sound file (its format, for a caller that checks what was accepted)."""
        return self.feeder.file

    def _tick(self, frames: int) -> bool:
        feeder = self.feeder
        feeder.fill()
        n = min(frames, feeder.ready()) if feeder.ended else frames
        if n == 0:
            feeder.ended_reported = True
            if self.on_end:
                self.on_end()
            return False
        now = time.monotonic()
        self.callback(feeder.take(n), n, SimpleNamespace(currentTime=now, inputBufferAdcTime=now), self._status)
        return True

    def start(self) -> None:
        self._clock.start()

    def stop(self) -> None:
        self._clock.stop()

    def close(self) -> None:
        self.stop()
        self.feeder.close()
