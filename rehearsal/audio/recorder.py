"""The app's handle on the capture process.

    rec = Recorder(RecorderConfig(input_file="demo.wav")).open()
    started = rec.start_take(path)        # the take begins with up to preroll_s of the past
    rec.frame_at(time.monotonic())        # SampleClock for the marker bus
    stopped = rec.stop_take()
    rec.close()

The process plumbing is `child.EngineClient` (over `child.ChildProcess`); status (frames,
overflows, meters) is read from shared memory without asking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import status as S
from .child import EngineClient


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
    hold_file: bool = False            # --input-file: the file starts with the first take, not at open
                                       # (record's CLI: all of the file, whatever the preroll)
    preroll_s: float = 10.0            # kept in memory while not recording
    headroom_s: float = 30.0           # how far the disk may fall behind before audio is lost
    format: str = "W64"
    subtype: str | None = None
    fill_dropouts: bool = True         # a moment the device stopped is written as silence, so the take
                                       # keeps the room's time (False: only the frames the stream
                                       # delivered, for a source inside the JACK graph that a stalled
                                       # server paused rather than lost; audio/core.SteadyClock)


@dataclass(frozen=True)
class TakeStarted:
    start_frame: int                   # stream frame that is sample 0 of the take
    preroll_frames: int


@dataclass(frozen=True)
class TakeStopped:
    frames: int
    overflows: int
    error: str | None = None
    gap_frames: int = 0                # frames of missed stream cycles and dropouts, in the take as silence


@dataclass(frozen=True)
class RecorderStatus:
    frames: int                        # frames captured since the stream opened
    overflows: int
    levels: tuple[float, ...]          # peak per channel since the last reading (linear)
    recording: bool
    take_frames: int
    lost: int
    gap_frames: int = 0                # frames of missed stream cycles filled, since the stream opened


class Recorder(EngineClient):
    """The capture process: events are input-ended, take-failed, error, gone."""

    module = "rehearsal.audio.capture"
    replies = ("ready", "started", "start-failed", "stopped")
    error = RecorderError
    what = "capture"
    status_module = S

    def __init__(self, config: RecorderConfig | None = None):
        super().__init__(config or RecorderConfig())

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
        return TakeStopped(payload["frames"], payload["overflows"], gap_frames=payload.get("gap_frames", 0))

    # -- status ---------------------------------------------------------------------------
    def status(self) -> RecorderStatus | None:
        """The shared-memory status; None once the recorder is closed (a meter poller on
        another thread may ask while it closes: Textual's cancel of a thread worker does not
        wait for the thread)."""
        st = self._st
        if st is None:
            return None
        return RecorderStatus(
            frames=int(st[S.FRAMES]), overflows=int(st[S.OVERFLOWS]),
            levels=tuple(st[S.LEVELS + c] for c in range(min(self.channels, S.MAX_CHANNELS))),
            recording=bool(st[S.RECORDING]), take_frames=int(st[S.TAKE_FRAMES]), lost=int(st[S.LOST]),
            gap_frames=int(st[S.GAP_FRAMES]),
        )
