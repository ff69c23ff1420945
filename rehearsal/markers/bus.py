"""The marker bus: every source submits `TagEvent`s here; one thread commits them.

    MIDI / OSC / keys --submit()--> queue --bus thread--> SQLite (WAL, batched) --> listeners

- `submit` never blocks (sources run in MIDI callbacks and the event loop). The queue is
  fair: each source ("osc:<ip>", "midi:<port>", "key") has its own, and when the global
  bound is reached a source under its fair share (bound / active sources) takes the place
  of the newest event of the longest queue. So a sender under its own limit never loses a
  tag because others flood. Rejections are counted per reason and summarised in the log at
  most once a second, never printed one by one.
- A database locked by another program beyond the busy timeout does not lose tags: the
  rows are appended (and fsynced) to a journal beside the database, one per take, and
  retried in order until the database takes them; then the journal is removed. It is said
  once (log and a `Delayed` message for the screen) when it starts and once when it ends.
  Acknowledged means durable in the journal or in the database. An undo or redo pressed
  meanwhile is journalled too, behind the tags it refers to, and replayed with them in
  one transaction: "tag, tag, undo" undoes the second tag, once, however long the lock.
- Each event carries the monotonic time of the press. The bus converts it to a frame of the
  audio stream through a `SampleClock` (the recorder's frame counter), then to a sample of
  the take, so a tap lands where it was heard.
- A marker is acknowledged (listeners are called with `Committed`) only after its
  transaction committed: anything printed or shown is on disk.
- Taps before a take starts wait in memory; when the take starts with a pre-roll, those
  that fall inside it are committed to the take.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Union

from ..notation import Notation
from ..notation.model import SCORE_ACTIONS
from ..store import db as store_db, open_db
from ..store.markers import EDIT_STEPS, Marker, apply_journalled_edit, get_markers, insert_marker
from ..store.people import resolve_person, source_map

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
BATCH = 512
PENDING_SECONDS = 60.0  # taps made while not recording are kept this long for a pre-roll
RETRY_BUSY_MS = 250     # busy timeout while journalling: the bus keeps draining its queue
SUMMARY_SECONDS = 10.0  # rejections are summarised in the log at most this often per reason (the
                        # first at once): a 60 s flood from 8 senders is a dozen lines, not thousands


class SampleClock(Protocol):
    def frame_at(self, t_monotonic: float) -> int | None:
        """The stream frame (counted since the stream opened) captured at `t_monotonic`."""

    # optional: `ended() -> (last_frame, why) | None`; once the stream has died, every tap
    # after last_frame is refused with `why` (see _ended)


@dataclass(frozen=True)
class TagEvent:
    target: str                 # a symbol id, or an action id ("undo", "redo", "score-advance", ...)
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


@dataclass(frozen=True)
class ScoreCue:
    """A pedal, key or OSC message asked the score being performed to move: `event.target`
    is "score-advance" or "score-hold", `event.t` when it was pressed. No row is stored;
    whoever follows the score (`rehearsal.scores.follow.ScoreFollower`, the TUI's clock)
    moves its clock (`ScoreClock.cue`)."""
    event: TagEvent

    @property
    def action(self) -> str:
        return self.event.target


@dataclass(frozen=True)
class Delayed:
    """The database is unavailable (`reason`); `journalled` tags wait, durable, in `journal`.
    Sent once when it starts; `Delayed(..., journalled=0, stored=n)` once when it is over
    (n journalled tags, undos and redos stored in order)."""
    reason: str
    journalled: int
    journal: str
    stored: int = 0


BusMessage = Union[Committed, Undone, Redone, Rejected, Delayed, ScoreCue]


class FairQueue:
    """Per-source FIFOs with one global bound, merged back into submission order.

    `put` never blocks. Control items (not TagEvents) are never refused."""

    def __init__(self, bound: int):
        self.bound = bound
        self._queues: dict[str, deque] = {}
        self._size = 0
        self._seq = 0
        self._cond = threading.Condition()

    def put(self, key: str | None, item) -> tuple[bool, object | None]:
        """(admitted, evicted item or None)."""
        with self._cond:
            evicted = None
            if key is not None and self._size >= self.bound:
                own = self._queues.get(key)
                active = sum(1 for q in self._queues.values() if q) + (0 if own else 1)
                share = self.bound // max(1, active)
                if own is not None and len(own) >= share:
                    return False, None
                longest = max((q for k, q in self._queues.items() if k is not None and q), key=len, default=None)
                if longest is None or (own is not None and len(longest) <= len(own)):
                    return False, None
                evicted = longest.pop()[1]
                self._size -= 1
            self._seq += 1
            self._queues.setdefault(key, deque()).append((self._seq, item))
            self._size += 1
            self._cond.notify()
            return True, evicted

    def get_batch(self, most: int, timeout: float | None = None) -> list:
        """Up to `most` items in submission order; waits for the first."""
        with self._cond:
            if not self._size:
                self._cond.wait_for(lambda: self._size > 0, timeout)
            out = []
            while self._size and len(out) < most:
                q = min((q for q in self._queues.values() if q), key=lambda q: q[0][0])
                out.append(q.popleft()[1])
                self._size -= 1
            for k in [k for k, q in self._queues.items() if not q]:
                del self._queues[k]
            return out


class Summary:
    """Count events per reason; log each reason at most once per `every` seconds, with how
    many were not logged. `logger` is a Logger, or a callable(level, line) (the CLI's stderr)."""

    def __init__(self, logger, every: float = SUMMARY_SECONDS):
        self.logger, self.every = logger, every
        self.counts: Counter = Counter()
        self._last: dict[str, float] = {}
        self._quiet: Counter = Counter()

    def note(self, reason: str, line: str, level: int = logging.WARNING) -> None:
        self.counts[reason] += 1
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) < self.every:
            self._quiet[reason] += 1
            return
        more = self._quiet.pop(reason, 0)
        self._last[reason] = now
        line += f" (and {more} more like it)" if more else ""
        if isinstance(self.logger, logging.Logger):
            self.logger.log(level, "%s", line)
        else:
            self.logger(level, line)


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
        self._queue = FairQueue(QUEUE_SIZE)
        self.summary = Summary(log)
        self._backlog: list[tuple[dict, TagEvent]] = []   # journalled, waiting for the database
        self._journal: Path | None = None
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
        admitted, evicted = self._queue.put(event.source, event)
        if evicted is not None:
            self._notify([Rejected(evicted, "marker queue full: flooding source shed")])
        if not admitted:
            self._notify([Rejected(event, "marker queue full: flooding source shed")])
        return admitted

    def begin_take(self, take_id: int, start_frame: int, sample_rate: int, notation: Notation | None = None) -> None:
        self._queue.put(None, ("begin", _Take(take_id, start_frame, sample_rate, notation or self.notation)))

    def end_take(self) -> None:
        self._queue.put(None, ("end", None))

    def set_notation(self, notation: Notation) -> None:
        self._queue.put(None, ("notation", notation))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed (or rejected)."""
        marker = threading.Event()
        self._queue.put(None, ("flush", marker))
        return marker.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None, ("stop", None))
            self._thread.join(timeout)

    # -- bus thread ----------------------------------------------------------------------
    def _run(self) -> None:
        db = open_db(self.db_path)
        self._recover_journals(db)
        people = source_map(db)
        while True:
            batch = self._queue.get_batch(BATCH, timeout=0.2 if self._backlog else None)
            if self._backlog:
                self._replay(db)
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
                    while self._backlog and self._replay(db, final=True):
                        pass
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
        rows, stored = [], []
        now_frame = self.clock.frame_at(time.monotonic())
        if ended is not None and now_frame is not None:
            now_frame = min(now_frame, ended[0])
        for ev in events:
            symbol = self._resolve_symbol(ev, take.notation)
            if symbol is None:
                continue
            frame = self._frame_of(ev)
            if frame is None:
                # the take has begun but its stream has not counted a frame yet (a held input
                # file starts with the take; a busy machine delays its first block): the tap
                # lands on the take's first sample, as one before the pre-roll's end would
                frame = take.start_frame
            tap = frame - take.start_frame
            limit = (now_frame - take.start_frame) if now_frame is not None else tap
            tap = max(0, min(tap, max(limit, 0)))  # clamped to the take recorded so far
            sr = take.sample_rate
            person_id, who = resolve_person(people, ev.source, ev.who, ev.channel)
            stored.append(ev)
            rows.append(dict(
                take_id=take.take_id, symbol=symbol.id, glyph=symbol.glyph, tap_sample=tap,
                start_sample=max(0, tap - round(symbol.before_s * sr)), end_sample=tap + round(symbol.after_s * sr),
                who=who, person_id=person_id, source=ev.source, gesture=ev.gesture,
            ))
        self._store(db, list(zip(rows, stored)))

    def _store(self, db, pairs: list[tuple[dict, TagEvent | None]]) -> None:
        """Store entries (tag rows; undo/redo: {"action", "take_id", "by"}) in one transaction,
        or, while the database is unavailable, journal them behind what waits there."""
        if not pairs:
            return
        if self._backlog:               # order: nothing overtakes what waits in the journal
            self._journal_rows(pairs, "database still unavailable")
            return
        try:
            results = self._insert(db, [row for row, _ in pairs])
        except sqlite3.OperationalError as exc:    # locked / busy past the timeout: journal, retry
            self._journal_rows(pairs, str(exc))
            return
        except sqlite3.Error as exc:
            log.error("could not store %d markers: %s", len(pairs), exc)
            self._notify([Rejected(ev, f"storage error: {exc}") for _, ev in pairs if ev is not None])
            return
        self._notify(self._messages(db, pairs, results))

    def _messages(self, db, pairs, results: list[tuple[str, int | None]]) -> list[BusMessage]:
        """What the listeners hear of stored entries, in their order."""
        ids = [mid for _, mid in results if mid is not None]
        markers = dict(zip(ids, get_markers(db, ids)))
        out: list[BusMessage] = []
        for (_, ev), (kind, mid) in zip(pairs, results):
            if kind == "tag":
                self.committed += 1
                out.append(Committed(markers[mid]))
            elif mid is not None:
                out.append((Undone if kind == "undo" else Redone)(markers[mid]))
            elif ev is not None:
                out.append(Rejected(ev, f"nothing to {kind}"))
        return out

    def _insert(self, db, rows: list[dict]) -> list[tuple[str, int | None]]:
        """Tags and edits in one transaction, in order: ("tag" | "undo" | "redo", marker id or
        None when there was nothing to undo / redo)."""
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            out = []
            for row in rows:
                action = row.get("action")
                if action is None:
                    out.append(("tag", insert_marker(db, **row)))
                elif row.get("journal_id") is not None:   # once, however often its journal is replayed
                    out.append((action, apply_journalled_edit(db, row["journal_id"], action, row["take_id"],
                                                              row.get("by"))[1]))
                else:
                    out.append((action, EDIT_STEPS[action](db, row["take_id"], row.get("by"))))
            db.conn.execute("COMMIT")
            return out
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise

    # -- journal: the database is unavailable --------------------------------------------
    def journal_path(self, take_id: int) -> Path:
        return self.db_path.with_name(f"{self.db_path.name}.take-{take_id}.markers.journal")

    def _recover_journals(self, db) -> None:
        """Journals left by a bus that could not reach the database before it was killed:
        store their rows (in order, one transaction per journal) and remove them. A journal
        stored already (killed before it was removed) adds nothing: rows carry journal ids."""
        for path in sorted(self.db_path.parent.glob(f"{self.db_path.name}.take-*.markers.journal")):
            try:
                rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, ValueError) as exc:   # a torn last line after a crash
                log.error("marker journal %s is damaged (%s): kept for inspection", path, exc)
                continue
            try:
                self._insert(db, rows)
            except sqlite3.Error as exc:
                log.error("marker journal %s could not be stored yet (%s): kept", path, exc)
                continue
            path.unlink()
            log.warning("stored %d tags journalled by an earlier run from %s", len(rows), path)

    def _journal_rows(self, pairs: list[tuple[dict, TagEvent]], reason: str) -> None:
        if not pairs:
            return
        first = not self._backlog
        path = self.journal_path(pairs[0][0]["take_id"])
        with open(path, "a", encoding="utf-8") as f:   # append-only; durable before acknowledged
            for row, _ in pairs:
                # a unique id an entry: storing the journal again after a crash between storing
                # it and removing it (or twice in one run) stores each tag once (insert_marker)
                row["journal_id"] = uuid.uuid4().hex
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._journal = path
        self._backlog.extend(pairs)
        if first:
            log.error("database unavailable (%s): tags are journalled in %s and will be stored in order "
                      "when it returns", reason, path)
            self._notify([Delayed(reason, len(pairs), str(path))])

    def _replay(self, db, final: bool = False) -> bool:
        """Try to store the journalled rows, in order. True when the backlog is empty."""
        busy = store_db.BUSY_TIMEOUT_MS if final else RETRY_BUSY_MS
        db.conn.execute(f"PRAGMA busy_timeout = {busy}")
        try:
            results = self._insert(db, [row for row, _ in self._backlog])
        except sqlite3.OperationalError:
            return False
        finally:
            db.conn.execute(f"PRAGMA busy_timeout = {store_db.BUSY_TIMEOUT_MS}")
        pairs, self._backlog = self._backlog, []
        if self._journal is not None:
            self._journal.unlink(missing_ok=True)
        edits = sum(kind != "tag" for kind, _ in results)
        log.warning("database available again: %d journalled tags%s stored in order", len(results) - edits,
                    f" and {edits} undo/redo" if edits else "")
        self._notify(self._messages(db, pairs, results) + [Delayed("", 0, str(self._journal), stored=len(results))])
        self._journal = None
        return True

    def _resolve_symbol(self, ev: TagEvent, notation: Notation | None = None):
        symbol = (notation or self.notation).symbol(ev.target)
        if symbol is None:
            self._notify([Rejected(ev, f"unknown symbol {ev.target!r} in notation {(notation or self.notation).name!r}")])
        return symbol

    def _action(self, db, ev: TagEvent) -> None:
        if ev.target in SCORE_ACTIONS:       # moves the score, not the take's markers: a take need not run
            self._notify([ScoreCue(ev)])
            return
        if self._take is None:
            self._notify([Rejected(ev, f"{ev.target}: no take is recording")])
            return
        if ev.target not in EDIT_STEPS:
            self._notify([Rejected(ev, f"unknown action {ev.target!r}")])
            return
        _, who = resolve_person(source_map(db), ev.source, ev.who, ev.channel)
        # journalled behind the tags it refers to while the database is unavailable
        self._store(db, [(dict(action=ev.target, take_id=self._take.take_id, by=who), ev)])

    def _notify(self, messages: list[BusMessage]) -> None:
        for m in messages:
            if isinstance(m, Rejected):
                self.rejected += 1
                self.summary.note(m.reason, f"tag rejected from {m.event.source}: {m.reason}")
            for listener in self._listeners:
                try:
                    listener(m)
                except Exception:  # a broken listener must not stop the bus
                    log.exception("marker listener failed")
