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
