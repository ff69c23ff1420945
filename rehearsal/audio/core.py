"""What every audio process shares: the recorder's capture process and the play engine.

- `SteadyClock`: frames <-> monotonic time for the marker bus, robust to late callbacks,
  and it notices frames lost in an xrun (the same window and rules for both processes).
- `CycleCounter`: frames the stream's own frame clock (JACK's cycle counter) ran past that
  never reached the callback (a cycle the client missed): the callback writes them as
  silence into its rings, so stream frames, ring frames and take frames stay one timeline.
- `TakePump`: a ring to a take file, from the main thread; when the disk falls further
  behind than the ring holds, the frames lost are counted and written as silence, so the
  take keeps its timeline (frame t of the file is stream frame start + t).
- `peaks`: the meters' peak per channel over a span of a ring.
- `raise_priority`, `explain_write_error`: the process's priority, a write error in words.

Play adds only what play needs on top (model hosts, mixer, crossfades: rehearsal/play/).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import deque
from pathlib import Path

import numpy as np

from .ring import Ring
from .writer import TakeWriter

PUMP_INTERVAL = 0.02      # write to disk and update meters 50 times a second
MAX_CHUNK = 48_000        # frames per write call
CLOCK_WINDOW_S = 1.0      # the clock anchor is the best of this many seconds of callbacks
RECHECK_S = 0.1           # after an overflow, look this long for frames having been lost
JUMP_S = 0.002            # a frame/time relation this much later than before means frames were lost
DROPOUT_S = 0.00025       # with `fill`: time the device itself did not run, filled when longer than this
FILL_RECHECK_S = 0.5      # with `fill`: how long after an overflow to look for the best relation (a busy
                          # machine that caused the xrun runs callbacks late for a while: 0.1 s over-fills)


class SteadyClock:
    """A callback's stamp is when it ran, which a busy machine delays (never advances),
    while the frame count is exact. Taken as is, one late callback makes every tap
    converted through it land early (up to ~200 samples at rest, 1,000+ under load,
    measured). So the anchor is frames/sr after the earliest stream start
    (stamp - frames/sr) seen in the last CLOCK_WINDOW_S: late callbacks are ignored,
    while clock drift and a real jump (cycles lost in an xrun) are taken up within the
    window. An overflow flag alone changes nothing (on JACK every client gets one when
    any client is late, lost frames or not); if the relation seen in the RECHECK_S after
    it (`overflow`) is later by more than JUMP_S, frames were lost and the window starts
    over from there (`jumps` counts those). A sliding-window minimum, O(1) per callback.

    `fill` (the recorder's): a device that stops running for a moment (a JACK server late
    for its own deadline starts its clock over, and a sound card's driver recovering from
    an xrun does the same) delivers fewer frames than the time that passed, and no frame
    counter shows it: the server's own counter skips them too. The relation's rise after
    an overflow is that time; instead of starting the window over, the clock then owes
    that many frames (`owed`), which the caller writes as silence, so that frame t of a
    take stays t/sr after its start in the room's time (as Audacity's "detect dropouts"
    does). The rise is measured against the best of the window before the overflow and
    the best of FILL_RECHECK_S after it, so a late callback (which moves neither) is not a
    dropout; a sound card's slow drift against the system clock raises no overflow and is
    never filled. `dropouts` counts them, `dropout_frames` sums them."""

    def __init__(self, samplerate: int, window_s: float = CLOCK_WINDOW_S, fill: bool = False):
        self.sr = samplerate
        self.window = window_s * samplerate
        self._offsets: deque = deque()   # (frames, stamp - frames/sr), increasing offsets
        self._recheck: tuple[int, float] | None = None   # after an overflow: (until frame, best offset)
        self._before: float | None = None   # with `fill`: the best offset of the window before the overflow
        self.jumps = 0
        self.fill = fill
        self._owed = 0
        self.dropouts = 0
        self.dropout_frames = 0

    def overflow(self, frames: int) -> None:
        """The stream flagged an overflow at `frames`: watch for a jump in the next RECHECK_S.
        With `fill`, an overflow while watching starts the watch again but keeps the
        relation from before the first: what is filled at the end is every dropout of the
        run of overflows (one often brings more xruns with it)."""
        if not self.fill:
            self._recheck = (frames + int(RECHECK_S * self.sr), float("inf"))
            return
        if self._recheck is None:
            self._before = self._offsets[0][1] if self._offsets else None
        self._recheck = (frames + int(FILL_RECHECK_S * self.sr), float("inf"))

    def anchor(self, frames: int, stamp: float) -> float:
        """The monotonic time of frame `frames`, given a callback that saw it at `stamp`."""
        sr = self.sr
        offset = stamp - frames / sr
        q = self._offsets
        while q and q[-1][1] >= offset:
            q.pop()
        q.append((frames, offset))
        while q[0][0] < frames - self.window:
            q.popleft()
        if self._recheck is not None:
            until, best_after = self._recheck
            best_after = min(best_after, offset)
            self._recheck = (until, best_after)
            if frames >= until:
                self._recheck = None
                before = self._before if self.fill and self._before is not None else q[0][1]
                rise = best_after - before
                if self.fill and rise > DROPOUT_S:
                    owed = int(round(rise * sr))
                    self._owed += owed
                    self.dropouts += 1
                    self.dropout_frames += owed
                elif rise > JUMP_S:
                    self.jumps += 1
                    q.clear()
                    q.append((frames, best_after))
        return q[0][1] + frames / sr

    def owed(self) -> int:
        """With `fill`: frames of a dropout found by the last `anchor`, to write as silence
        before the block (then `anchor` again at the block's new start). 0 if none."""
        owed, self._owed = self._owed, 0
        return owed


class CycleCounter:
    """Lost-frame detection from the stream's own frame clock, not from flags or wall time.

    A client that misses a JACK cycle (late past the server's deadline, descheduled) never
    gets that cycle's frames, and PortAudio does not always flag it (a 20 s take once lost
    one 256-frame block with 0 overflows: every later marker 5.3 ms off). Wall-clock or
    `jack_frame_time` estimates cannot tell a late callback from a lost one (a 50 ms stall
    on a synchronous server moves them by 2,000+ frames with nothing lost, measured), but
    JACK's cycle counter (`jack_last_frame_time`, exact, server-wide) advances by exactly
    the frames of every cycle the server ran. So at the start of each callback, the counter
    minus the stream frames delivered so far (gaps included) is constant until frames are
    lost; when it has grown by whole periods, that many frames were lost just before this
    block. Exact when the block is the JACK period (the default, and play's 256); with
    other block sizes to within a period. `read` is None where the host API has no such
    counter (a file source cannot lose frames; other APIs keep the overflow-flag check
    of SteadyClock)."""

    WRAP = 1 << 32          # jack_nframes_t

    def __init__(self, read=None, period: int = 0, keep=None):
        self.read, self.period, self.keep = read, max(1, int(period)), keep   # keep: the client, kept open
        self.base: int | None = None
        self.gap_frames = 0     # frames filled, since the stream opened
        self.gaps = 0           # times frames were lost

    @classmethod
    def for_stream(cls, hostapi_name: str) -> "CycleCounter":
        """JACK's counter for a PortAudio stream on JACK (a second, port-less client of the
        same server reads it: the counter is the server's); else no counter."""
        if "JACK" not in hostapi_name:
            return cls()
        try:
            import jack

            client = jack.Client(f"rehearsal-clock-{os.getpid()}", no_start_server=True)
        except Exception:    # no libjack, no server: the stream itself would not be on JACK
            return cls()
        return cls(lambda: client.last_frame_time, client.blocksize, keep=client)

    @property
    def active(self) -> bool:
        return self.read is not None

    def missed(self, position: int) -> int:
        """From the callback, first thing: frames lost just before the block that starts at
        stream frame `position` (whole periods; 0 if none or no counter)."""
        if self.read is None:
            return 0
        lead = (int(self.read()) - position) % self.WRAP
        if self.base is None:
            self.base = lead
            return 0
        ahead = (lead - self.base + self.WRAP // 2) % self.WRAP - self.WRAP // 2
        if ahead >= self.period:
            lost = ahead // self.period * self.period
            self.gap_frames += lost
            self.gaps += 1
            return lost
        if ahead <= -self.period:       # the counter went back (a restarted server): start over
            self.base = lead
        return 0

    def close(self) -> None:
        client, self.keep, self.read = self.keep, None, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass


class TakePump:
    """Writes [start, stop) of a ring into a take, as far as the ring has got, on each `pump`.
    `lost` counts the frames the ring had already overwritten (written as silence)."""

    def __init__(self, ring: Ring, writer: TakeWriter, start: int):
        self.ring, self.writer, self.start = ring, writer, start
        self.stop: int | None = None
        self.lost = 0

    @property
    def frames(self) -> int:
        return self.writer.frames

    def pump(self, end: int) -> None:
        """Write up to stream frame `end` (and never past `stop`). Raises what the disk raises."""
        if self.stop is not None:
            end = min(end, self.stop)
        w, ring = self.writer, self.ring
        pos = self.start + w.frames
        if pos < 0 and end > pos:   # a take that starts before the stream did (play's input delay): silence
            n = min(end, 0) - pos
            w.write(np.zeros((n, ring.channels), np.float32))
            pos += n
        while pos < end:
            stop = min(end, pos + MAX_CHUNK)
            try:
                views = ring.views(pos, stop)
            except OverflowError:
                # the disk fell more than the ring behind: count it, skip to what exists
                skip = min(ring.oldest(), end) - pos
                self.lost += skip
                w.write(np.zeros((skip, ring.channels), np.float32))   # keep the take's timeline
                pos += skip
                continue
            for v in views:
                w.write(v)
            pos = stop

    def close(self) -> int:
        try:
            self.writer.close()
        except Exception:
            pass
        return self.writer.frames


def peaks(ring: Ring, start: int, end: int) -> np.ndarray:
    """Peak per channel of the ring's frames [start, end) (clipped to what it still holds)."""
    out = np.zeros(ring.channels, np.float32)
    start = max(start, ring.oldest())
    if end > start:
        for v in ring.views(start, end):
            np.maximum(out, np.abs(v).max(axis=0), out=out)
    return out


def raise_priority() -> str:
    """The calling thread runs real-time where allowed (root, rtprio limits), else at a
    high nice, and the process hands over the GIL every 0.5 ms instead of 5 ms. Returns
    what it got, in words (empty when real-time scheduling was granted).
    The capture callback may wait for the GIL held by the process's main (writer) thread;
    if a busy core deschedules the writer, the callback is late (priority inversion), so
    the writer calls this; so does the MIDI poller (markers/midi.py), which must read
    rtmidi's queue and send the sysex guard's probe on time however busy the machine."""
    sys.setswitchinterval(0.0005)
    why = request_fifo(10)
    if not why:
        return ""
    try:
        os.nice(-10)
        got = "a higher priority (nice -10) instead"
    except OSError:
        got = "the ordinary priority instead"
    return (f"no real-time scheduling (SCHED_FIFO refused: {why}); running at {got}, so a busy machine "
            "can make blocks play dry: see docs/play.md, 'Real-time scheduling'")


def request_fifo(priority: int) -> str:
    """SCHED_FIFO at `priority` for this thread's process: "" when granted, else why not
    (REHEARSAL_NO_REALTIME=1 declines it, to measure or to leave the machine's real-time
    priorities alone)."""
    if os.environ.get("REHEARSAL_NO_REALTIME", "") not in ("", "0"):
        return "REHEARSAL_NO_REALTIME is set"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return ""
    except (OSError, AttributeError) as exc:
        return getattr(exc, "strerror", None) or str(exc)


def explain_write_error(exc: Exception, path) -> str:
    """libsndfile says "System error." for ENOSPC: name the likely cause."""
    path = Path(path)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < 1 << 20:
        return f"no space left on the disk holding {path.parent} ({free} bytes free)"
    return f"cannot write {path}: {type(exc).__name__}: {exc}"
