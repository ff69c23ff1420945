"""The marker bus: every source submits `TagEvent`s here; one thread commits them.

    MIDI / OSC / keys --submit()--> queue --bus thread--> SQLite (WAL, batched) --> listeners

- `submit` never blocks (sources run in MIDI callbacks and the event loop); a full queue
  rejects the event with a reason instead of stalling anyone.
- Each event carries the monotonic time of the press. The bus converts it to a frame of the
  audio stream through a `SampleClock` (the recorder's frame counter), then to a sample of
  the take, so a tap lands where it was heard.
- A marker is acknowledged (listeners are called with `Committed`) only after its
  transaction committed: anything printed or shown is on disk.
- Taps before a take starts wait in memory; when the take starts with a pre-roll, those
  that fall inside it are committed to the take.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Union

from ..notation import Notation
from ..store import open_db
from ..store.markers import Marker, get_marker, insert_marker, redo, undo
from ..store.people import resolve_person, source_map

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH = 512
PENDING_SECONDS = 60.0  # taps made while not recording are kept this long for a pre-roll


class SampleClock(Protocol):
    def frame_at(self, t_monotonic: float) -> int | None:
        """The stream frame (counted since the stream opened) captured at `t_monotonic`."""

    # optional: `ended() -> (last_frame, why) | None`; once the stream has died, every tap
    # after last_frame is refused with `why` (see _ended)


@dataclass(frozen=True)
class TagEvent:
    target: str                 # a symbol id, or an action id ("undo", "redo")
    source: str                 # "midi:<port>", "osc:<ip>", "key", ...
    t: float = field(default_factory=time.monotonic)  # when it was pressed (time.monotonic)
    who: str | None = None      # an explicit name (OSC argument), else the source's person
    gesture: str = "tap"
    channel: int | None = None  # MIDI channel, for per-channel person mapping
    action: bool = False


@dataclass(frozen=True)
class Committed:
    marker: Marker


@dataclass(frozen=True)
class Undone:
    marker: Marker


@dataclass(frozen=True)
class Redone:
    marker: Marker


@dataclass(frozen=True)
class Rejected:
    event: TagEvent
    reason: str


BusMessage = Union[Committed, Undone, Redone, Rejected]


@dataclass
class _Take:
    take_id: int
    start_frame: int            # stream frame that is sample 0 of the take
    sample_rate: int
    notation: Notation


class MarkerBus:
    def __init__(self, db_path: str | Path, clock: SampleClock, notation: Notation):
        self.db_path = Path(db_path)
        self.clock = clock
        self.notation = notation
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._listeners: list[Callable[[BusMessage], None]] = []
        self._take: _Take | None = None
        self._pending: deque[tuple[TagEvent, int]] = deque(maxlen=QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="marker-bus", daemon=True)
        self.committed = 0
        self.rejected = 0

    # -- public API (any thread) -------------------------------------------------------
    def listen(self, callback: Callable[[BusMessage], None]) -> None:
        """Called from the bus thread after each commit; keep it short (post a message)."""
        self._listeners.append(callback)

    def start(self) -> "MarkerBus":
        self._thread.start()
        return self

    def submit(self, event: TagEvent) -> bool:
        try:
            self._queue.put_nowait(event)
            return True
        except queue.Full:
            self._notify([Rejected(event, "marker queue full (flood): tag dropped")])
            return False

    def begin_take(self, take_id: int, start_frame: int, sample_rate: int, notation: Notation | None = None) -> None:
        self._queue.put(("begin", _Take(take_id, start_frame, sample_rate, notation or self.notation)))

    def end_take(self) -> None:
        self._queue.put(("end", None))

    def set_notation(self, notation: Notation) -> None:
        self._queue.put(("notation", notation))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed (or rejected)."""
        marker = threading.Event()
        self._queue.put(("flush", marker))
        return marker.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(("stop", None))
            self._thread.join(timeout)

    # -- bus thread ----------------------------------------------------------------------
    def _run(self) -> None:
        db = open_db(self.db_path)
        people = source_map(db)
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            tags: list[TagEvent] = []
            for item in batch:
                if isinstance(item, TagEvent) and not item.action:
                    tags.append(item)
                    continue
                self._commit(db, people, tags)  # keep order: tags before a control message
                tags = []
                if isinstance(item, TagEvent):
                    self._action(db, item)
                    continue
                kind, arg = item
                if kind == "begin":
                    self._take = arg
                    people = source_map(db)
                    self._commit(db, people, self._claim_pending(arg))
                elif kind == "end":
                    self._take = None
                elif kind == "notation":
                    self.notation = arg
                elif kind == "flush":
                    arg.set()
                elif kind == "stop":
                    db.conn.close()
                    return
            self._commit(db, people, tags)

    def _ended(self) -> tuple[int, str] | None:
        ended = getattr(self.clock, "ended", None)   # optional in SampleClock
        return ended() if ended is not None else None

    def _frame_of(self, event: TagEvent) -> int | None:
        return self.clock.frame_at(event.t)

    def _claim_pending(self, take: _Take) -> list[TagEvent]:
        claimed = [ev for ev, frame in self._pending if frame is not None and frame >= take.start_frame]
        for ev, frame in self._pending:
            if frame is None or frame < take.start_frame:
                self._notify([Rejected(ev, "tapped before the pre-roll began: no audio to mark")])
        self._pending.clear()
        return claimed

    def _commit(self, db, people, events: list[TagEvent]) -> None:
        if not events:
            return
        take = self._take
        ended = self._ended()
        if ended is not None:   # the stream died: what came after its last frame has no audio
            last, why = ended
            frame = {id(ev): self._frame_of(ev) for ev in events}
            late = [ev for ev in events if take is None or frame[id(ev)] is None or frame[id(ev)] > last]
            if late:
                self.rejected += len(late)
                self._notify([Rejected(ev, why) for ev in late])
            events = [ev for ev in events if take is not None and frame[id(ev)] is not None
                      and frame[id(ev)] <= last]
            if not events:
                return
        if take is None:
            now = time.monotonic()
            while self._pending and now - self._pending[0][0].t > PENDING_SECONDS:
                self._pending.popleft()
            for ev in events:
                if self._resolve_symbol(ev) is not None:
                    self._pending.append((ev, self._frame_of(ev)))
            return
        rows, messages = [], []
        now_frame = self.clock.frame_at(time.monotonic())
        if ended is not None and now_frame is not None:
            now_frame = min(now_frame, ended[0])
        for ev in events:
            symbol = self._resolve_symbol(ev, take.notation)
            if symbol is None:
                continue
            frame = self._frame_of(ev)
            if frame is None:
                messages.append(Rejected(ev, "audio stream has not started"))
                continue
            tap = frame - take.start_frame
            limit = (now_frame - take.start_frame) if now_frame is not None else tap
            tap = max(0, min(tap, max(limit, 0)))  # clamped to the take recorded so far
            sr = take.sample_rate
            person_id, who = resolve_person(people, ev.source, ev.who, ev.channel)
            rows.append(dict(
                take_id=take.take_id, symbol=symbol.id, glyph=symbol.glyph, tap_sample=tap,
                start_sample=max(0, tap - round(symbol.before_s * sr)), end_sample=tap + round(symbol.after_s * sr),
                who=who, person_id=person_id, source=ev.source, gesture=ev.gesture,
            ))
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            ids = [insert_marker(db, **row) for row in rows]
            db.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            log.error("could not store %d markers: %s", len(rows), exc)
            self._notify(messages + [Rejected(ev, f"storage error: {exc}") for ev in events])
            return
        messages += [Committed(get_marker(db, i)) for i in ids]
        self.committed += len(ids)
        self._notify(messages)

    def _resolve_symbol(self, ev: TagEvent, notation: Notation | None = None):
        symbol = (notation or self.notation).symbol(ev.target)
        if symbol is None:
            self._notify([Rejected(ev, f"unknown symbol {ev.target!r} in notation {(notation or self.notation).name!r}")])
        return symbol

    def _action(self, db, ev: TagEvent) -> None:
        if self._take is None:
            self._notify([Rejected(ev, f"{ev.target}: no take is recording")])
            return
        people = source_map(db)
        _, who = resolve_person(people, ev.source, ev.who, ev.channel)
        try:
            if ev.target == "undo":
                m = undo(db, take_id=self._take.take_id, by=who)
                msg = Undone(m) if m else Rejected(ev, "nothing to undo")
            elif ev.target == "redo":
                m = redo(db, take_id=self._take.take_id, by=who)
                msg = Redone(m) if m else Rejected(ev, "nothing to redo")
            else:
                msg = Rejected(ev, f"unknown action {ev.target!r}")
        except sqlite3.Error as exc:
            msg = Rejected(ev, f"storage error: {exc}")
        self._notify([msg])

    def _notify(self, messages: list[BusMessage]) -> None:
        for m in messages:
            if isinstance(m, Rejected):
                self.rejected += 1
                log.warning("tag rejected from %s: %s", m.event.source, m.reason)
            for listener in self._listeners:
                try:
                    listener(m)
                except Exception:  # a broken listener must not stop the bus
                    log.exception("marker listener failed")
