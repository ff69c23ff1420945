"""The play process: live input -> model hosts -> output, and both streams to disk.

    callback:      input -> input ring (takes) + input ring (shared, the model's channel)
                   mixer: the hosts' blocks rendered one period earlier -> mix -> output
                                                        \----------------> model take
    model hosts:   one process per generation (host.py): load, script, warm, render each block
    main thread:   commands from the app, hosts started and stopped, takes to disk, events

`python -m rehearsal.play.engine FD SHM CONFIG_JSON`, started by `Player`. Like the
recorder it is a process of its own, so nothing of the app (UI, OSC, database) holds the
GIL the callback needs; and no torch lives here either: loading a model holds a GIL for
tens of milliseconds, so each model lives in a host process of its own and a spare host
is kept started (importing torch takes seconds). The callback never waits for a model
beyond a short grace: it plays what the hosts finished since the previous period and, if
a block is not there, the dry input (a glitch, counted), never silence or garbage.

Both takes are written from the same frame counter: frame t of the model take is what the
models played at stream frame S + t (their answer to the input at S + t - latency - L, L
being a model's own latency beyond the play's: an imported module's buffer and resampling,
0 for our families); frame t of the performer take is the input at S + t - D, D the input
delay. A take started for a model (`align`) holds its performer take back until the first
model loaded reports its latency, and D is that latency: then model frame t answers
performer frame t - latency, and a tag, which lands on both at the frame it was tapped
(what was heard then), marks on the performer take what the performer played that the
model answered. D stays for the take (a take cannot change its delay without losing or
repeating frames); without a model coming, D is 0.
"""

from __future__ import annotations

import os
import queue
import time
from types import SimpleNamespace

import numpy as np

from ..audio.child import child_main, command_loop
from ..audio.core import PUMP_INTERVAL, CycleCounter, SteadyClock, TakePump, explain_write_error, peaks, raise_priority
from ..audio.ring import Ring
from ..audio.writer import TakeWriter
from . import shared as H
from . import status as S
from .blocks import FADE_CURVES, required_latency
from .hosts import Host

SAMPLE_RATE = 48000       # the rate asked of a device first (a file plays at its own; models at theirs)
STATS_EVERY = 25          # pumps (0.5 s) between statistics published to shared memory
PACED_GRACE_S = 0.1       # no device: how long the thread that is the clock waits for a late model block


def main() -> None:
    child_main(Engine, S.attach)


