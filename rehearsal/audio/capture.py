"""The capture process: stream -> ring -> take files. Runs in its own process (spawn).

Its main thread answers commands from the app over a pipe and, between commands, writes
whatever the callback added to the ring into the open take (every ~20 ms). The callback
does three things only: count overflows and fill the frames of a missed cycle or of a
dropout with silence (core.CycleCounter, core.SteadyClock), copy the block into the ring,
publish the clock.
If the app dies (the pipe closes) the take is finished cleanly before this process exits.
"""

from __future__ import annotations

import os
import time

from . import status as S
from .child import child_main, command_loop
from .core import PUMP_INTERVAL, CycleCounter, SteadyClock, TakePump, explain_write_error, peaks, raise_priority
from .ring import Ring
from .writer import TakeWriter


def main() -> None:
    """`python -P -m rehearsal.audio.capture FD SHM CONFIG_JSON`, started by `Recorder.open`."""
    child_main(Capture, S.attach_status)


class Capture:
    def __init__(self, config: dict, conn, st):
        self.cfg, self.conn, self.st = config, conn, st
        self.take: TakePump | None = None
        self.level_from = 0
        self.lost = 0                    # frames the disk fell too far behind for, this process
        self.overflows_at_start = 0
        self.clock: SteadyClock | None = None   # made when the stream's rate is known
        self.cycles = CycleCounter()     # JACK's: made with the stream
        self.gaps_at_start = 0
        self.miss = 0                    # test hook: cycles the callback is to miss

    @property
    def gap_frames(self) -> int:
        """Frames written as silence so the timeline holds: cycles the client missed and
        moments the device itself stopped (dropouts), since the stream opened."""
        return self.cycles.gap_frames + (self.clock.dropout_frames if self.clock is not None else 0)

    # -- the audio callback (PortAudio's thread, or the file source's) --------------------
    def callback(self, indata, frames, time_info, status) -> None:
        if self.miss:       # test hook ("miss-cycles"): a client too late for this cycle
            self.miss -= 1
            return
        st = self.st
        missed = self.cycles.missed(self.ring.written)
        if missed:          # frames the stream ran past: silence, so the timeline holds
            self.ring.write_silence(missed)
            st[S.GAP_FRAMES] = self.gap_frames
        t = time.monotonic()
        clock = self.clock
        if status.input_overflow:
            st[S.OVERFLOWS] += 1
            if clock is not None:
                clock.overflow(self.ring.written)
        start = self.ring.written
        # the first sample of this block was captured `lag` seconds before now (0 on JACK)
        lag = time_info.currentTime - time_info.inputBufferAdcTime
        stamp = t - lag if 0.0 < lag < 1.0 else t
        anchor = stamp
        if clock is not None:
            anchor = clock.anchor(start, stamp)
            owed = clock.owed()
            if owed:        # the device stopped for a moment (a dropout): silence, so the timeline holds
                self.ring.write_silence(owed)
                start += owed
                anchor = clock.anchor(start, stamp)
                st[S.GAP_FRAMES] = self.gap_frames
        self.ring.write(indata)
        S.publish_clock(st, start, anchor)
        st[S.CALLBACKS] += 1
        st[S.STARTED] = 1.0

    # -- set-up ------------------------------------------------------------------------
    def open_stream(self):
        cfg = self.cfg
        if cfg.get("input_file"):
            from .file_source import FileSource

            src = FileSource(cfg["input_file"], self._callback_trampoline, blocksize=cfg.get("blocksize") or 512,
                             loop=cfg.get("loop", False), speed=cfg.get("speed", 1.0),
                             on_end=lambda: self.conn.send(("input-ended", src.nonfinite)))
            return src, src.samplerate, src.channels, src.name
        import sounddevice as sd

        device = cfg.get("device")
        try:
            info = sd.query_devices(device, kind="input") if device is not None else sd.query_devices(kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            from .demo import device_names

            wanted = f"input device {device!r}" if device is not None else "default input device"
            raise RuntimeError(f"no {wanted} (PortAudio: {exc}); inputs: {device_names(sd, 'input') or 'none'}. "
                               "Name one with --device, record a file with --input-file FILE, or use the "
                               "demo input (the TUI offers it)") from None
        samplerate = int(cfg.get("samplerate") or info["default_samplerate"])
        channels = int(cfg.get("channels") or min(2, info["max_input_channels"]))
        if channels > info["max_input_channels"]:
            raise RuntimeError(f"{info['name']} has {info['max_input_channels']} inputs, {channels} asked")
        stream = sd.InputStream(device=info["index"], channels=channels, samplerate=samplerate, dtype="float32",
                                blocksize=cfg.get("blocksize") or 0, latency=cfg.get("latency", "low"),
                                callback=self._callback_trampoline)
        self.cycles = CycleCounter.for_stream(sd.query_hostapis(info["hostapi"])["name"])
        return stream, samplerate, channels, info["name"]

    def _callback_trampoline(self, indata, frames, time_info, status):
        self.callback(indata, frames, time_info, status)

    def serve(self) -> None:
        raise_priority()
        self.stream, self.samplerate, self.channels, self.device = self.open_stream()
        # a file source cannot drop out; a device can (RecorderConfig.fill_dropouts)
        self.clock = SteadyClock(self.samplerate, fill=bool(self.cfg.get("fill_dropouts", True))
                                 and not self.cfg.get("input_file"))
        capacity = int(self.samplerate * (self.cfg.get("preroll_s", 10.0) + self.cfg.get("headroom_s", 30.0)))
        self.ring = Ring(capacity, self.channels)
        self.preroll = int(self.samplerate * self.cfg.get("preroll_s", 10.0))
        # a held input file starts with the first take: none of it streams past unrecorded
        self.held = bool(self.cfg.get("input_file") and self.cfg.get("hold_file"))
        if not self.held:
            self.stream.start()
        self.conn.send(("ready", {"samplerate": self.samplerate, "channels": self.channels,
                                  "device": self.device, "pid": os.getpid(), "cycle_counter": self.cycles.active}))
        try:
            command_loop(self.conn, self.handle, self.pump, PUMP_INTERVAL)
        finally:
            self.stream.stop() if hasattr(self.stream, "stop") else None
            self.pump()
            self.finish_take()
            self.stream.close()
            self.cycles.close()

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
            if self.take is not None:
                self.take.stop = self.ring.written
            self.pump()
            frames = self.finish_take()
            self.conn.send(("stopped", {"frames": frames, "overflows": int(self.st[S.OVERFLOWS]) - self.overflows_at_start,
                                        "gap_frames": self.gap_frames - self.gaps_at_start}))
        elif kind == "miss-cycles":
            self.miss = int(cmd[1])
        elif kind == "quit":
            return False
        return True

    def start_take(self, path: str, fmt: str, subtype: str | None) -> None:
        if self.take is not None:
            raise RuntimeError("a take is already recording")
        now = self.ring.written
        start = max(self.ring.oldest(), now - self.preroll, 0)
        self.take = TakePump(self.ring, TakeWriter(path, self.samplerate, self.channels, fmt, subtype), start)
        self.overflows_at_start = int(self.st[S.OVERFLOWS])  # a take counts its own overflows and gaps
        self.gaps_at_start = self.gap_frames
        self.st[S.TAKE_START] = start
        self.st[S.TAKE_FRAMES] = 0
        self.st[S.RECORDING] = 1.0
        self.conn.send(("started", {"start_frame": start, "preroll_frames": now - start}))
        if self.held:
            self.held = False
            self.stream.start()
        self.pump()

    def finish_take(self) -> int:
        take, self.take = self.take, None
        self.st[S.RECORDING] = 0.0
        return take.close() if take is not None else 0

    # -- the writer ------------------------------------------------------------------------
    def pump(self) -> None:
        written = self.ring.written
        self.update_levels(written)
        take = self.take
        if take is None:
            return
        try:
            lost = take.lost
            take.pump(written)
            if take.lost != lost:
                self.lost += take.lost - lost
                self.st[S.LOST] = self.lost
            self.st[S.TAKE_FRAMES] = take.frames
        except Exception as exc:  # disk full, file gone: keep what is on disk, say so
            path = take.writer.path
            frames = self.finish_take()
            self.conn.send(("take-failed", {"frames": frames, "error": explain_write_error(exc, path)}))

    def update_levels(self, written: int) -> None:
        start = max(self.level_from, written - self.samplerate)
        if written <= start:
            return
        levels = peaks(self.ring, start, written)
        for ch in range(min(self.channels, S.MAX_CHANNELS)):
            self.st[S.LEVELS + ch] = float(levels[ch])
        self.level_from = written


if __name__ == "__main__":
    main()
