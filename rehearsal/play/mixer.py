"""What plays, decided in the audio callback from what the model hosts rendered.

    active host (or none: dry) --+
                                 +--> out = A * fade_out + B * fade_in --> mix with dry --> output
    incoming host (warm, fade) --+

Each host renders blocks of R samples into its ring (shared.HostRing) as soon as the
input is there. The mixer reads the block it needs from the active host and, during a
switch, from the incoming one: a new host is first heard `warm_blocks` blocks after it
started rendering (its analysis window and recurrent state have filled with real input),
then faded in over `fade_frames`. A block marked failed drops that host on the spot (the
dry input takes its place: bypass), and so does a missing block of a host whose header says
it failed (the failing block came too late to be heard); a block not there within the grace
wait is a glitch (the dry input for this callback, counted). Decisions happen at block
boundaries, so the same input frames always get the same treatment whatever the callback's
block size.

All of this is plain numpy on the callback's thread; the engine's main thread hands
hosts over (`offers`), takes retired ones back (`retired`), and reports deaths (`died`)
through deques, whose append and popleft are atomic.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from . import shared as H
from .blocks import fade_gains


class Mixer:
    def __init__(self, block: int, fade_frames: int, curve: str, emit, grace_s: float = 0.0):
        self.R = block
        self.fade_frames = fade_frames
        self.curve = curve
        self.emit = emit
        self.grace_s = grace_s
        self.active = None
        self.incoming = None
        self.phase = "none"          # incoming: "loading" (no block yet), "warm", "fade"
        self.fade_start = 0          # block
        self.offers: deque = deque()
        self.retired: deque = deque()    # (host, why) for the main thread to stop
        self.died: deque = deque()       # hosts whose process ended, from the main thread
        self.glitch_waits = 0            # late blocks that arrived within the grace wait
        self.late_host = None            # the host whose block was late last
        self._zeros = np.zeros(block, np.float32)

    def set_fade(self, frames: int) -> None:
        self.fade_frames = max(0, int(frames))

    # -- block boundaries ----------------------------------------------------------------
    def _retire(self, host, why: str) -> None:
        host.ring.header[H.ACTIVE] = 0   # the main thread closes a ring only once it is handed back
        self.retired.append((host, why))

    def boundary(self, k: int) -> None:
        while self.offers:
            host = self.offers.popleft()
            if self.incoming is not None:
                self.emit("switch-abandoned", {"generation_id": self.incoming.generation_id, "input_frame": k * self.R,
                                               "replaced_by": host.generation_id})
                self._retire(self.incoming, "abandoned")
            self.incoming, self.phase = host, "loading"
        while self.died:
            host = self.died.popleft()
            error = f"{host.name}: its process ended ({host.exit_reason()})"
            if host is self.active:
                self._fail_active(k, "crashed", error)
            elif host is self.incoming:
                self._fail_incoming(k, "crashed", error)
            else:
                self._retire(host, "died")
        inc = self.incoming
        if inc is None:
            return
        if self.phase == "loading":
            first = int(inc.ring.header[H.FIRST_BLOCK])
            if first >= 0:
                self.phase = "warm"
                self.emit("warming", {"generation_id": inc.generation_id, "name": inc.name, "input_frame": first * self.R})
        if self.phase == "warm" and k >= int(inc.ring.header[H.FIRST_BLOCK]) + inc.warm_blocks:
            self.phase, self.fade_start = "fade", k
            self.emit("fading", {"generation_id": inc.generation_id, "name": inc.name, "input_frame": k * self.R,
                                 "fade_frames": self.fade_frames,
                                 "from_generation_id": self.active.generation_id if self.active else None})
        if self.phase == "fade" and (k - self.fade_start) * self.R >= self.fade_frames:
            if self.active is not None:
                self._retire(self.active, "replaced")
            self.active, self.incoming, self.phase = inc, None, "none"
            inc.ring.header[H.ACTIVE] = 1
            self.emit("switched", {"generation_id": inc.generation_id, "input_frame": k * self.R})

    def _fail_active(self, k: int, kind: str, error: str) -> None:
        host, self.active = self.active, None
        self._retire(host, "failed")
        self.emit("model-failed", {"generation_id": host.generation_id, "kind": kind, "error": error,
                                   "input_frame": k * self.R})

    def _fail_incoming(self, k: int, kind: str, error: str) -> None:
        host, was = self.incoming, self.phase
        self.incoming, self.phase = None, "none"
        self._retire(host, "failed")
        self.emit("switch-failed", {"generation_id": host.generation_id, "kind": kind, "error": error,
                                    "input_frame": k * self.R, "was": was,
                                    "back_to": self.active.generation_id if self.active else None})

    # -- each callback ---------------------------------------------------------------------
    def _block(self, host, k: int, deadline: float | None):
        """(status, samples) of block k from a host, waiting up to the deadline; None if late;
        (status, None) if the host failed on an earlier block, one that came too late to be
        heard (a failed host renders nothing more: without this it would glitch forever)."""
        ring = host.ring
        got = ring.block(k)
        if got is None and deadline is not None:
            while got is None and time.perf_counter() < deadline and ring.failure() is None:
                time.sleep(0.0002)
                got = ring.block(k)
            if got is not None:
                self.glitch_waits += 1
        if got is None:
            failed = ring.failure()
            return None if failed is None else (failed, None)
        return got

    def mix(self, a: int, n: int, dry: np.ndarray, out: np.ndarray, model: np.ndarray) -> bool:
        """Fill out[:n] (wet, as mixed) and model[:n] (what the models played) for input
        frames [a, a + n), which lie in one block. False: a model's block was late."""
        if a < 0:
            out[:n] = dry[:n]
            model[:n] = 0.0
            return True
        k, off = divmod(a, self.R)
        if off == 0:
            self.boundary(k)
        deadline = None
        ya = yb = None
        late = False
        if self.active is not None:
            deadline = time.perf_counter() + self.grace_s
            got = self._block(self.active, k, deadline)
            if got is None:
                late, self.late_host = True, self.active
            elif got[0] != H.OK:
                self._fail_active(k, H.KINDS.get(got[0], "model-error"), self.active.ring.get_error())
            else:
                ya = got[1][off:off + n]
        if self.incoming is not None and self.phase == "fade":
            if deadline is None:
                deadline = time.perf_counter() + self.grace_s
            got = self._block(self.incoming, k, deadline)
            if got is None:
                late, self.late_host = True, self.incoming
            elif got[0] != H.OK:
                self._fail_incoming(k, H.KINDS.get(got[0], "model-error"), self.incoming.ring.get_error())
            else:
                yb = got[1][off:off + n]
        elif self.incoming is not None and self.phase == "warm":
            got = self._block(self.incoming, k, None)
            if got is not None and got[0] != H.OK:
                self._fail_incoming(k, H.KINDS.get(got[0], "model-error"), self.incoming.ring.get_error())
        if late:
            out[:n] = dry[:n]
            model[:n] = 0.0
            return False
        a_out = ya if ya is not None else dry[:n]
        a_model = ya if ya is not None else self._zeros[:n]
        if yb is None:
            out[:n] = a_out
            model[:n] = a_model
        else:
            g_out, g_in = fade_gains(self.curve, (k - self.fade_start) * self.R + off, n, self.fade_frames)
            out[:n] = a_out * g_out + yb * g_in
            model[:n] = a_model * g_out + yb * g_in
        # a block copied while its host was lapping us would be garbage: check the tags again
        if (ya is not None and not self.active.ring.still(k)) or \
                (yb is not None and self.incoming is not None and not self.incoming.ring.still(k)):
            out[:n] = dry[:n]
            model[:n] = 0.0
            return False
        return True
