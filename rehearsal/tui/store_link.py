"""StoreLink: the TUI's reads and edits of the workspace database, on one thread of their own.

Every edit (re-tag, nudge, trim, note, delete, undo, redo) is its own committed
transaction the moment it is made: closing or killing the app loses nothing. One thread
keeps edits in the order they were made and keeps SQLite's per-thread connection rule.
The functions passed to `call` get the connection as their first argument.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ..store import Workspace, open_db
from ..store.markers import Marker, delete_marker, get_marker, list_markers, redo, undo, update_marker
from ..store.notations import load_stored_notation
from ..store.sessions import list_sessions
from ..store.takes import get_take, takes_of_session
from .moments import moments_of

EDITOR = "review"   # the edit log's `by` for edits made in the review screen


class StoreLink:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self._db = None
        self._exec = ThreadPoolExecutor(1, thread_name_prefix="store")

    def _conn(self):
        if self._db is None:
            self._db = open_db(self.ws.db_path)
        return self._db

    async def call(self, fn, *args, **kwargs):
        def run():
            return fn(self._conn(), *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._exec, run)

    def call_blocking(self, fn, *args, **kwargs):
        return self._exec.submit(lambda: fn(self._conn(), *args, **kwargs)).result(30)

    def close(self) -> None:
        def _close():
            if self._db is not None:
                self._db.conn.close()
                self._db = None

        try:
            self._exec.submit(_close).result(10)
        finally:
            self._exec.shutdown(wait=False)


# -- queries and edits (run on the store thread, `db` first) -------------------------------------
def load_moments(db, *, take_id: int | None = None, session_id: int | None = None):
    """(scope, moments, takes of the session) for one take or a whole session."""
    if take_id is not None:
        take = get_take(db, take_id)
        session_id = take["session_id"]
        chosen = [take]
    else:
        chosen = takes_of_session(db, session_id)
    takes = takes_of_session(db, session_id) if session_id is not None else []
    session = db.execute("SELECT id, name FROM sessions WHERE id = ?", [session_id]).fetchone()
    notations = {}
    for t in chosen:
        try:
            notations[t["id"]] = load_stored_notation(db, t["notation_id"])
        except (KeyError, ValueError):
            pass   # a copy that no longer parses: the markers still show their own glyphs
    scope = {"take_id": take_id, "session_id": session_id, "session": session[1] if session else "?",
             "notations": notations}
    moments = moments_of([(t, list_markers(db, t["id"])) for t in chosen])
    return scope, moments, takes


def latest_take(db, session_id: int | None = None) -> dict | None:
    where, args = ("WHERE session_id = ?", [session_id]) if session_id is not None else ("", [])
    rows = list(db.query(f"SELECT * FROM takes {where} ORDER BY id DESC LIMIT 1", args))
    return rows[0] if rows else None


def session_id_named(db, name: str) -> int | None:
    row = db.execute("SELECT id FROM sessions WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def edit(db, marker_id: int, **changes) -> Marker:
    return update_marker(db, marker_id, by=EDITOR, **changes)


def delete(db, marker_id: int) -> int:
    delete_marker(db, marker_id, by=EDITOR)
    return marker_id


def undo_edit(db, take_id: int) -> Marker | None:
    return undo(db, take_id=take_id)


def redo_edit(db, take_id: int) -> Marker | None:
    return redo(db, take_id=take_id)


def marker(db, marker_id: int) -> Marker:
    return get_marker(db, marker_id)


def sessions_and_takes(db):
    sessions = list_sessions(db)
    takes = {}
    for s in sessions:
        rows = list(db.query(
            """SELECT t.*, (SELECT COUNT(*) FROM markers m WHERE m.take_id = t.id AND m.deleted_at IS NULL) AS markers
               FROM takes t WHERE t.session_id = ? ORDER BY t.number""", [s["id"]]))
        takes[s["id"]] = rows
    return sessions, takes
