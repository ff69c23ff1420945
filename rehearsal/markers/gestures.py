"""Tap, double-tap and long-press from the presses and releases of one physical control.

A control (a MIDI CC / note / program on a channel, or a key) can carry up to three
gestures, each bound to a symbol or an action. What the recogniser must wait for depends
on what is bound:

- only `tap`: a press commits at once;
- `double-tap` too: a tap is only known to be a tap when the double-tap window (measured
  from the first press) has passed, so it is committed then, but lands at its first press;
- `long-press` too: a press is only known to be short when it is released (or long when
  the threshold passes while it is still held), so it is committed then.

Every gesture carries the monotonic time of its *first* press: players tap after they hear
the moment, and the tag must land where they pressed, not where the recogniser decided.

Times are the event times the caller gives (stamped in the MIDI callback, the OSC
datagram handler, the key handler), never the time the recogniser runs, so a late
thread or a late timer changes when a gesture is committed, not where it lands.
Deadlines are also checked lazily on every event, so a timer that fires late (or a fake
scheduler in a test) cannot reorder gestures.

The scheduler is injectable: `TimerThread` (one daemon thread, safe to call from rtmidi
callback threads and from an asyncio loop) in real use, `ManualScheduler` in tests.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Mapping, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
GestureCallback = Callable[[T, str, float], None]   # (target, gesture, t of first press)


@dataclass(frozen=True)
class GestureTiming:
    debounce: float = 0.008          # edges closer than this to the last accepted edge are contact bounce
    double_tap_window: float = 0.35  # second press within this of the first press = double-tap
    long_press: float = 0.6          # held at least this long = long-press
    grace: float = 0.02              # timers fire this late, so an event stamped just before a
                                     # deadline but delivered just after it still counts

    def __post_init__(self):
        for name in ("debounce", "double_tap_window", "long_press", "grace"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or value > 10:
                raise ValueError(f"gesture timing {name}: {value!r} must be 0-10 seconds")


# -- schedulers -----------------------------------------------------------------------------
class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def now(self) -> float: ...
    def call_at(self, when: float, fn: Callable[[], None]) -> Handle: ...


class _Entry:
    __slots__ = ("when", "seq", "fn", "cancelled")

    def __init__(self, when: float, seq: int, fn: Callable[[], None]):
        self.when, self.seq, self.fn, self.cancelled = when, seq, fn, False

    def __lt__(self, other: "_Entry") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class TimerThread:
    """One thread running callbacks at monotonic times. `call_at` is safe from any thread.

    One thread for every recogniser (rather than a threading.Timer per press) keeps a
    burst of presses from starting a burst of threads. Callbacks must be short.
    """

    def __init__(self, name: str = "gesture-timer"):
        self._heap: list[_Entry] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, fn: Callable[[], None]) -> _Entry:
        entry = _Entry(when, next(self._seq), fn)
        with self._cond:
            heapq.heappush(self._heap, entry)
            self._cond.notify()
        return entry

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                    if self._heap and self._heap[0].when <= time.monotonic():
                        break
                    timeout = (self._heap[0].when - time.monotonic()) if self._heap else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                entry = heapq.heappop(self._heap)
            try:
                entry.fn()
            except Exception:  # a failing callback must not stop every other recogniser's timers
                log.exception("gesture timer callback failed")


class ManualScheduler:
    """A scheduler whose clock only moves when a test says so."""

    def __init__(self, start: float = 1000.0):
        self.t = start
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    def call_at(self, when: float, fn: Callable[[], None]) -> _Entry:
        entry = _Entry(when, next(self._seq), fn)
        heapq.heappush(self._heap, entry)
        return entry

    def advance(self, seconds: float) -> None:
        self.advance_to(self.t + seconds)

    def advance_to(self, when: float) -> None:
        while self._heap and self._heap[0].when <= when:
            entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self.t = max(self.t, entry.when)
            entry.fn()
        self.t = max(self.t, when)

    @property
    def pending(self) -> int:
        return sum(not e.cancelled for e in self._heap)


_shared_timer: TimerThread | None = None
_shared_lock = threading.Lock()


def shared_timer() -> TimerThread:
    """The process-wide timer thread, started on first use."""
    global _shared_timer
    with _shared_lock:
        if _shared_timer is None:
            _shared_timer = TimerThread()
        return _shared_timer


# -- the recogniser -------------------------------------------------------------------------
IDLE, HOLD, WAIT_SECOND, RESOLVED = "idle", "hold", "wait-second", "resolved"


class GestureRecognizer(Generic[T]):
    """Gestures of one physical control.

    `targets` maps each bound gesture ("tap", "double-tap", "long-press") to what it
    triggers; `on_gesture(target, gesture, t)` is called with the first press's time,
    while the group's lock is held (so gestures of one group are emitted in order): it
    must not block (bus.submit does not).
    """

    def __init__(self, targets: Mapping[str, T], on_gesture: GestureCallback, *,
                 timing: GestureTiming, scheduler: Scheduler, lock: threading.RLock | None = None,
                 group: "GestureGroup | None" = None, name: str = ""):
        unknown = set(targets) - {"tap", "double-tap", "long-press"}
        if unknown:
            raise ValueError(f"unknown gestures {sorted(unknown)}")
        self.targets = dict(targets)
        self.on_gesture = on_gesture
        self.timing = timing
        self.scheduler = scheduler
        self.lock = lock or threading.RLock()
        self.group = group
        self.name = name
        self.phase = IDLE
        self.down = False              # logical state (after debounce)
        self.first_press: float | None = None
        self.last_edge = float("-inf")  # time of the last accepted edge
        self.raw_down = False           # the last edge seen, bounce included
        self.raw_t = float("-inf")
        self._timer: Handle | None = None
        self._deadline = float("-inf")
        self._generation = 0
        self.counts = {"tap": 0, "double-tap": 0, "long-press": 0, "bounce": 0, "unbound": 0}

    # -- input (any thread) ------------------------------------------------------------
    def press(self, t: float | None = None) -> None:
        with self.lock:
            t = self._stamp(t)
            self._settle(t)
            if t - self.last_edge < self.timing.debounce:
                self.counts["bounce"] += 1
                self.raw_down, self.raw_t = True, t
                return
            if self.down:   # a release went missing (a note-off lost, a press-only device)
                self._up(t)
            self._down(t)

    def release(self, t: float | None = None) -> None:
        with self.lock:
            t = self._stamp(t)
            self._settle(t)
            if t - self.last_edge < self.timing.debounce:
                self.counts["bounce"] += 1
                self.raw_down, self.raw_t = False, t
                return
            if not self.down:
                return   # redundant release (a pedal repeating its off value)
            self._up(t)

    def tap(self, t: float | None = None) -> None:
        """A press-only device (program change, a key): press and release at once."""
        with self.lock:
            t = self._stamp(t)
            self.press(t)
            self.raw_down = False          # there is no held state to reconcile later
            if self.down:
                if self.phase == HOLD:     # cannot be a long-press: it has no release
                    self._up(t)
                else:
                    self.down = False
                    if self.phase == RESOLVED:
                        self.phase = IDLE

    def flush(self) -> None:
        """Commit a tap still waiting for its double-tap window (on close, or before an action).

        A release still being judged as possible bounce is taken as the release it most
        likely was (under load, a press and its release can be stamped a few ms apart).
        A press still held is left alone: it may yet become a long-press."""
        with self.lock:
            if self.raw_down != self.down:
                (self._down if self.raw_down else self._up)(self.raw_t)
            if self.phase == WAIT_SECOND:
                self._cancel_timer()
                self._emit("tap", self.first_press)
                self.phase = RESOLVED if self.down else IDLE

    def cancel(self) -> None:
        with self.lock:
            self._cancel_timer()

    @property
    def pending(self) -> bool:
        """A gesture has begun and is not decided yet."""
        return self.phase in (HOLD, WAIT_SECOND)

    # -- state machine (lock held) -----------------------------------------------------
    def _stamp(self, t: float | None) -> float:
        if t is None:
            t = self.scheduler.now()
        return max(t, self.raw_t)  # never go back in time

    def _settle(self, now: float) -> None:
        """Apply what time has decided by `now`: a bounce that ended in the other state,
        a long-press held past its threshold, a double-tap window that ran out."""
        if self.raw_down != self.down and now - self.last_edge >= self.timing.debounce:
            if self.raw_down:
                self._down(self.raw_t)
            else:
                self._up(self.raw_t)
        if self.phase == HOLD and self.down and now - self.first_press >= self.timing.long_press:
            self._cancel_timer()
            self._emit("long-press", self.first_press)
            self.phase = RESOLVED
        if self.phase == WAIT_SECOND and now - self.first_press >= self.timing.double_tap_window:
            self._cancel_timer()
            self._emit("tap", self.first_press)
            self.phase = RESOLVED if self.down else IDLE

    def _down(self, t: float) -> None:
        self.down = self.raw_down = True
        self.last_edge = self.raw_t = t
        if self.phase == WAIT_SECOND:
            if t - self.first_press < self.timing.double_tap_window:
                self._cancel_timer()
                self._emit("double-tap", self.first_press)
                self.phase = RESOLVED
                return
            self._cancel_timer()       # the window ran out without a timer noticing
            self._emit("tap", self.first_press)
            self.phase = IDLE
        if self.phase == RESOLVED:
            self.phase = IDLE
        self.first_press = t
        if "long-press" in self.targets:
            self.phase = HOLD
            self._arm(t + self.timing.long_press)
        elif "double-tap" in self.targets:
            self.phase = WAIT_SECOND
            self._arm(t + self.timing.double_tap_window)
        else:
            self._emit("tap", t)
            self.phase = RESOLVED

    def _up(self, t: float) -> None:
        self.down = self.raw_down = False
        self.last_edge = self.raw_t = t
        if self.phase == HOLD:
            self._cancel_timer()
            if t - self.first_press >= self.timing.long_press:
                self._emit("long-press", self.first_press)   # the timer was late
                self.phase = IDLE
            elif "double-tap" in self.targets and t - self.first_press < self.timing.double_tap_window:
                self.phase = WAIT_SECOND
                self._arm(self.first_press + self.timing.double_tap_window)
            else:
                self._emit("tap", self.first_press)
                self.phase = IDLE
        elif self.phase == RESOLVED:
            self.phase = IDLE
        # WAIT_SECOND stays: without a long-press binding the window started at the press

    def _emit(self, gesture: str, t: float) -> None:
        target = self.targets.get(gesture)
        if target is None:
            self.counts["unbound"] += 1
            return
        self.counts[gesture] += 1
        if self.group is not None:
            self.group._before_emit(self, target)
        try:
            self.on_gesture(target, gesture, t)
        except Exception:
            log.exception("gesture callback failed for %s %s", self.name, gesture)

    def _arm(self, deadline: float) -> None:
        self._cancel_timer()
        self._deadline = deadline
        self._generation += 1
        generation = self._generation
        self._timer = self.scheduler.call_at(deadline + self.timing.grace, lambda: self._on_timer(generation))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self, generation: int) -> None:
        with self.lock:
            if generation != self._generation or self._timer is None:
                return  # cancelled or re-armed while this callback waited for the lock
            self._timer = None
            # judge by the deadline, not by when this thread got to run
            self._settle(max(self.scheduler.now() - self.timing.grace, self._deadline))


class GestureGroup(Generic[T]):
    """The recognisers of one source: one lock, one scheduler, gestures emitted in order.

    Before an action (undo, redo) is emitted, every tap still waiting for its double-tap
    window elsewhere in the group is committed first, so "tap the good pedal, then press
    undo" undoes that tap rather than the one before it.
    """

    def __init__(self, on_gesture: GestureCallback, *, timing: GestureTiming | None = None,
                 scheduler: Scheduler | None = None, is_action: Callable[[T], bool] = lambda t: False):
        self.on_gesture = on_gesture
        self.timing = timing or GestureTiming()
        self.scheduler = scheduler or shared_timer()
        self.is_action = is_action
        self.lock = threading.RLock()
        self._recognizers: dict[Hashable, GestureRecognizer] = {}

    def recognizer(self, key: Hashable, targets: Mapping[str, T] | Callable[[], Mapping[str, T]],
                   on_gesture: GestureCallback | None = None) -> GestureRecognizer:
        """The recogniser for `key`, created (with `targets`, or targets()) on first use."""
        with self.lock:
            rec = self._recognizers.get(key)
            if rec is None:
                rec = GestureRecognizer(targets() if callable(targets) else targets,
                                        on_gesture or self.on_gesture, timing=self.timing,
                                        scheduler=self.scheduler, lock=self.lock, group=self, name=str(key))
                self._recognizers[key] = rec
            return rec

    def flush(self) -> None:
        with self.lock:
            for rec in self._recognizers.values():
                rec.flush()

    def reset(self) -> None:
        """Forget every recogniser (the notation changed); pending taps are committed first."""
        with self.lock:
            self.flush()
            for rec in self._recognizers.values():
                rec.cancel()
            self._recognizers.clear()

    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        with self.lock:
            for rec in self._recognizers.values():
                for k, v in rec.counts.items():
                    total[k] = total.get(k, 0) + v
        return total

    def _before_emit(self, source: GestureRecognizer, target) -> None:
        if not self.is_action(target):
            return
        for rec in self._recognizers.values():
            if rec is not source:
                rec.flush()
