"""Schema migrations: one ordered list, applied by opening the database (`store.db.open_db`).

Every table of every feature is created here, in the order of `MIGRATIONS`; each script is a
file in `rehearsal/store/sql/` named after its migration. No module changes the schema by
being imported, so the schema of a workspace never depends on which features ran first.
To change the schema, add a NEW script and append its name below (start the name with your
issue number, e.g. `042_...`); never edit one that has shipped: the names are recorded in
the `migrations` table of every workspace, and a script runs once per workspace.

Names are plain and columns carry units (`_sample`, `_s`, `_at`) so the database reads
well in other SQLite tools; the `*_readable` views join the ids into names and seconds.
What each area's tables mean is told at the top of its script.
"""

from __future__ import annotations

from importlib import resources

import sqlite_utils

# Applied in this order. Names, not bare numbers: the name is what a workspace records.
MIGRATIONS: tuple[str, ...] = (
    "001_initial",        # notations, sessions, takes, people, markers, marker edits
    "010_datasets",       # curation: descriptors, datasets, sealed versions, decisions
    "020_generations",    # training: generations, lineage, current models
    "030_play",           # play: plays, models heard, segments, marker mirrors, reception
    "041_withdrawals",    # consent: performers who withdrew their material, and undos
    "042_session_folders",  # a unique audio folder per session, kept in the db
    "043_plugin_problems",  # problems plugins caused, shown by `rehearsal plugins`
    "046_coperform",      # plays.coperform: the co-performer mode and follow a play ran with
    "049_scores",         # scores a take was recorded from, and where its first event was meant
    "052_take_gaps",      # takes.gap_frames: missed stream cycles, filled with silence
    "053_clip_channels_augment",  # dataset clips: the input channels kept, augmentation made
    "054_marker_journal_ids",  # markers.journal_id: a journalled tag is stored once, however often replayed
    "057_journalled_edits",  # journalled undo/redo applied, so a replayed journal undoes nothing twice
    "058_play_input_delay",  # plays.input_delay_samples: the performer take written as late as the model answers
)


def script(name: str) -> str:
    """The SQL of one migration, from rehearsal/store/sql/<name>.sql."""
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the names applied."""
    conn = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for name in MIGRATIONS:
        if conn.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
            continue
        sql = script(name)
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