class Engine:
    def __init__(self, cfg: dict, conn, st):
        self.cfg, self.conn, self.st = cfg, conn, st
        self.events: queue.Queue = queue.Queue()
        self.gain = float(cfg.get("gain", 1.0))
        self.mix = float(cfg.get("mix", 1.0))
        self._mix_now = self.mix
        self.blocksize = int(cfg.get("blocksize") or 256)
        self.render_block = int(cfg.get("render_block") or 256)
        self.latency = int(cfg.get("latency") or 0) or (
            required_latency(self.render_block, self.blocksize) + int(cfg.get("lookahead", 0)) * self.render_block)
        if self.latency < required_latency(self.render_block, self.blocksize):
            raise ValueError(f"a latency of {self.latency} samples is too short for blocks of {self.blocksize} "
                             f"rendered {self.render_block} at a time "
                             f"(at least {required_latency(self.render_block, self.blocksize)})")
        curve = cfg.get("fade_curve", "equal-power")
        if curve not in FADE_CURVES:
            raise ValueError(f"fade curve {curve!r}: one of {', '.join(FADE_CURVES)}")
        self.fade_curve = curve
        self.model_channel = int(cfg.get("model_channel", 0))
        self.frames_done = 0
        self.takes: list[TakePump] | None = None     # performer, model: the same frames
        self.input_delay: int | None = 0   # D (module docstring); None: waiting for the first model's latency
        self.take_start = 0
        self.lost = 0
        self.level_from = 0
        self.take_glitches_at = 0
        self._last_glitches = 0
        self._pumps = 0
        self.feeder = None
        self._mix_error: str | None = None
        self.hold_file = bool(cfg.get("input_file")) and bool(cfg.get("wait_for_model", True))
        self.release_file = False        # set when no model is coming (none asked, or it failed)
        self.fallback: str | None = None   # what stands in for a missing sound card, in words
        self.cycles = CycleCounter()     # JACK's, made with a stream on JACK
        self.take_gaps_at = 0
        self.miss = 0                    # test hook: cycles the callback is to miss
        self.paced = False               # no device: a thread is the clock (PacedClock)

    def emit(self, kind: str, payload: dict) -> None:
        """From any thread: the main thread sends it (a Connection is not thread-safe)."""
        self.events.put((kind, payload))

    # -- the audio callback ----------------------------------------------------------------
    def callback(self, indata, outdata, frames, time_info, status) -> None:
        if self.miss:       # test hook ("miss-cycles"): a client too late for this cycle
            self.miss -= 1
            return
        st = self.st
        w0 = self.model_in.written
        missed = self.cycles.missed(self.inring.written)
        if missed:          # frames the stream ran past: silence in all three rings, one timeline
            self.fill_gap(missed)
            st[S.GAP_FRAMES] = self.cycles.gap_frames
        t = time.monotonic()
        if getattr(status, "input_overflow", False):
            st[S.OVERFLOWS] += 1
            self.clock.overflow(self.inring.written)
        lag = getattr(time_info, "currentTime", 0.0) - getattr(time_info, "inputBufferAdcTime", 0.0)
        stamp = t - lag if 0.0 < lag < 1.0 else t
        anchor = self.clock.anchor(self.inring.written, stamp)
        if getattr(status, "output_underflow", False):
            st[S.UNDERFLOWS] += 1
        s = self.inring.written
        self.inring.write(indata)
        self.model_in.write(indata[:, self.model_channel])
        R = self.render_block
        for k in range(w0 // R, self.model_in.written // R):   # blocks complete now: when, how late
            self.model_in.stamp(k, t)
            self._cb_late[k % H.STAMPS] = stamp - anchor
        for fd in self.wake_fds:            # the hosts render the block as soon as it is complete
            try:
                os.write(fd, b"\0")
            except (BlockingIOError, BrokenPipeError):
                pass
        a = s - self.latency
        dry, wet, model = self._dry[:frames], self._wet[:frames], self._model[:frames]
        self.mono(a, frames, dry)
        try:
            ok = self.mixer.mix(a, frames, dry, wet, model)
        except Exception as exc:   # never let the stream die of it: play dry, say so once
            ok = False
            if not self._mix_error:
                self._mix_error = f"{type(exc).__name__}: {exc}"
                self.emit("mixer-error", {"error": self._mix_error})
        if not ok:
            wet[:] = dry          # a model was late: the dry input, never a dropout
            model[:] = 0.0
            g = int(st[S.GLITCHES])
            j = g % len(self._glitch_frames)
            self._glitch_frames[j] = s
            self._late[j] = (a // R, t, stamp - anchor)    # which block, needed when, this callback's lateness
            self._late_host[j] = self.mixer.late_host
            st[S.GLITCHES] = g + 1
            st[S.GLITCH_FRAME] = s
        m0, m1 = self._mix_now, self.mix
        if m0 == m1:
            out = dry + (wet - dry) * np.float32(m1)
        else:   # a new dry/wet setting glides over one block: no zipper noise
            ramp = np.linspace(m0, m1, frames + 1, dtype=np.float32)[1:]
            out = dry + (wet - dry) * ramp
            self._mix_now = m1
        np.clip(out, -1.0, 1.0, out=out)   # a model gone loud must not hurt anyone's ears
        if outdata is not None:
            outdata[:] = out[:, None]
        self.outring.write(model[:, None])
        self.frames_done = s + frames
        S.publish_clock(st, s, anchor)
        st[S.CALLBACKS] += 1
        st[S.STARTED] = 1.0
        m = self.mixer
        st[S.SAVED] = m.glitch_waits
        st[S.ACTIVE_GEN] = (m.active.generation_id or -1) if m.active else 0
        st[S.INCOMING_GEN] = (m.incoming.generation_id or -1) if m.incoming else 0

    def fill_gap(self, n: int) -> None:
        """From the callback: n frames the client never got, as silence in the takes' rings
        and the models' input (the models hear the gap: their blocks stay on the frames)."""
        self.inring.write_silence(n)
        self.outring.write_silence(n)
        z = self._silence[:, 0]
        while n > 0:
            k = min(n, len(z))
            self.model_in.write(z[:k])
            n -= k
        self.frames_done = self.inring.written

    def mono(self, start: int, n: int, out: np.ndarray) -> None:
        """The model's input channel for frames [start, start + n); silence before 0."""
        pos = 0
        if start < 0:
            m = min(n, -start)
            out[:m] = 0.0
            pos, start = m, 0
        if pos < n:
            for v in self.inring.views(start, start + n - pos):
                out[pos:pos + len(v)] = v[:, self.model_channel]
                pos += len(v)

    # -- set-up ------------------------------------------------------------------------------
    def open_stream(self):
        cfg = self.cfg
        n = self.blocksize
        if cfg.get("input_file"):
            return self._open_file(cfg["input_file"])
        import sounddevice as sd

        from ..audio.demo import demo_take_path, device_names

        dev_in, dev_out = cfg.get("device"), cfg.get("output_device", cfg.get("device"))
        info_in, err_in = _query(sd, dev_in, "input")
        info_out, err_out = _query(sd, dev_out, "output")
        if (info_in is None or info_out is None) and dev_in is None and dev_out is None \
                and cfg.get("no_device_fallback", True):
            # no sound card: the demo take is the performer, nothing is heard, both streams recorded
            missing = " and ".join(w for w, i in (("input", info_in), ("output", info_out)) if i is None)
            self.fallback = (f"no sound card (no default {missing} device): playing the demo take into a "
                             "null output; both streams are recorded")
            self.hold_file = bool(cfg.get("wait_for_model", True))
            return self._open_file(str(demo_take_path()), loop=True, null_output=True)
        for info, err, dev, kind, opt in ((info_in, err_in, dev_in, "input", "--device"),
                                          (info_out, err_out, dev_out, "output", "--output-device")):
            if info is None:
                wanted = f"{kind} device {dev!r}" if dev is not None else f"the default {kind} device"
                raise RuntimeError(f"cannot use {wanted} ({err}); {kind}s: {device_names(sd, kind) or 'none'}. "
                                   f"Name one with {opt}, or play a file unheard with --input-file FILE "
                                   "--output-device none")
        in_ch = int(cfg.get("channels") or 1)
        out_ch = int(cfg.get("output_channels") or min(2, info_out["max_output_channels"]))
        if in_ch > info_in["max_input_channels"]:
            raise RuntimeError(f"{info_in['name']} has {info_in['max_input_channels']} inputs, {in_ch} asked")
        if not 0 <= self.model_channel < in_ch:
            raise RuntimeError(f"model input channel {self.model_channel + 1}: the input has {in_ch}")
        stream = self._open_at(
            sd, _rates(cfg, info_in), f"{info_in['name']} -> {info_out['name']}",
            "try another --device / --blocksize / --samplerate, or --input-file FILE --output-device none",
            lambda rate: sd.Stream(device=(info_in["index"], info_out["index"]), channels=(in_ch, out_ch),
                                   samplerate=rate, blocksize=n, dtype="float32",
                                   latency=cfg.get("stream_latency", "low"), callback=self.callback))
        self.cycles = CycleCounter.for_stream(sd.query_hostapis(info_in["hostapi"])["name"])
        name = info_in["name"] if info_in["index"] == info_out["index"] else f"{info_in['name']} -> {info_out['name']}"
        return stream, in_ch, out_ch, name

    def _open_file(self, path: str, loop: bool | None = None, null_output: bool = False):
        """--input-file: the file is the performer. With an output device its clock paces
        the file; without one (output "none", or no sound card) a thread does, and nothing is heard."""
        from ..audio.file_source import FileFeeder

        self.feeder = feeder = FileFeeder(path, loop=self.cfg.get("loop", False) if loop is None else loop,
                                          max_block=max(self.blocksize, 8192))
        self.samplerate = feeder.samplerate      # the room runs at the file's rate; models at theirs
        in_ch = feeder.channels
        if not 0 <= self.model_channel < in_ch:
            raise RuntimeError(f"model input channel {self.model_channel + 1}: {path} has {in_ch}")
        n = self.blocksize
        dev_out = self.cfg.get("output_device")
        info = None
        if dev_out != "none" and not null_output:
            import sounddevice as sd

            from ..audio.demo import device_names

            info, err = _query(sd, dev_out, "output")
            if info is None and dev_out is not None:
                raise RuntimeError(f"cannot use output device {dev_out!r} ({err}); outputs: "
                                   f"{device_names(sd, 'output') or 'none'}. Name one with --output-device, "
                                   "or render unheard with --output-device none")
            if info is None:
                self.fallback = (f"no output device ({err}): playing {path} into a null output; both streams "
                                 "are recorded")
        if info is None:
            from ..audio.file_source import PacedClock

            self.paced = True

            scratch = np.zeros((n, 1), np.float32)

            def tick(frames):
                self.callback(self._file_input(frames), scratch[:frames], frames,
                              SimpleNamespace(currentTime=0.0, inputBufferAdcTime=0.0),
                              SimpleNamespace(input_overflow=False, output_underflow=False))

            return (PacedClock(tick, n, self.samplerate, speed=float(self.cfg.get("speed", 1.0)), name="play-clock"),
                    in_ch, 0, f"file:{path}")
        import sounddevice as sd

        out_ch = int(self.cfg.get("output_channels") or min(2, info["max_output_channels"]))

        def out_callback(outdata, frames, time_info, status):
            self.callback(self._file_input(frames), outdata, frames, time_info, status)

        stream = self._open_at(
            sd, [feeder.samplerate], info["name"], "try another --output-device, or --output-device none",
            lambda rate: sd.OutputStream(device=info["index"], channels=out_ch, samplerate=rate, blocksize=n,
                                         dtype="float32", latency=self.cfg.get("stream_latency", "low"),
                                         callback=out_callback))
        self.cycles = CycleCounter.for_stream(sd.query_hostapis(info["hostapi"])["name"])
        return stream, in_ch, out_ch, f"file:{path} -> {info['name']}"

    def _open_at(self, sd, rates: list[int], name: str, advice: str, make):
        """The stream at the first of `rates` the device takes (self.samplerate set to it)."""
        errors = []
        for rate in rates:
            try:
                stream = make(rate)
            except sd.PortAudioError as exc:
                errors.append(f"{rate} Hz: {exc}")
                continue
            self.samplerate = int(rate)
            return stream
        raise RuntimeError(f"cannot open {name} with {self.blocksize}-sample blocks ({'; '.join(errors)}); "
                           f"{advice}") from None

    def _file_input(self, frames: int) -> np.ndarray:
        """The file's next frames, or silence while it waits for the first model (a file is
        a performance: it should meet the model, not play dry while torch loads)."""
        if self.hold_file:
            if self.mixer.active is None and not self.release_file:
                return self._silence[:frames]
            self.hold_file = False
        return self.feeder.take(frames)

    def serve(self) -> None:
        from .mixer import Mixer

        self.realtime = raise_priority()
        self.samplerate = SAMPLE_RATE
        self.stream, self.in_channels, self.out_channels, self.device = self.open_stream()
        sr = self.samplerate
        capacity = int(sr * float(self.cfg.get("headroom_s", 30.0)))
        self.inring = Ring(capacity, self.in_channels)
        self.outring = Ring(capacity, 1)
        self.model_in = H.InputRing.create(capacity=1 << 20)
        self.model_in.gain[0] = self.gain
        n = max(self.blocksize, 4096)
        self._dry, self._wet, self._model = (np.zeros(n, np.float32) for _ in range(3))
        self._glitch_frames = np.zeros(1024, np.int64)   # stream frames of the last glitches
        self._late = np.zeros((1024, 3), np.float64)      # and for each: block, time needed, callback late by
        self._late_host: list = [None] * 1024             # the host that was late
        self._cb_late = np.zeros(H.STAMPS, np.float64)    # per block: how late the callback completing it ran
        self._explained = 0                               # glitches looked into (explain_late)
        self.late_blocks: list[tuple] = []                # what each late block waited for (stats)
        self._silence = np.zeros((max(self.blocksize, 4096), self.in_channels), np.float32)
        self.clock = SteadyClock(sr)
        grace = float(self.cfg.get("grace", 0.25)) * self.blocksize / sr
        if self.paced:
            # nobody hears it, so nothing is due at an instant: a block late because another
            # process started (torch loading, a busy core) is waited for, and the clock, which
            # keeps time from its start, catches up after it (dry only past PACED_GRACE_S)
            paced = self.cfg.get("paced_grace_s")
            grace = max(grace, float(PACED_GRACE_S if paced is None else paced))
        fade = round(float(self.cfg.get("fade_ms", 50.0)) * sr / 1000)
        self.mixer = Mixer(self.render_block, fade, self.fade_curve, self.emit, grace)
        self.hosts: list[Host] = []          # every host started and not yet reaped
        self.spare: Host | None = None
        self.waiting: list[dict] = []        # load requests waiting for a spare host
        self.wake_fds: tuple[int, ...] = ()
        self.retired_times: list[np.ndarray] = []
        self.retired_waits: list[np.ndarray] = []
        self.retired_gc: list[np.ndarray] = []
        self.retired_counts = [0, 0]         # blocks rendered and skipped by hosts gone
        st = self.st
        st[S.MIX], st[S.GAIN], st[S.LATENCY] = self.mix, self.gain, self.latency
        st[S.HOP], st[S.BLOCK] = self.render_block, self.blocksize
        if self.cfg.get("spare", True):
            self.start_spare()
        if self.feeder is not None:
            self.feeder.fill()
        self.stream.start()
        self.conn.send(("ready", {"samplerate": sr, "realtime": self.realtime, "channels": self.in_channels,
                                  "output_channels": self.out_channels, "device": self.device, "pid": os.getpid(),
                                  "latency": self.latency, "blocksize": self.blocksize,
                                  "render_block": self.render_block, "fallback": self.fallback,
                                  "cycle_counter": self.cycles.active}))
        try:
            command_loop(self.conn, self.handle, self.pump, PUMP_INTERVAL)
        finally:
            try:
                self.stream.stop()
            finally:
                self.pump()
                self.finish_takes()
                self.stream.close()
                self.cycles.close()
                if self.feeder is not None:
                    self.feeder.close()
                for host in self.hosts:
                    host.stop()
                for host in self.hosts:
                    host.close()
                self.model_in.close()

    # -- model hosts (main thread) -----------------------------------------------------------
    def start_spare(self) -> None:
        self.spare = Host(self)
        self.hosts.append(self.spare)

    def request_load(self, req: dict) -> None:
        if req.get("fade_ms") is not None:
            self.mixer.set_fade(round(float(req["fade_ms"]) * self.samplerate / 1000))
        for old in self.waiting:   # the newest request wins
            self.emit("load-failed", {"generation_id": old.get("generation_id"),
                                      "error": "replaced by a newer request before it loaded"})
        self.waiting = [req]
        self.dispatch()

    def dispatch(self) -> None:
        if not self.waiting:
            return
        if self.spare is None:
            self.start_spare()
        if self.spare.state != "spare":
            return      # still starting: dispatched when it says it is ready
        host, self.spare = self.spare, None
        host.load(self.waiting.pop())
        self.st[S.LOADING] = host.generation_id or -1
        self.wake_fds = tuple(h.wake_w for h in self.hosts if h.state in ("loading", "loaded"))
        if self.cfg.get("spare", True):
            self.start_spare()

    def tend_hosts(self) -> None:
        for host in list(self.hosts):
            for kind, payload in host.messages():
                if kind == "spare-ready":
                    host.state = "spare"
                    self.emit("spare-ready", {"pid": host.proc.pid})   # a switch now costs only the load
                    self.dispatch()
                elif kind == "loaded":
                    host.state = "loaded"
                    host.warm_blocks = int(payload["warm_blocks"])
                    self.st[S.LOADING] = 0
                    self.emit("loaded", {"generation_id": host.generation_id, "name": host.name, "pid": host.proc.pid,
                                         **payload})
                    self.align(int(payload.get("latency_samples") or 0), host.generation_id)
                    self.mixer.offers.append(host)
                elif kind == "behind":   # an imported module slower than real time: its blocks play dry
                    self.emit("model-behind", {"generation_id": host.generation_id, "name": host.name, **payload})
                elif kind == "load-failed":
                    host.state = "failed"
                    self.release_file = True
                    self.align(0, None)
                    self.st[S.LOADING] = 0
                    self.emit("load-failed", {"generation_id": host.generation_id, "error": payload["error"]})
            if not host.alive():
                if host.state == "loaded" and host.retired is None and not host.reported_dead:
                    host.reported_dead = True
                    self.mixer.died.append(host)     # the callback bypasses it, then hands it back
                elif host.state == "starting":
                    error = f"a model host could not start ({host.exit_reason()})"
                    self.align(0, None)
                    for req in self.waiting or [{}]:
                        self.emit("load-failed", {"generation_id": req.get("generation_id"), "error": error})
                    self.waiting = []        # the next request starts another host
                    if host is self.spare:
                        self.spare = None
                    host.state = "failed"
        while self.mixer.retired:
            host, why = self.mixer.retired.popleft()
            host.retired = why
            host.stop()
        for host in [h for h in self.hosts if (h.retired or h.state == "failed") and not h.alive()]:
            self.retired_times.append(host.ring.recent_times())
            self.retired_waits.append(host.ring.recent_waits())
            self.retired_gc.append(host.ring.header[[H.GC_RUNS, H.GC_US, H.GC_MAX_US]].copy())
            self.retired_counts[0] += int(host.ring.header[H.RENDERED])
            self.retired_counts[1] += int(host.ring.header[H.SKIPPED])
            host.close()
            self.hosts.remove(host)
        self.wake_fds = tuple(h.wake_w for h in self.hosts if h.state == "loaded" and not h.retired)
        self.st[S.RENDERED] = self.retired_counts[0] + sum(int(h.ring.header[H.RENDERED]) for h in self.hosts)
        self.st[S.SKIPPED] = self.retired_counts[1] + sum(int(h.ring.header[H.SKIPPED]) for h in self.hosts)

    # -- commands --------------------------------------------------------------------------------
    def handle(self, cmd) -> bool:
        kind = cmd[0]
        if kind == "start":
            try:
                self.start_takes(cmd[1])
            except Exception as exc:
                self.conn.send(("start-failed", f"{type(exc).__name__}: {exc}"))
        elif kind == "stop":
            self.align(0, None)                  # no model came: the performer take as it is
            for take in self.takes or ():
                take.stop = self.frames_done
            if self.takes:                       # both takes end with the same number of frames
                self.takes[0].stop = self.frames_done - self.input_delay
            self.pump()
            frames = self.finish_takes()
            self.conn.send(("stopped", {"frames": frames, "overflows": int(self.st[S.OVERFLOWS]),
                                        "glitches": int(self.st[S.GLITCHES]) - self.take_glitches_at,
                                        "gap_frames": self.cycles.gap_frames - self.take_gaps_at,
                                        "stats": self.stats()}))
        elif kind == "load":
            self.request_load(cmd[1])
        elif kind == "mix":
            self.mix = min(1.0, max(0.0, float(cmd[1])))
            self.st[S.MIX] = self.mix
        elif kind == "gain":
            self.gain = min(100.0, max(0.0, float(cmd[1])))
            self.model_in.gain[0] = self.gain
            self.st[S.GAIN] = self.gain
        elif kind == "fade":
            self.mixer.set_fade(round(float(cmd[1]) * self.samplerate / 1000))
        elif kind == "latent":
            values = cmd[1]
            self.model_in.set_latent(values)
            self.emit("latent-applied", {**self._applied_at(), "values": None if values is None else list(values)})
        elif kind == "follow":
            # the co-performer's follow, live (rehearsal.play.coperformer); like the latent,
            # the block being filled certainly renders with it, the last complete one may
            self.model_in.follow[0] = min(1.0, max(0.0, float(cmd[1])))
            self.emit("follow-applied", {**self._applied_at(), "follow": float(self.model_in.follow[0])})
        elif kind == "symbol":
            # like the latent: the hosts read it before their next block
            self.model_in.set_symbol(cmd[1])
            self.emit("symbol-applied", {**self._applied_at(), "symbol": cmd[1]})
        elif kind == "stats":
            self.conn.send(("stats", self.stats()))
        elif kind == "miss-cycles":
            self.miss = int(cmd[1])
        elif kind == "release-input":
            self.release_file = True
        elif kind == "quit":
            return False
        return True

    def explain_late(self) -> None:
        """For each late block, once its host has rendered it (main thread, from the pump):
        what the time went on, in ms — how late the callback that completed its input (and
        woke the host) ran, from then to the host starting on it, the render itself, and how
        far past the callback's wait it finished. `late_blocks` keeps the last 1,024."""
        g, n = int(self.st[S.GLITCHES]), len(self._glitch_frames)
        self._explained = max(self._explained, g - n)
        while self._explained < g:
            j = self._explained % n
            host = self._late_host[j]
            k, needed, needed_late = int(self._late[j, 0]), float(self._late[j, 1]), float(self._late[j, 2])
            ring = getattr(host, "ring", None)
            traced = ring.traced(k) if ring is not None else None
            if traced is None:
                if ring is not None and host.alive() and int(ring.tags.max()) < k:
                    return     # not rendered yet: look again at the next pump
                entry = (round(float(self._cb_late[k % H.STAMPS]) * 1e3, 3), None, None, None,
                         round(needed_late * 1e3, 3))     # never rendered (skipped, or the host ended)
            else:
                woken = self.model_in.stamped(k)
                started, finished = traced
                entry = (round(float(self._cb_late[k % H.STAMPS]) * 1e3, 3), round((started - woken) * 1e3, 3),
                         round((finished - started) * 1e3, 3),
                         round((finished - needed - self.mixer.grace_s) * 1e3, 3), round(needed_late * 1e3, 3))
            self.late_blocks.append(entry)
            del self.late_blocks[:-1024]
            self._explained += 1

    def stats(self) -> dict:
        st = self.st
        return {"glitches": int(st[S.GLITCHES]), "saved": int(st[S.SAVED]), "underflows": int(st[S.UNDERFLOWS]),
                "overflows": int(st[S.OVERFLOWS]), "callbacks": int(st[S.CALLBACKS]),
                "latency_samples": self.latency, "blocksize": self.blocksize, "render_block": self.render_block,
                "model": self.model_stats(), "feeder_underruns": self.feeder.underruns if self.feeder else 0,
                "glitch_frames": sorted(int(f) for f in self._glitch_frames[:min(int(st[S.GLITCHES]), 1024)]),
                # per late block (the last 1,024), in ms: the callback completing its input late by,
                # then to the host starting it, its render, finished past the wait by (None: never
                # rendered), the callback needing it late by
                "late_blocks": [list(e) for e in self.late_blocks]}

    def model_stats(self) -> dict:
        """Render time per block, every host's, as a share of the block's duration."""
        parts = list(self.retired_times) + [h.ring.recent_times() for h in self.hosts]
        t = np.concatenate(parts) if parts else np.zeros(0)
        budget = self.render_block / self.samplerate
        if len(t) == 0:
            return {"blocks": 0, "budget_ms": budget * 1e3}
        return {"blocks": int(self.st[S.RENDERED]), "skipped": int(self.st[S.SKIPPED]), "budget_ms": budget * 1e3,
                "median_ms": float(np.median(t)) * 1e3, "p99_ms": float(np.percentile(t, 99)) * 1e3,
                "max_ms": float(t.max()) * 1e3, "median_share": float(np.median(t)) / budget,
                "p99_share": float(np.percentile(t, 99)) / budget,
                # the model's real-time factor as it played (an imported module's calls are
                # lumped on the block that finished them: the mean is the figure that counts)
                "mean_share": float(t.mean()) / budget, "realtime_factor": budget / max(float(t.mean()), 1e-12),
                **self._waits_and_collections()}

    def _waits_and_collections(self) -> dict:
        """From the callback completing a block's input to its host starting on it (the wake-up
        and any backlog), and the hosts' garbage collections while rendering."""
        w = np.concatenate(list(self.retired_waits) + [h.ring.recent_waits() for h in self.hosts])
        gc = sum(self.retired_gc, np.zeros(3, np.int64)) + sum(
            (h.ring.header[[H.GC_RUNS, H.GC_US, H.GC_MAX_US]] for h in self.hosts), np.zeros(3, np.int64))
        gc_max = max([int(x[2]) for x in self.retired_gc] + [int(h.ring.header[H.GC_MAX_US]) for h in self.hosts] + [0])
        out = {"gc_runs": int(gc[0]), "gc_ms": int(gc[1]) / 1e3, "gc_max_ms": gc_max / 1e3}
        if len(w):
            out.update({"wait_median_ms": float(np.median(w)) * 1e3, "wait_p99_ms": float(np.percentile(w, 99)) * 1e3,
                        "wait_max_ms": float(w.max()) * 1e3})
        return out

    def start_takes(self, req: dict) -> None:
        if self.takes is not None:
            raise RuntimeError("a take is already recording")
        fmt, subtype = req.get("format", "W64"), req.get("subtype")
        start = self.frames_done
        inp = TakeWriter(req["input_path"], self.samplerate, self.in_channels, fmt, subtype)
        try:
            out = TakeWriter(req["output_path"], self.samplerate, 1, fmt, subtype)
        except Exception:
            inp.close()
            raise
        self.takes = [TakePump(self.inring, inp, start), TakePump(self.outring, out, start)]
        self.take_start, self.input_delay = start, None if req.get("align") else 0
        self.take_glitches_at = int(self.st[S.GLITCHES])
        self.take_gaps_at = self.cycles.gap_frames
        self.st[S.TAKE_START] = start
        self.st[S.TAKE_FRAMES] = 0
        self.st[S.RECORDING] = 1.0
        self.conn.send(("started", {"start_frame": start}))

    def _applied_at(self) -> dict:
        """Where a control set now (latent, follow, symbol) is first heard: blocks rendered
        from now on hear it; the last complete block may or may not have been rendered yet,
        the one being filled certainly will be."""
        k = self.model_in.written // self.render_block
        return {"input_frame": k * self.render_block, "earliest_frame": max(0, k - 1) * self.render_block}

    def align(self, delay: int, generation_id) -> None:
        """Decide the performer take's input delay D, once per take (the module docstring):
        its pump starts D frames earlier than the model take's. Says so (`aligned`)."""
        if self.takes is None or self.input_delay is not None:
            return
        self.input_delay = max(0, int(delay))
        self.takes[0].start = self.take_start - self.input_delay
        self.emit("aligned", {"generation_id": generation_id, "delay_samples": self.input_delay,
                              "input_frame": self.take_start})

    def finish_takes(self) -> int:
        takes, self.takes = self.takes, None
        self.st[S.RECORDING] = 0.0
        if not takes:
            return 0
        return [t.close() for t in takes][0]

    # -- the main thread's round: disk, meters, events ------------------------------------------
    def pump(self) -> None:
        self._pumps += 1
        done = self.frames_done
        if self.feeder is not None:
            self.feeder.fill()
            if self.feeder.ended_and_drained():
                self.feeder.ended_reported = True
                self.conn.send(("input-ended",))
        self.update_levels(done)
        self.explain_late()       # before tend_hosts, which may close a late host's ring
        self.tend_hosts()
        self.send_events()
        if self._pumps % STATS_EVERY == 0:
            s = self.model_stats()
            if s.get("blocks"):
                self.st[S.MODEL_MEDIAN_US] = s["median_ms"] * 1e3
                self.st[S.MODEL_P99_US] = s["p99_ms"] * 1e3
            glitches = int(self.st[S.GLITCHES])
            if glitches != self._last_glitches:
                self.emit("glitches", {"count": glitches - self._last_glitches, "total": glitches,
                                       "input_frame": int(self.st[S.GLITCH_FRAME])})
                self._last_glitches = glitches
        if self.takes is None:
            return
        if self.input_delay is None and done - self.take_start > self.inring.capacity // 2:
            self.align(0, None)       # the first model is slow to load: keep the input safe in the ring
        try:
            lost = self.takes[0].lost
            for take in self.takes if self.input_delay is not None else self.takes[1:]:
                take.pump(done)       # the disk fell behind the ring: both takes fill the gap alike
            if self.takes[0].lost != lost:
                self.lost += self.takes[0].lost - lost
                self.st[S.LOST] = self.lost
            self.st[S.TAKE_FRAMES] = self.takes[1].frames
        except Exception as exc:   # disk full, file gone: keep what is on disk, say so
            path = self.takes[0].writer.path
            frames = self.finish_takes()
            self.conn.send(("take-failed", {"frames": frames, "error": explain_write_error(exc, path)}))

    def send_events(self) -> None:
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                return
            if kind in ("load-failed", "switch-failed", "model-failed"):
                self.release_file = True     # a file waiting for a model must not wait for ever
            self.conn.send((kind, payload))

    def update_levels(self, done: int) -> None:
        start = max(self.level_from, done - self.samplerate)
        if done <= start:
            return
        levels = peaks(self.inring, start, done)
        for ch in range(min(self.in_channels, S.MAX_CHANNELS)):
            self.st[S.LEVELS + ch] = float(levels[ch])
        self.st[S.OUT_LEVEL] = float(peaks(self.outring, start, done)[0])
        self.level_from = done


def _rates(cfg: dict, info: dict) -> list[int]:
    """The rates to try a device at: the one asked (--samplerate), else 48 kHz then the
    device's own (a JACK server's rate, a card that only does 44.1 kHz)."""
    if cfg.get("samplerate"):
        return [int(cfg["samplerate"])]
    own = int(round(float(info.get("default_samplerate") or SAMPLE_RATE)))
    return [SAMPLE_RATE] + ([own] if own != SAMPLE_RATE else [])


def _query(sd, device, kind: str):
    """(the device's info, None) or (None, why not, in PortAudio's words)."""
    try:
        info = sd.query_devices(device, kind=kind) if device is not None else sd.query_devices(kind=kind)
        return info, None
    except (ValueError, sd.PortAudioError) as exc:
        return None, f"PortAudio: {exc}"


if __name__ == "__main__":
    main()
