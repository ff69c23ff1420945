"""A real MarkerBus on a real SQLite workspace with a take row, for marker-source tests.

The clock is a simple stand-in for the recorder's: frame = (t - t0) * rate, so a
marker's tap_sample tells exactly which monotonic time it was stamped with.
"""

from __future__ import annotations

import threading
import time

from rehearsal.markers import Committed, MarkerBus, Redone, Rejected, Undone
from rehearsal.notation import Notation, parse_notation
from rehearsal.store import open_db
from rehearsal.store.markers import list_markers
from rehearsal.store.notations import store_notation
from rehearsal.store.sessions import get_or_create_session
from rehearsal.store.takes import create_take


class LinearClock:
    def __init__(self, rate: int = 48000, t0: float | None = None):
        self.rate = rate
        self.t0 = time.monotonic() if t0 is None else t0

    def frame_at(self, t: float) -> int:
        return round((t - self.t0) * self.rate)

    def time_of(self, frame: int) -> float:
        return self.t0 + frame / self.rate


class BusHarness:
    def __init__(self, workspace, notation: Notation | str, rate: int = 48000, started_ago: float = 10.0):
        """A take that began `started_ago` seconds ago (so times a little in the past are in it)."""
        if isinstance(notation, str):
            notation = parse_notation(notation, "<test notation>")
        self.notation = notation
        self.rate = rate
        self.db_path = workspace.db_path
        self.db = open_db(workspace.db_path)
        nid = store_notation(self.db, notation)
        sid = get_or_create_session(self.db, "test", nid)
        self.take_id = create_take(self.db, session_id=sid, number=1, path="audio/test/1.w64", format="W64",
                                   subtype="FLOAT", sample_rate=rate, channels=2, device="test", notation_id=nid)
        self.db.conn.commit()
        self.clock = LinearClock(rate, time.monotonic() - started_ago)
        self.bus = MarkerBus(workspace.db_path, self.clock, notation).start()
        self.bus.begin_take(self.take_id, start_frame=0, sample_rate=rate)
        self.messages: list = []
        self._cond = threading.Condition()
        self.bus.listen(self._on_message)

    def _on_message(self, message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until predicate(messages) holds (bus messages arrive after each commit)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_committed(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda ms: sum(isinstance(m, Committed) for m in ms) >= n, timeout)

    def of_type(self, kind) -> list:
        with self._cond:
            return [m for m in self.messages if isinstance(m, kind)]

    @property
    def committed(self) -> list:
        return self.of_type(Committed)

    @property
    def rejected(self) -> list:
        return self.of_type(Rejected)

    @property
    def undone(self) -> list:
        return self.of_type(Undone)

    @property
    def redone(self) -> list:
        return self.of_type(Redone)

    def markers(self, include_deleted: bool = False):
        """What is in the database (read through a fresh query, not the bus's messages)."""
        return list_markers(self.db, self.take_id, include_deleted=include_deleted)

    def close(self) -> None:
        self.bus.flush()
        self.bus.close()
        self.db.conn.close()
