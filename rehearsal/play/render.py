"""The render side of the play process: what plays (mixer), the render thread, the loader.

    callback --input ring--> render thread: mixer.process(block) --WetRing--> callback
                                  ^ slots offered by the loader thread (load, script, warm)

The mixer holds the active generation (or none: dry) and at most one incoming: it hears
the input for a few blocks (warm-up: its analysis window and recurrent state fill with
real input), then fades in over `fade_ms` while the outgoing one fades out. A model that
raises or returns NaN/inf is dropped on the spot: the active one is replaced by the dry
input (bypass), an incoming one is abandoned; both are reported and the take goes on.
"""

from __future__ import annotations

import os
import queue
import threading
import time

import numpy as np

from . import status as S
from .blocks import fade_gains

MAX_BACKLOG = 32          # blocks (170 ms at 256): further behind, skip ahead instead of catching up
TIMES = 1 << 16           # render times kept for the statistics (~6 minutes of blocks)


class Mixer:
    def __init__(self, hop: int, fade_frames: int, curve: str, emit):
        self.hop = hop
        self.fade_frames = fade_frames
        self.curve = curve
        self.emit = emit
        self.active = None
        self.incoming = None
        self.phase = "warm"
        self.warm_left = 0
        self.pos = 0
        self.override: np.ndarray | None = None   # latent values from outside (NaN = the model's own)
        self._pending = None
        self._applied = None                      # the override last seen, to report changes
        self._lock = threading.Lock()
        self._zeros = np.zeros(hop, np.float32)

    def offer(self, slot) -> None:
        """From the loader thread: play this next (replaces an offer not yet taken)."""
        with self._lock:
            self._pending = slot

    def set_fade(self, fade_frames: int) -> None:
        self.fade_frames = max(0, int(fade_frames))

    def _take_pending(self, frame: int) -> None:
        with self._lock:
            slot, self._pending = self._pending, None
        if slot is None:
            return
        if self.incoming is not None:
            self.emit("switch-abandoned", {"generation_id": self.incoming.generation_id, "input_frame": frame,
                                           "replaced_by": slot.generation_id})
        self.incoming = slot
        self.phase = "warm"
        self.warm_left = slot.warm_blocks(self.hop)
        self.pos = 0
        self.emit("warming", {"generation_id": slot.generation_id, "name": slot.name, "input_frame": frame})

    def process(self, frame: int, raw: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One block starting at input frame `frame`: (what the mixer plays as wet, what the
        models produced). `raw` is the dry input, `x` the model's input (gain applied)."""
        from .slots import ModelFailure

        self._take_pending(frame)
        override = self.override
        if override is not self._applied:
            self._applied = override
            self.emit("latent-applied", {"input_frame": frame,
                                         "values": None if override is None else [float(v) for v in override]})
        ya = yb = None
        if self.active is not None:
            try:
                ya = self.active.run(x, override)
            except ModelFailure as f:
                failed, self.active = self.active, None
                self.emit("model-failed", {"generation_id": failed.generation_id, "kind": f.kind,
                                           "error": str(f), "input_frame": frame})
        inc = self.incoming
        if inc is not None:
            try:
                yb = inc.run(x, override)
            except ModelFailure as f:
                self.incoming = None
                self.emit("switch-failed", {"generation_id": inc.generation_id, "kind": f.kind, "error": str(f),
                                            "input_frame": frame, "was": self.phase,
                                            "back_to": self.active.generation_id if self.active else None})
                inc = None
        a_out = ya if ya is not None else raw
        a_model = ya if ya is not None else self._zeros
        if inc is None:
            return a_out, a_model
        if self.phase == "warm":
            self.warm_left -= 1
            if self.warm_left <= 0:
                self.phase, self.pos = "fade", 0
            return a_out, a_model
        if self.pos == 0:
            self.emit("fading", {"generation_id": inc.generation_id, "name": inc.name, "input_frame": frame,
                                 "fade_frames": self.fade_frames,
                                 "from_generation_id": self.active.generation_id if self.active else None})
        g_out, g_in = fade_gains(self.curve, self.pos, self.hop, self.fade_frames)
        out = a_out * g_out + yb * g_in
        model = a_model * g_out + yb * g_in
        self.pos += self.hop
        if self.pos >= self.fade_frames:
            self.active, self.incoming = inc, None
            self.emit("switched", {"generation_id": inc.generation_id, "input_frame": frame + self.hop})
        return out, model


class Renderer(threading.Thread):
    """Renders every block of input as soon as the callback has delivered it.

    Woken by the callback through a pipe (a write is a system call, not a Python lock the
    callback could wait on); runs real-time below the audio thread where allowed."""

    def __init__(self, engine, mixer: Mixer):
        super().__init__(name="play-render", daemon=True)
        self.engine, self.mixer = engine, mixer
        self.hop = mixer.hop
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.stopping = False
        self.times = np.zeros(TIMES, np.float64)   # seconds per block, ring
        self.count = 0
        self.skipped = 0
        self.osc = None                             # (socket, (host, port)) for the latent out
        self._osc_every = 1
        self._osc_due = 0

    def wake(self) -> None:
        """From the audio callback."""
        try:
            os.write(self.wake_w, b"\0")
        except BlockingIOError:
            pass   # a wake-up is already pending

    def stop(self) -> None:
        self.stopping = True
        os.set_blocking(self.wake_w, True)
        os.write(self.wake_w, b"\0")
        self.join(5)

    def send_controls_to(self, host: str, port: int, rate_hz: float) -> None:
        import socket

        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self.osc = (sock, (host, port))
        block_rate = self.engine.samplerate / self.hop
        self._osc_every = max(1, round(block_rate / rate_hz)) if rate_hz > 0 else 1

    def run(self) -> None:
        import torch

        torch.set_num_threads(1)
        _realtime(5)
        eng, hop = self.engine, self.hop
        st = eng.st
        raw = np.zeros(hop, np.float32)
        k = 0
        while True:
            try:
                os.read(self.wake_r, 4096)
            except InterruptedError:
                continue
            if self.stopping:
                return
            avail = eng.inring.written // hop
            if avail - k > MAX_BACKLOG:
                self.skipped += avail - 1 - k
                st[S.SKIPPED] = self.skipped
                k = avail - 1
            while k < avail and not self.stopping:
                eng.mono(k * hop, hop, raw)
                x = raw * np.float32(eng.gain)
                t0 = time.perf_counter()
                out, model = self.mixer.process(k * hop, raw, x)
                dt = time.perf_counter() - t0
                eng.wet.put(k, out, model)
                self.times[self.count % TIMES] = dt
                self.count += 1
                st[S.RENDERED] = self.count
                st[S.MODEL_LAST_US] = dt * 1e6
                m = self.mixer
                st[S.ACTIVE_GEN] = (m.active.generation_id or -1) if m.active else 0
                st[S.INCOMING_GEN] = (m.incoming.generation_id or -1) if m.incoming else 0
                if self.osc is not None and m.active is not None and m.active.controls is not None:
                    self._send_controls(m.active)
                k += 1

    def _send_controls(self, slot) -> None:
        self._osc_due -= 1
        if self._osc_due > 0:
            return
        self._osc_due = self._osc_every
        from pythonosc.osc_message_builder import OscMessageBuilder

        b = OscMessageBuilder("/rehearsal/latent/out")
        for v in slot.controls:
            b.add_arg(float(v), "f")
        sock, addr = self.osc
        try:
            sock.sendto(b.build().dgram, addr)
        except OSError:
            pass   # nobody listening, or the buffer is full: controls are best effort

    def stats(self) -> dict:
        """Model time per block as a share of the block's duration (median, p99, max)."""
        n = min(self.count, TIMES)
        budget = self.hop / self.engine.samplerate
        if n == 0:
            return {"blocks": 0, "budget_ms": budget * 1e3}
        t = self.times[:n] if self.count <= TIMES else self.times
        return {"blocks": self.count, "skipped": self.skipped, "budget_ms": budget * 1e3,
                "median_ms": float(np.median(t)) * 1e3, "p99_ms": float(np.percentile(t, 99)) * 1e3,
                "max_ms": float(t.max()) * 1e3, "median_share": float(np.median(t)) / budget,
                "p99_share": float(np.percentile(t, 99)) / budget}


class Loader(threading.Thread):
    """Loads, scripts and warms generations in the background; the newest request wins."""

    def __init__(self, engine, mixer: Mixer):
        super().__init__(name="play-loader", daemon=True)
        self.engine, self.mixer = engine, mixer
        self.requests: queue.Queue = queue.Queue()

    def request(self, req: dict) -> None:
        self.requests.put(req)

    def stop(self) -> None:
        self.requests.put(None)
        self.join(5)

    def run(self) -> None:
        import torch

        torch.set_num_threads(1)
        from .slots import Slot

        while True:
            req = self.requests.get()
            if req is None:
                return
            while True:   # only the newest of several queued requests is worth loading
                try:
                    nxt = self.requests.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    return
                self.engine.emit("load-failed", {"generation_id": req.get("generation_id"),
                                                 "error": "replaced by a newer request before it loaded"})
                req = nxt
            self.engine.st[S.LOADING] = req.get("generation_id") or -1
            try:
                slot = Slot.load(req["path"], req.get("generation_id"), req.get("name") or "model")
                if self.mixer.hop % slot.hop:
                    raise ValueError(f"{slot.name} renders blocks of {slot.hop} samples; this play renders "
                                     f"{self.mixer.hop} at a time, which is not a multiple of it")
            except Exception as exc:
                known = isinstance(exc, (ValueError, OSError))   # ModelFileError is a ValueError
                self.engine.emit("load-failed", {"generation_id": req.get("generation_id"),
                                                 "error": str(exc) if known else f"{type(exc).__name__}: {exc}"})
                continue
            finally:
                self.engine.st[S.LOADING] = 0
            if req.get("fade_ms") is not None:
                self.mixer.set_fade(round(req["fade_ms"] * self.engine.samplerate / 1000))
            self.mixer.offer(slot)
            self.engine.emit("loaded", {"generation_id": slot.generation_id, "name": slot.name, "hop": slot.hop,
                                        "context": slot.context, "latent": slot.latent_labels})


def _realtime(priority: int) -> bool:
    """SCHED_FIFO for the calling thread where allowed (root, rtprio limit), else a high
    nice; below the audio thread (JACK's clients run at its -P, 70 here), above the rest."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (OSError, AttributeError):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        except (OSError, AttributeError):
            pass
        return False
