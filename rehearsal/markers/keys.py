"""The keyboard as a marker source (the TUI calls `press`); also USB page-turner pedals,
which are keyboards.

Terminals report presses only, never releases, and a held key auto-repeats: after an
initial delay (250-660 ms) the terminal sends the key again every 30-40 ms. A held key
must make one tag, not a stream. A press that comes within `repeat_gap` of the previous
press of that key is a repeat. The *first* repeat comes after the long initial delay,
so it looks like a new press; what gives it away is the quick repeat right behind it.
So each press waits `repeat_gap` before it counts: if the same key comes again inside
that gap, and the press itself came within an initial delay (<= 1 s) of an earlier
press of that key, it was the first repeat of a held key and is dropped. The tag still
lands at the press time; only its confirmation comes `repeat_gap` later.

Gestures (tap / double-tap) go through the same recogniser as MIDI pedals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from ..notation import Action, Notation
from .bus import TagEvent
from .gestures import GestureGroup, GestureTiming, Scheduler, shared_timer

log = logging.getLogger(__name__)

SOURCE = "key"
REPEAT_GAP = 0.12
INITIAL_DELAY_MAX = 1.0   # terminals start repeating a held key after 250-660 ms (1 s covers the slow settings)


class KeySource:
    def __init__(self, bus, notation: Notation, *, timing: GestureTiming | None = None,
                 repeat_gap: float = REPEAT_GAP, scheduler: Scheduler | None = None, who: str | None = None):
        if not 0 <= repeat_gap <= 1:
            raise ValueError(f"repeat_gap {repeat_gap!r}: 0-1 seconds")
        self.bus = bus
        self.who = who
        self.repeat_gap = repeat_gap
        self.scheduler = scheduler or shared_timer()
        timing = timing or GestureTiming()
        # a press reaches the recogniser repeat_gap late: its timers must wait that much longer
        self.timing = replace(timing, grace=max(timing.grace, repeat_gap + 0.02))
        self._last_press: dict[str, float] = {}
        # key -> (press time, timer, whether it could be the first repeat of a held key)
        self._candidate: dict[str, tuple[float, object, bool]] = {}
        self.counts = {"presses": 0, "repeats": 0, "unbound": 0, "tags": 0, "actions": 0}
        self._group: GestureGroup = GestureGroup(self._on_gesture, timing=self.timing, scheduler=self.scheduler,
                                                 is_action=lambda target: isinstance(target, Action))
        self._lock = self._group.lock   # one lock for presses, timers and gestures: no ordering puzzles
        self.set_notation(notation)

    def set_notation(self, notation: Notation) -> None:
        with self._lock:
            self._group.reset()
            self.notation = notation
            self._bindings: dict[str, dict[str, object]] = {}
            for (key, gesture), target in notation.key_targets().items():
                self._bindings.setdefault(key, {})[gesture] = target

    def bound(self, key: str) -> bool:
        return key in self._bindings

    def press(self, key: str, t: float | None = None) -> bool:
        """A key was pressed (call at once from the key handler). True if the key is bound."""
        t = time.monotonic() if t is None else t
        with self._lock:
            if key not in self._bindings:
                self.counts["unbound"] += 1
                return False
            self.counts["presses"] += 1
            last = self._last_press.get(key)
            self._last_press[key] = t
            if last is not None and t - last < self.repeat_gap:
                self.counts["repeats"] += 1
                pending = self._candidate.get(key)
                if pending is not None and pending[2]:
                    # the press before came a key-repeat delay after an earlier one: it was
                    # the first repeat of a held key, not a press
                    self._candidate.pop(key)[1].cancel()
                    self.counts["repeats"] += 1
                return True
            self._confirm_due(t)
            maybe_first_repeat = last is not None and t - last <= INITIAL_DELAY_MAX
            handle = self.scheduler.call_at(t + self.repeat_gap, lambda: self._confirm(key, t))
            self._candidate[key] = (t, handle, maybe_first_repeat)
            return True

    def flush(self) -> None:
        """Confirm waiting presses and commit waiting taps now (closing, or a take ending)."""
        with self._lock:
            for key, (t, handle, _) in list(self._candidate.items()):
                handle.cancel()
                del self._candidate[key]
                self._feed(key, t)
            self._group.flush()

    def close(self) -> None:
        self.flush()
        self._group.reset()

    def stats(self) -> dict:
        with self._lock:
            return {"source": SOURCE, **self.counts, "gestures": self._group.counts()}

    # -- internals -----------------------------------------------------------------------
    def _confirm_due(self, now: float) -> None:
        """Confirm other keys' presses whose gap has passed, in press order, before a new one."""
        due = sorted((c[0], key) for key, c in self._candidate.items() if now - c[0] >= self.repeat_gap)
        for t, key in due:
            self._candidate.pop(key)[1].cancel()
            self._feed(key, t)

    def _confirm(self, key: str, t: float) -> None:
        with self._lock:
            pending = self._candidate.get(key)
            if pending is None or pending[0] != t:
                return
            del self._candidate[key]
            self._feed(key, t)

    def _feed(self, key: str, t: float) -> None:
        targets = self._bindings.get(key)
        if targets is None:
            return
        self._group.recognizer(key, targets).tap(t)

    def _on_gesture(self, target, gesture: str, t: float) -> None:
        is_action = isinstance(target, Action)
        self.counts["actions" if is_action else "tags"] += 1
        self.bus.submit(TagEvent(target=target.id, source=SOURCE, t=t, who=self.who, gesture=gesture,
                                 action=is_action))
