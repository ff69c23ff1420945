"""The app's handle on the capture process.

    rec = Recorder(RecorderConfig(input_file="demo.wav")).open()
    started = rec.start_take(path)        # the take begins with up to preroll_s of the past
    rec.frame_at(time.monotonic())        # SampleClock for the marker bus
    stopped = rec.stop_take()
    rec.close()

Commands go over a pipe; a reader thread sorts replies from events (input ended, take
failed). Status (frames, overflows, meters) is read from shared memory without asking.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from dataclasses import dataclass, field
from pathlib import Path

from . import status as S


class RecorderError(RuntimeError):
    pass


@dataclass
class RecorderConfig:
    device: int | str | None = None    # PortAudio device index or name; None = default input
    channels: int | None = None        # default: up to 2
    samplerate: int | None = None      # default: the device's
    blocksize: int = 0                 # 0 = let the host choose (JACK: its period)
    latency: str | float = "low"
    input_file: str | None = None      # stream a file at real-time pace instead of a device
    loop: bool = False
    speed: float = 1.0                 # only for --input-file (tests may go faster)
    preroll_s: float = 10.0            # kept in memory while not recording
    headroom_s: float = 30.0           # how far the disk may fall behind before audio is lost
    format: str = "W64"
    subtype: str | None = None


@dataclass(frozen=True)
class TakeStarted:
    start_frame: int                   # stream frame that is sample 0 of the take
    preroll_frames: int


@dataclass(frozen=True)
class TakeStopped:
    frames: int
    overflows: int
    error: str | None = None


@dataclass(frozen=True)
class RecorderStatus:
    frames: int                        # frames captured since the stream opened
    overflows: int
    levels: tuple[float, ...]          # peak per channel since the last reading (linear)
    recording: bool
    take_frames: int
    lost: int


class Recorder:
    def __init__(self, config: RecorderConfig | None = None):
        self.config = config or RecorderConfig()
        self._shm, self._st = S.create_status()
        self._proc = None
        self._conn = None
        self._replies: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()   # ("input-ended",) / ("take-failed", {...}) / ("error", msg)
        self._listeners: list = []
        self.samplerate = self.channels = 0
        self.device = ""
        self.pid = None

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, timeout: float = 20.0) -> "Recorder":
        ours, theirs = socket.socketpair()
        cfg = json.dumps(dict(self.config.__dict__))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal.audio.capture", str(theirs.fileno()), self._shm.name, cfg],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._reader = threading.Thread(target=self._read, name="recorder-events", daemon=True)
        self._reader.start()
        try:
            kind, payload = self._reply(timeout, "ready")
        except RecorderError:
            self.close()
            raise
        self.samplerate, self.channels, self.device, self.pid = (
            payload["samplerate"], payload["channels"], payload["device"], payload["pid"])
        return self

    def close(self, timeout: float = 10.0) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(("quit",))
        except (OSError, EOFError):
            pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._conn.close()
        self._proc = None
        self._shm.close()
        self._shm.unlink()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def on_event(self, callback) -> None:
        """Call `callback(event)` from the reader thread for each asynchronous event."""
        self._listeners.append(callback)

    # -- takes ----------------------------------------------------------------------------
    def start_take(self, path: str | Path, timeout: float = 10.0) -> TakeStarted:
        self._conn.send(("start", str(path), self.config.format, self.config.subtype))
        kind, payload = self._reply(timeout, "started", "start-failed")
        if kind == "start-failed":
            raise RecorderError(f"cannot start the take: {payload}")
        return TakeStarted(payload["start_frame"], payload["preroll_frames"])

    def stop_take(self, timeout: float = 30.0) -> TakeStopped:
        self._conn.send(("stop",))
        kind, payload = self._reply(timeout, "stopped")
        return TakeStopped(payload["frames"], payload["overflows"])

    # -- clock and status -------------------------------------------------------------------
    def frame_at(self, t_monotonic: float) -> int | None:
        """SampleClock: the stream frame captured at `t_monotonic` (counting frames is exact;
        the anchor is the latest callback's)."""
        clock = S.read_clock(self._st)
        if clock is None:
            return None
        frames, anchor = clock
        return frames + round((t_monotonic - anchor) * self.samplerate)

    def status(self) -> RecorderStatus:
        st = self._st
        return RecorderStatus(
            frames=int(st[S.FRAMES]), overflows=int(st[S.OVERFLOWS]),
            levels=tuple(st[S.LEVELS + c] for c in range(min(self.channels, S.MAX_CHANNELS))),
            recording=bool(st[S.RECORDING]), take_frames=int(st[S.TAKE_FRAMES]), lost=int(st[S.LOST]),
        )

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- plumbing ---------------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                self._replies.put(("gone", None))
                self.events.put(("gone",))
                return
            kind = msg[0]
            if kind in ("ready", "started", "start-failed", "stopped"):
                self._replies.put((kind, msg[1]))
            else:
                if kind == "error":
                    self._replies.put(("error", msg[1]))
                self.events.put(msg)
                for cb in self._listeners:
                    try:
                        cb(msg)
                    except Exception:  # a listener's bug must not stop event delivery
                        import logging

                        logging.getLogger(__name__).exception("recorder event listener failed")

    def _reply(self, timeout: float, *expected: str):
        try:
            kind, payload = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise RecorderError(f"the capture process did not answer within {timeout:.0f} s") from None
        if kind == "error":
            raise RecorderError(payload)
        if kind == "gone":
            raise RecorderError("the capture process ended unexpectedly")
        if kind not in expected:
            raise RecorderError(f"unexpected reply {kind!r} from the capture process")
        return kind, payload
