-- Curation tables: cached descriptors, datasets and their immutable versions, decisions.
--
-- A dataset version is written in one transaction: the version row (unsealed), its clips,
-- its step reports and removal log, then `sealed = 1`. Triggers refuse any change to a sealed
-- version, to its clips and to its removal log, and refuse adding clips to a sealed version:
-- the database itself keeps versions immutable. A failed run rolls the transaction back, so
-- a half-made version never exists (and readers only ever see sealed versions).

CREATE TABLE take_descriptors (
    take_id INTEGER NOT NULL REFERENCES takes(id),
    params_key TEXT NOT NULL,          -- AnalysisParams.key(): analysis version + parameters
    path TEXT NOT NULL,                -- .npz cache file, relative to the workspace
    fingerprint TEXT NOT NULL,         -- the audio file's size, mtime and frames when analysed
    frames INTEGER NOT NULL,
    computed_at TEXT NOT NULL,
    compute_s REAL NOT NULL,
    PRIMARY KEY (take_id, params_key)
);

CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE dataset_versions (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    number INTEGER NOT NULL,
    parent_id INTEGER REFERENCES dataset_versions(id),
    pipeline_name TEXT NOT NULL,
    pipeline_source TEXT,              -- file it was read from, if any
    pipeline_toml TEXT NOT NULL,       -- the exact text that made this version
    pipeline_sha256 TEXT NOT NULL,
    sessions_json TEXT NOT NULL,       -- [{"id":..,"name":..}]
    takes_json TEXT NOT NULL,          -- {take id: {"frames":.., "size":..}} of the audio the clips cut from
    analysis_key TEXT NOT NULL,
    clip_count INTEGER NOT NULL,
    total_s REAL NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1)),
    UNIQUE (dataset_id, number)
);

CREATE TABLE dataset_clips (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
    position INTEGER NOT NULL,
    take_id INTEGER NOT NULL REFERENCES takes(id),
    start_sample INTEGER NOT NULL,
    end_sample INTEGER NOT NULL,
    sample_rate INTEGER NOT NULL,
    tap_sample INTEGER,
    symbols_json TEXT NOT NULL,        -- ["good", ...]
    who_json TEXT NOT NULL,            -- ["ana", ...]
    marker_ids_json TEXT NOT NULL,
    made_by TEXT NOT NULL,             -- "markers" or the step that made this clip
    descriptors_json TEXT NOT NULL,
    CHECK (start_sample < end_sample),
    UNIQUE (version_id, position)
);
CREATE INDEX dataset_clips_by_version ON dataset_clips (version_id, position);

-- per step of the run that made a version: what went in, what came out
CREATE TABLE dataset_steps (
    version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
    step_index INTEGER NOT NULL,       -- 1-based, as in the pipeline file
    step_name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    params_json TEXT NOT NULL,
    clips_in INTEGER NOT NULL,
    clips_out INTEGER NOT NULL,
    seconds_in REAL NOT NULL,
    seconds_out REAL NOT NULL,
    PRIMARY KEY (version_id, step_index)
);

-- what each step removed or replaced, and why: one can listen to what was cut
CREATE TABLE dataset_removals (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
    step_index INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    take_id INTEGER NOT NULL REFERENCES takes(id),
    start_sample INTEGER NOT NULL,
    end_sample INTEGER NOT NULL,
    sample_rate INTEGER NOT NULL,
    symbols_json TEXT NOT NULL,
    who_json TEXT NOT NULL,
    marker_ids_json TEXT NOT NULL,     -- the tags behind it: lineage across versions
    reason TEXT NOT NULL,
    replaced_by_json TEXT              -- clip keys that replaced it (trim, snap, segment), or NULL
);
CREATE INDEX dataset_removals_by_version ON dataset_removals (version_id, step_index);

CREATE TRIGGER dataset_versions_sealed_update BEFORE UPDATE ON dataset_versions
WHEN OLD.sealed = 1
BEGIN SELECT RAISE(ABORT, 'dataset versions are immutable: make a new version'); END;

