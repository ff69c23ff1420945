"""Sessions: a rehearsal, a day, a piece. Each has takes and a default notation."""

from __future__ import annotations

import sqlite_utils

from ..naming import safe_filename
from .clock import utc_now


def session_folder(db: sqlite_utils.Database, session_id: int) -> str:
    """The session's audio folder name (one path component), chosen once and stored.

    Names that differ can sanitise alike (`x/y` and `x_y`, `a.` and `a`, NFC and NFD,
    `CON`); the first session keeps the plain name, a later one gets `-<id>` appended.
    Chosen under BEGIN IMMEDIATE so two recorders cannot pick the same one."""
    conn = db.conn
    row = conn.execute("SELECT folder, name FROM sessions WHERE id = ?", [session_id]).fetchone()
    if row is None:
        raise LookupError(f"no session with id {session_id}")
    if row[0]:
        return row[0]
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT folder, name FROM sessions WHERE id = ?", [session_id]).fetchone()
        folder = row[0]
        if not folder:
            base = safe_filename(row[1])
            folder, n = base, 0
            while conn.execute("SELECT 1 FROM sessions WHERE folder = ? COLLATE NOCASE AND id != ?",
                               [folder, session_id]).fetchone():
                n += 1
                folder = f"{base}-{session_id}" if n == 1 else f"{base}-{session_id}-{n}"
            conn.execute("UPDATE sessions SET folder = ? WHERE id = ?", [folder, session_id])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return folder


def get_or_create_session(db: sqlite_utils.Database, name: str, notation_id: int | None = None) -> int:
    name = name.strip()
    if not name:
        raise ValueError("a session needs a name")
    row = db.execute("SELECT id, notation_id FROM sessions WHERE name = ?", [name]).fetchone()
    if row:
        if row[1] is None and notation_id is not None:
            db.execute("UPDATE sessions SET notation_id = ? WHERE id = ?", [notation_id, row[0]])
        return row[0]
    db.execute("INSERT OR IGNORE INTO sessions (name, created_at, notation_id) VALUES (?, ?, ?)",
               [name, utc_now(), notation_id])
    return db.execute("SELECT id FROM sessions WHERE name = ?", [name]).fetchone()[0]


def find_session(db: sqlite_utils.Database, name_or_id: str) -> dict:
    row = None
    if str(name_or_id).isdigit():
        row = db.execute("SELECT * FROM sessions WHERE id = ?", [int(name_or_id)]).fetchone()
    if row is None:
        row = db.execute("SELECT * FROM sessions WHERE name = ?", [name_or_id]).fetchone()
    if row is None:
        raise LookupError(f"no session named {name_or_id!r}")
    return dict(zip([c[0] for c in db.execute("SELECT * FROM sessions LIMIT 0").description], row))


def rename_session(db: sqlite_utils.Database, session_id: int, new_name: str) -> None:
    new_name = new_name.strip()
    if not new_name:
        raise ValueError("a session needs a name")
    db.execute("UPDATE sessions SET name = ? WHERE id = ?", [new_name, session_id])


def list_sessions(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        """SELECT s.id, s.name, s.created_at, n.name AS notation,
                  COUNT(DISTINCT t.id) AS takes,
                  COALESCE(SUM(t.frames * 1.0 / t.sample_rate), 0) AS seconds,
                  (SELECT COUNT(*) FROM markers m JOIN takes t2 ON t2.id = m.take_id
                    WHERE t2.session_id = s.id AND m.deleted_at IS NULL) AS markers
           FROM sessions s LEFT JOIN takes t ON t.session_id = s.id
           LEFT JOIN notations n ON n.id = s.notation_id
           GROUP BY s.id ORDER BY s.created_at"""
    ))
