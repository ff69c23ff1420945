"""Open the workspace database: WAL, a busy timeout, foreign keys, migrated.

SQLite is the log of everything. WAL lets the recorder, the TUI and a training process
read and write at once; `synchronous=FULL` makes each commit durable before a marker is
acknowledged (the marker bus batches commits, so this costs one fsync per batch).
WAL does not work on network or synced folders: keep the workspace on a local disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from .migrations import migrate

BUSY_TIMEOUT_MS = 10_000


def open_db(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        # a full (or read-only) disk: WAL needs its -shm file. An existing workspace still
        # opens read-only (no write can happen on that disk anyway), so read-only commands
        # work; any write fails with sqlite's "readonly database", which callers put in words.
        conn.close()
        if not Path(path).is_file():
            raise
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                               isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return sqlite_utils.Database(conn)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    if migrate_schema:
        migrate(db)
    return db
