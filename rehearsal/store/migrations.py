"""Schema migrations, applied in order and recorded in the `migrations` table.

Append a new SQL script (`register`) to change the schema; never edit one that has shipped.
Names are plain and columns carry units (`_sample`, `_s`, `_at`) so the database reads
well in other SQLite tools; the `*_readable` views join the ids into names and seconds.
"""

from __future__ import annotations

import sqlite_utils


M001_INITIAL = """
CREATE TABLE notations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,      -- a copy per distinct content: history never changes
    source_path TEXT,
    toml TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    notation_id INTEGER REFERENCES notations(id),   -- default for new takes
    notes TEXT
);
CREATE TABLE takes (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    number INTEGER NOT NULL,
    path TEXT NOT NULL,               -- relative to the workspace
    format TEXT NOT NULL,
    subtype TEXT NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    device TEXT NOT NULL,
    started_at TEXT NOT NULL,         -- UTC, ISO 8601, time of sample 0
    ended_at TEXT,
    frames INTEGER NOT NULL DEFAULT 0,
    preroll_frames INTEGER NOT NULL DEFAULT 0,
    overflows INTEGER NOT NULL DEFAULT 0,
    notation_id INTEGER NOT NULL REFERENCES notations(id),
    status TEXT NOT NULL DEFAULT 'recording'
        CHECK (status IN ('recording', 'complete', 'recovered', 'failed')),
    recorder_pid INTEGER,
    error TEXT,
    UNIQUE (session_id, number)
);
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- 'midi:<port>', 'midi:<port>/ch<N>', 'osc:<ip>', 'who:<name>', 'key'
CREATE TABLE person_sources (
    source TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id)
);
CREATE TABLE markers (
    id INTEGER PRIMARY KEY,
    take_id INTEGER NOT NULL REFERENCES takes(id),
    symbol TEXT NOT NULL,
    glyph TEXT NOT NULL,
    tap_sample INTEGER NOT NULL,
    start_sample INTEGER NOT NULL,
    end_sample INTEGER NOT NULL,
    who TEXT NOT NULL,
    person_id INTEGER REFERENCES people(id),
    source TEXT NOT NULL,
    gesture TEXT NOT NULL DEFAULT 'tap',
    note TEXT,
    created_at TEXT NOT NULL,
    deleted_at TEXT,                  -- tombstone: deleted markers are kept
    CHECK (start_sample <= tap_sample OR start_sample <= end_sample),
    CHECK (start_sample <= end_sample)
);
CREATE INDEX markers_by_take ON markers (take_id, tap_sample);
-- every change to a marker, so edits can be undone and redone from any process
CREATE TABLE marker_edits (
    id INTEGER PRIMARY KEY,
    marker_id INTEGER NOT NULL REFERENCES markers(id),
    action TEXT NOT NULL CHECK (action IN ('create', 'delete', 'restore', 'update')),
    before_json TEXT,
    after_json TEXT,
    by TEXT,
    at TEXT NOT NULL,
    undone_at TEXT,
    undo_order INTEGER,               -- strictly increasing over undos: redo takes the newest
    edits_at_undo INTEGER             -- the newest edit id when undone: a later edit ends redo
);
CREATE INDEX marker_edits_by_marker ON marker_edits (marker_id);

CREATE VIEW takes_readable AS
SELECT t.id, s.name AS session, t.number AS take, t.path, t.sample_rate, t.channels,
       t.device, t.started_at, round(t.frames * 1.0 / t.sample_rate, 3) AS duration_s,
       t.overflows, n.name AS notation, t.status
FROM takes t JOIN sessions s ON s.id = t.session_id JOIN notations n ON n.id = t.notation_id;

CREATE VIEW markers_readable AS
SELECT m.id, s.name AS session, t.number AS take, m.glyph, m.symbol,
       round(m.tap_sample * 1.0 / t.sample_rate, 3) AS tap_s,
       round(m.start_sample * 1.0 / t.sample_rate, 3) AS start_s,
       round(m.end_sample * 1.0 / t.sample_rate, 3) AS end_s,
       m.who, m.source, m.gesture, m.note, m.created_at, m.deleted_at IS NOT NULL AS deleted
FROM markers m JOIN takes t ON t.id = m.take_id JOIN sessions s ON s.id = t.session_id;
"""

# (name, script) in order. Names, not numbers, so features developed side by side can each
# append their own without colliding; applied names are recorded in the `migrations` table.
MIGRATIONS: list[tuple[str, str]] = [("001_initial", M001_INITIAL)]


def register(name: str, sql: str) -> None:
    """Add a migration from a feature module (curation, training...), in import order."""
    if any(n == name for n, _ in MIGRATIONS):
        return
    MIGRATIONS.append((name, sql))


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the names applied."""
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for name, sql in MIGRATIONS:
        if conn.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
            continue
        quoted = name.replace("'", "''")
        try:
            # one script, one transaction: a half-applied migration is never left behind
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO migrations (name, applied_at) VALUES ('{quoted}', strftime('%Y-%m-%dT%H:%M:%fZ'));\n"
                "COMMIT;"
            )
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # another process may have applied it between our check and our lock
            if not conn.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
                raise
            continue
        applied.append(name)
    return applied
