"""The capture process: stream -> ring -> take files. Runs in its own process (spawn).

Its main thread answers commands from the app over a pipe and, between commands, writes
whatever the callback added to the ring into the open take (every ~20 ms). The callback
does three things only: count overflows, copy the block into the ring, publish the clock.
If the app dies (the pipe closes) the take is finished cleanly before this process exits.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import deque

import numpy as np

from . import status as S
from .ring import Ring
from .child import command_loop
from .writer import TakeWriter

PUMP_INTERVAL = 0.02      # write to disk and update meters 50 times a second
MAX_CHUNK = 48_000        # frames per write call
CLOCK_WINDOW_S = 1.0      # the clock anchor is the best of this many seconds of callbacks
RECHECK_S = 0.1           # after an overflow, look this long for frames having been lost
JUMP_S = 0.002            # a frame/time relation this much later than before means frames were lost


def run(config: dict, conn, st) -> None:
    try:
        Capture(config, conn, st).serve()
    except Exception as exc:  # report, never die silently
        try:
            conn.send(("error", f"{exc}", traceback.format_exc()))
        except Exception:
            pass


def _explain(exc: Exception, path) -> str:
    """libsndfile says "System error." for ENOSPC: name the likely cause."""
    import shutil

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < 1 << 20:
        return f"no space left on the disk holding {path.parent} ({free} bytes free)"
    return f"cannot write {path}: {type(exc).__name__}: {exc}"


def main() -> None:
    """`python -m rehearsal.audio.capture FD SHM CONFIG_JSON`, started by `Recorder.open`.

    A plain subprocess rather than multiprocessing: spawn would re-import the app's main
    module, and nothing of the app (UI, OSC, torch) belongs in here.
    """
    import json
    import sys
    from multiprocessing.connection import Connection

    fd, shm_name, cfg = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    conn = Connection(fd)
    shm, st = S.attach_status(shm_name)
    try:
        run(cfg, conn, st)
    finally:
        del st
        shm.close()


class Capture:
    def __init__(self, config: dict, conn, st):
        self.cfg, self.conn, self.st = config, conn, st
        self.writer: TakeWriter | None = None
        self.take_start = 0
        self.take_stop: int | None = None
        self.level_from = 0
        self.lost = 0
        self.overflows_at_start = 0
        self._offsets: deque = deque()   # (frames, stamp - frames/sr), increasing offsets
        self._recheck: tuple[int, float] | None = None   # after an overflow: (until frame, best offset)

    # -- the audio callback (PortAudio's thread, or the file source's) --------------------
    def callback(self, indata, frames, time_info, status) -> None:
        t = time.monotonic()
        st = self.st
        if status.input_overflow:
            st[S.OVERFLOWS] += 1
            self._recheck = (self.ring.written + int(RECHECK_S * getattr(self, "samplerate", 0)), float("inf"))
        start = self.ring.written
        self.ring.write(indata)
        # the first sample of this block was captured `lag` seconds before now (0 on JACK)
        lag = time_info.currentTime - time_info.inputBufferAdcTime
        publish = S.publish_clock
        publish(st, start, self._steady_anchor(start, t - lag if 0.0 < lag < 1.0 else t))
        st[S.CALLBACKS] += 1
        st[S.STARTED] = 1.0

    def _steady_anchor(self, frames: int, stamp: float) -> float:
        """A callback's stamp is when it ran, which a busy machine delays (never advances),
        while the frame count is exact. Taken as is, one late callback makes every tap
        converted through it land early (up to ~200 samples at rest, 1,000+ under load,
        measured). So the anchor is frames/sr after the earliest stream start
        (stamp - frames/sr) seen in the last CLOCK_WINDOW_S: late callbacks are ignored,
        while clock drift and a real jump (cycles lost in an xrun) are taken up within the
        window. An overflow flag alone changes nothing (on JACK every client gets one when
        any client is late, lost frames or not); if the relation seen in the RECHECK_S after
        it is later by more than JUMP_S, frames were lost and the window starts over from
        there. A sliding-window minimum, O(1) per callback."""
        sr = getattr(self, "samplerate", 0)
        if not sr:
            return stamp
        offset = stamp - frames / sr
        q = self._offsets
        while q and q[-1][1] >= offset:
            q.pop()
        q.append((frames, offset))
        while q[0][0] < frames - CLOCK_WINDOW_S * sr:
            q.popleft()
        if self._recheck is not None:
            until, best_after = self._recheck
            best_after = min(best_after, offset)
            self._recheck = (until, best_after)
            if frames >= until:
                self._recheck = None
                if best_after > q[0][1] + JUMP_S:
                    q.clear()
                    q.append((frames, best_after))
        return q[0][1] + frames / sr

    # -- set-up ------------------------------------------------------------------------
    def open_stream(self):
        cfg = self.cfg
        if cfg.get("input_file"):
            from .file_source import FileSource

            src = FileSource(cfg["input_file"], self._callback_trampoline, blocksize=cfg.get("blocksize") or 512,
                             loop=cfg.get("loop", False), speed=cfg.get("speed", 1.0),
                             on_end=lambda: self.conn.send(("input-ended",)))
            return src, src.samplerate, src.channels, src.name
        import sounddevice as sd

        device = cfg.get("device")
        try:
            info = sd.query_devices(device, kind="input") if device is not None else sd.query_devices(kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
            raise RuntimeError(f"no input device {device!r} ({exc}); inputs: {names or 'none'}") from None
        samplerate = int(cfg.get("samplerate") or info["default_samplerate"])
        channels = int(cfg.get("channels") or min(2, info["max_input_channels"]))
        if channels > info["max_input_channels"]:
            raise RuntimeError(f"{info['name']} has {info['max_input_channels']} inputs, {channels} asked")
        stream = sd.InputStream(device=info["index"], channels=channels, samplerate=samplerate, dtype="float32",
                                blocksize=cfg.get("blocksize") or 0, latency=cfg.get("latency", "low"),
                                callback=self._callback_trampoline)
        return stream, samplerate, channels, info["name"]

    @staticmethod
    def raise_priority() -> None:
        """The callback may wait for the GIL held by this process's writer thread; if a busy
        core deschedules the writer, the callback is late (priority inversion). So the
        writer runs real-time too where allowed (root, rtprio limits), else at a high
        nice, and hands over the GIL every 0.5 ms instead of 5 ms."""
        import sys

        sys.setswitchinterval(0.0005)
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            return
        except (OSError, AttributeError):
            pass
        try:
            os.nice(-10)
        except OSError:
            pass

    def _callback_trampoline(self, indata, frames, time_info, status):
        self.callback(indata, frames, time_info, status)

    def serve(self) -> None:
        self.raise_priority()
        self.stream, self.samplerate, self.channels, self.device = self.open_stream()
        capacity = int(self.samplerate * (self.cfg.get("preroll_s", 10.0) + self.cfg.get("headroom_s", 30.0)))
        self.ring = Ring(capacity, self.channels)
        self.preroll = int(self.samplerate * self.cfg.get("preroll_s", 10.0))
        self.stream.start()
        self.conn.send(("ready", {"samplerate": self.samplerate, "channels": self.channels,
                                  "device": self.device, "pid": os.getpid()}))
        try:
            command_loop(self.conn, self.handle, self.pump, PUMP_INTERVAL)
        finally:
            self.stream.stop() if hasattr(self.stream, "stop") else None
            self.pump()
            self.finish_take()
            self.stream.close()

    # -- commands ------------------------------------------------------------------------
    def handle(self, cmd) -> bool:
        kind = cmd[0]
        if kind == "start":
            _, path, fmt, subtype = cmd
            try:
                self.start_take(path, fmt, subtype)
            except Exception as exc:
                self.conn.send(("start-failed", f"{type(exc).__name__}: {exc}"))
        elif kind == "stop":
            stop_at = self.ring.written
            self.take_stop = stop_at
            self.pump()
            frames = self.finish_take()
            self.conn.send(("stopped", {"frames": frames, "overflows": int(self.st[S.OVERFLOWS]) - self.overflows_at_start}))
        elif kind == "quit":
            return False
        return True

    def start_take(self, path: str, fmt: str, subtype: str | None) -> None:
        if self.writer is not None:
            raise RuntimeError("a take is already recording")
        now = self.ring.written
        start = max(self.ring.oldest(), now - self.preroll, 0)
        self.writer = TakeWriter(path, self.samplerate, self.channels, fmt, subtype)
        self.take_start, self.take_stop = start, None
        self.overflows_at_start = int(self.st[S.OVERFLOWS])  # a take counts its own overflows
        self.st[S.TAKE_START] = start
        self.st[S.TAKE_FRAMES] = 0
        self.st[S.RECORDING] = 1.0
        self.conn.send(("started", {"start_frame": start, "preroll_frames": now - start}))
        self.pump()

    def finish_take(self) -> int:
        w = self.writer
        if w is None:
            return 0
        self.writer = None
        self.st[S.RECORDING] = 0.0
        try:
            w.close()
        except Exception:
            pass
        return w.frames

    # -- the writer ------------------------------------------------------------------------
    def pump(self) -> None:
        written = self.ring.written
        self.update_levels(written)
        w = self.writer
        if w is None:
            return
        end = written if self.take_stop is None else min(written, self.take_stop)
        pos = self.take_start + w.frames
        try:
            while pos < end:
                stop = min(end, pos + MAX_CHUNK)
                try:
                    views = self.ring.views(pos, stop)
                except OverflowError:
                    # the disk fell more than the ring behind: count it, skip to what exists
                    skip = self.ring.oldest() - pos
                    self.lost += skip
                    self.st[S.LOST] = self.lost
                    w.write(np.zeros((skip, self.channels), np.float32))  # keep the take's timeline
                    pos += skip
                    continue
                for v in views:
                    w.write(v)
                pos = stop
            self.st[S.TAKE_FRAMES] = w.frames
        except Exception as exc:  # disk full, file gone: keep what is on disk, say so
            path = w.path
            frames = self.finish_take()
            self.conn.send(("take-failed", {"frames": frames, "error": _explain(exc, path)}))

    def update_levels(self, written: int) -> None:
        start = max(self.level_from, self.ring.oldest(), written - self.samplerate)
        if written <= start:
            return
        peaks = np.zeros(self.channels, np.float32)
        for v in self.ring.views(start, written):
            np.maximum(peaks, np.abs(v).max(axis=0), out=peaks)
        for ch in range(min(self.channels, S.MAX_CHANNELS)):
            self.st[S.LEVELS + ch] = float(peaks[ch])
        self.level_from = written


if __name__ == "__main__":
    main()