CREATE TRIGGER dataset_versions_sealed_delete BEFORE DELETE ON dataset_versions
WHEN OLD.sealed = 1
BEGIN SELECT RAISE(ABORT, 'dataset versions are immutable: make a new version'); END;

CREATE TRIGGER dataset_clips_no_update BEFORE UPDATE ON dataset_clips
BEGIN SELECT RAISE(ABORT, 'dataset clips are immutable: make a new version'); END;

CREATE TRIGGER dataset_clips_no_delete BEFORE DELETE ON dataset_clips
BEGIN SELECT RAISE(ABORT, 'dataset clips are immutable: make a new version'); END;

CREATE TRIGGER dataset_clips_sealed_insert BEFORE INSERT ON dataset_clips
WHEN (SELECT sealed FROM dataset_versions WHERE id = NEW.version_id) IS NOT 0
BEGIN SELECT RAISE(ABORT, 'clips can only be added to a version while it is being made'); END;

CREATE TRIGGER dataset_steps_no_update BEFORE UPDATE ON dataset_steps
BEGIN SELECT RAISE(ABORT, 'step reports of a dataset version are immutable'); END;

CREATE TRIGGER dataset_steps_no_delete BEFORE DELETE ON dataset_steps
BEGIN SELECT RAISE(ABORT, 'step reports of a dataset version are immutable'); END;

CREATE TRIGGER dataset_steps_sealed_insert BEFORE INSERT ON dataset_steps
WHEN (SELECT sealed FROM dataset_versions WHERE id = NEW.version_id) IS NOT 0
BEGIN SELECT RAISE(ABORT, 'step reports can only be added while a version is being made'); END;

CREATE TRIGGER dataset_removals_no_update BEFORE UPDATE ON dataset_removals
BEGIN SELECT RAISE(ABORT, 'the removal log of a dataset version is immutable'); END;

CREATE TRIGGER dataset_removals_no_delete BEFORE DELETE ON dataset_removals
BEGIN SELECT RAISE(ABORT, 'the removal log of a dataset version is immutable'); END;

CREATE TRIGGER dataset_removals_sealed_insert BEFORE INSERT ON dataset_removals
WHEN (SELECT sealed FROM dataset_versions WHERE id = NEW.version_id) IS NOT 0
BEGIN SELECT RAISE(ABORT, 'removals can only be logged while a version is being made'); END;

-- keep / drop decisions made while reviewing; the `manual` step applies them
CREATE TABLE curation_decisions (
    id INTEGER PRIMARY KEY,
    take_id INTEGER NOT NULL REFERENCES takes(id),
    start_sample INTEGER NOT NULL,
    end_sample INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'drop')),
    who TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL,
    deleted_at TEXT,                   -- tombstone, as for markers
    CHECK (start_sample < end_sample)
);
CREATE INDEX curation_decisions_by_take ON curation_decisions (take_id, start_sample);

CREATE VIEW dataset_versions_readable AS
SELECT v.id, d.name AS dataset, v.number AS version, d.name || '@' || v.number AS ref,
       p.number AS parent_version, v.pipeline_name, v.clip_count, round(v.total_s, 3) AS total_s,
       v.created_at, v.created_by
FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
LEFT JOIN dataset_versions p ON p.id = v.parent_id
WHERE v.sealed = 1;

CREATE VIEW dataset_clips_readable AS
SELECT c.id, d.name || '@' || v.number AS dataset, c.position, s.name AS session, t.number AS take,
       round(c.start_sample * 1.0 / c.sample_rate, 3) AS start_s,
       round(c.end_sample * 1.0 / c.sample_rate, 3) AS end_s,
       c.symbols_json AS symbols, c.who_json AS who, c.made_by
FROM dataset_clips c JOIN dataset_versions v ON v.id = c.version_id
JOIN datasets d ON d.id = v.dataset_id
JOIN takes t ON t.id = c.take_id JOIN sessions s ON s.id = t.session_id
WHERE v.sealed = 1;
