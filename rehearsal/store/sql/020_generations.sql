-- Tables for model generations: lineage, checkpoints, notes, and which one is current.
--
-- `dataset_version_id` is the curation version when the run named one; it has no foreign key
-- so training works on a plain folder and on a store where curation's tables are absent.
-- `current_models` is append-only: the latest row per scope is current, so going back is
-- reading the row before it, and the history of choices stays.

CREATE TABLE generations (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,                 -- "convergent", "one-shot 2/5", "specialise ʃ"
    parent_id INTEGER REFERENCES generations(id),
    family TEXT NOT NULL,
    strategy TEXT NOT NULL,
    spec_json TEXT NOT NULL,             -- the full run specification (strategy parameters,
                                         -- family parameters, budget, init, symbols)
    seed INTEGER NOT NULL,
    dataset_ref TEXT NOT NULL,           -- what the user named
    dataset_version_id INTEGER,          -- curation's version, when known
    dataset_folder TEXT NOT NULL,        -- relative to the workspace when inside it
    dataset_hash TEXT NOT NULL,          -- sha256 of metadata.jsonl and every clip file
    symbols_json TEXT,                   -- the symbols a specialised model was trained on
    batch TEXT,                          -- generations made by one command share it
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'complete', 'cancelled', 'failed')),
    error TEXT,
    device TEXT,
    folder TEXT NOT NULL,                -- relative to the workspace: models/g0007
    metrics_json TEXT NOT NULL DEFAULT '{}',  -- train/val spectral loss, steps, seconds...
    checkpoint_id INTEGER,               -- the checkpoint this generation plays by default
    pid INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT
);
CREATE INDEX generations_by_parent ON generations (parent_id);

CREATE TABLE generation_checkpoints (
    id INTEGER PRIMARY KEY,
    generation_id INTEGER NOT NULL REFERENCES generations(id),
    kind TEXT NOT NULL CHECK (kind IN ('best', 'waste', 'final')),
    step INTEGER NOT NULL,
    elapsed_s REAL NOT NULL,
    path TEXT NOT NULL,                  -- relative to the workspace
    train_loss REAL,
    val_loss REAL,
    previews TEXT,                       -- folder of rendered probe clips, relative
    created_at TEXT NOT NULL,
    UNIQUE (generation_id, kind, step)
);
CREATE INDEX generation_checkpoints_by_generation ON generation_checkpoints (generation_id, step);

CREATE TABLE generation_notes (
    id INTEGER PRIMARY KEY,
    generation_id INTEGER NOT NULL REFERENCES generations(id),
    symbol TEXT,                         -- a symbol of the collective's notation, if any
    text TEXT,
    who TEXT,
    created_at TEXT NOT NULL,
    deleted_at TEXT,
    CHECK (symbol IS NOT NULL OR text IS NOT NULL)
);

CREATE TABLE current_models (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL DEFAULT '',      -- '' = the collective's model; specialised ones may have their own
    generation_id INTEGER NOT NULL REFERENCES generations(id),
    set_by TEXT,
    set_at TEXT NOT NULL
);

CREATE VIEW generations_readable AS
SELECT g.id, 'g' || g.id AS name, g.label, g.parent_id, g.family, g.strategy, g.seed, g.dataset_ref,
       g.status, json_extract(g.metrics_json, '$.val_loss') AS val_loss,
       json_extract(g.metrics_json, '$.train_loss') AS train_loss,
       json_extract(g.metrics_json, '$.steps') AS steps,
       json_extract(g.metrics_json, '$.elapsed_s') AS elapsed_s, g.created_at
FROM generations g;
