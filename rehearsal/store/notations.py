"""Copies of notations as they were when used: editing a file later never rewrites history."""

from __future__ import annotations

import sqlite_utils

from ..notation import Notation, parse_notation
from .clock import utc_now


def store_notation(db: sqlite_utils.Database, notation: Notation) -> int:
    """Return the id of this exact notation text, storing a copy the first time it is seen."""
    row = db.execute("SELECT id FROM notations WHERE sha256 = ?", [notation.sha256]).fetchone()
    if row:
        return row[0]
    db.execute(
        "INSERT OR IGNORE INTO notations (name, sha256, source_path, toml, created_at) VALUES (?, ?, ?, ?, ?)",
        [notation.name, notation.sha256, notation.source, notation.text, utc_now()],
    )
    return db.execute("SELECT id FROM notations WHERE sha256 = ?", [notation.sha256]).fetchone()[0]


def load_stored_notation(db: sqlite_utils.Database, notation_id: int) -> Notation:
    row = db.execute("SELECT toml, source_path FROM notations WHERE id = ?", [notation_id]).fetchone()
    if row is None:
        raise KeyError(f"no notation with id {notation_id}")
    return parse_notation(row[0], f"{row[1] or 'stored'} (copy #{notation_id})")
