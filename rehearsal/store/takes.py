"""Takes: one recorded audio file each, with how and when it was recorded."""

from __future__ import annotations

from contextlib import contextmanager

import sqlite_utils

from .clock import utc_now


def next_take_number(db: sqlite_utils.Database, session_id: int) -> int:
    row = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM takes WHERE session_id = ?", [session_id]).fetchone()
    return row[0]


@contextmanager
def take_numbering(db: sqlite_utils.Database, session_id: int):
    """The session's next free take number, inside one BEGIN IMMEDIATE transaction: the
    takes inserted in the `with` block commit together with the number read, so two
    processes on one session (record and record, record and play) never pick the same
    number. Everything in the block is rolled back if it raises."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield next_take_number(db, session_id)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def create_next_take(db: sqlite_utils.Database, *, session_id: int, path_of, **fields) -> tuple[int, int]:
    """Allocate the session's next take number and insert the take (`take_numbering`).
    `path_of(number)` gives the take's stored path. Returns (take_id, number)."""
    with take_numbering(db, session_id) as number:
        take_id = create_take(db, session_id=session_id, number=number, path=path_of(number), **fields)
    return take_id, number


def create_take(db: sqlite_utils.Database, *, session_id: int, number: int, path: str, format: str,
                subtype: str, sample_rate: int, channels: int, device: str, notation_id: int,
                started_at: str | None = None, preroll_frames: int = 0, recorder_pid: int | None = None) -> int:
    cur = db.execute(
        """INSERT INTO takes (session_id, number, path, format, subtype, sample_rate, channels, device,
                              started_at, preroll_frames, notation_id, status, recorder_pid)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'recording', ?)""",
        [session_id, number, path, format, subtype, sample_rate, channels, device,
         started_at or utc_now(), preroll_frames, notation_id, recorder_pid],
    )
    return cur.lastrowid


def update_take_progress(db: sqlite_utils.Database, take_id: int, frames: int, overflows: int) -> None:
    db.execute("UPDATE takes SET frames = ?, overflows = ? WHERE id = ?", [frames, overflows, take_id])


def finish_take(db: sqlite_utils.Database, take_id: int, *, frames: int, overflows: int,
                status: str = "complete", error: str | None = None, gap_frames: int = 0) -> None:
    db.execute(
        "UPDATE takes SET frames = ?, overflows = ?, status = ?, error = ?, ended_at = ?, recorder_pid = NULL, "
        "gap_frames = ? WHERE id = ?",
        [frames, overflows, status, error, utc_now(), gap_frames, take_id],
    )


def get_take(db: sqlite_utils.Database, take_id: int) -> dict:
    rows = list(db.query("SELECT * FROM takes WHERE id = ?", [take_id]))
    if not rows:
        raise LookupError(f"no take with id {take_id}")
    return rows[0]


def takes_of_session(db: sqlite_utils.Database, session_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM takes WHERE session_id = ? ORDER BY number", [session_id]))


def unfinished_takes(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM takes WHERE status = 'recording' ORDER BY id"))
