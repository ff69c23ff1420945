"""The app's handle on the capture process.

    rec = Recorder(RecorderConfig(input_file="demo.wav")).open()
    started = rec.start_take(path)        # the take begins with up to preroll_s of the past
    rec.frame_at(time.monotonic())        # SampleClock for the marker bus
    stopped = rec.stop_take()
    rec.close()

The process plumbing is `child.ChildProcess`; status (frames, overflows, meters) is read
from shared memory without asking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import status as S
from .child import ChildProcess


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
        self._child = ChildProcess("rehearsal.audio.capture", ("ready", "started", "start-failed", "stopped"),
                                   RecorderError, "capture")
        self._st = None                    # created by open(): nothing to leak if it never opens
        self.samplerate = self.channels = 0
        self.device = ""
        self.pid = None

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, timeout: float = 20.0) -> "Recorder":
        self._st = self._child.start(S.create_status, dict(self.config.__dict__))
        try:
            _, payload = self._child.reply(timeout, "ready")
        except RecorderError:
            self.close()
            raise
        self.samplerate, self.channels, self.device, self.pid = (
            payload["samplerate"], payload["channels"], payload["device"], payload["pid"])
        return self

    def close(self, timeout: float = 10.0) -> None:
        self._st = None   # the view into shared memory must go before the block is freed
        self._child.stop(("quit",), timeout)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def on_event(self, callback) -> None:
        """callback((kind, payload)) from the reader thread: input-ended, take-failed, error, gone."""
        self._child.on_event(callback)

    # -- takes ----------------------------------------------------------------------------
    def start_take(self, path: str | Path, timeout: float = 10.0) -> TakeStarted:
        self._child.send(("start", str(path), self.config.format, self.config.subtype))
        kind, payload = self._child.reply(timeout, "started", "start-failed")
        if kind == "start-failed":
            raise RecorderError(f"cannot start the take: {payload}")
        return TakeStarted(payload["start_frame"], payload["preroll_frames"])

    def stop_take(self, timeout: float = 30.0) -> TakeStopped:
        self._child.send(("stop",))
        _, payload = self._child.reply(timeout, "stopped")
        return TakeStopped(payload["frames"], payload["overflows"])

    # -- clock and status -------------------------------------------------------------------
    def frame_at(self, t_monotonic: float) -> int | None:
        """SampleClock: the stream frame captured at `t_monotonic` (counting frames is exact;
        the anchor is the capture process's steady frame/time relation)."""
        if self._st is None:
            return None
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
        return self._child.alive
