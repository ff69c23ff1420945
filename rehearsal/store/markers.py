"""Markers (tags) and their edit log.

A marker is never removed: deleting sets `deleted_at` (a tombstone). Every change is a row
in `marker_edits`, so undo and redo work from any process and survive a restart:
undo reverts the newest live edit in a scope; redo re-applies the newest undone one,
as long as no new edit was made in that scope since.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import sqlite_utils

from .clock import utc_now

EDITABLE = ("symbol", "glyph", "tap_sample", "start_sample", "end_sample", "note", "who", "person_id")


@dataclass(frozen=True)
class Marker:
    id: int
    take_id: int
    symbol: str
    glyph: str
    tap_sample: int
    start_sample: int
    end_sample: int
    who: str
    source: str
    gesture: str
    created_at: str
    person_id: int | None = None
    note: str | None = None
    deleted_at: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


_COLUMNS = [f for f in Marker.__dataclass_fields__]


def _row_to_marker(row: dict) -> Marker:
    return Marker(**{k: row[k] for k in _COLUMNS})


def get_marker(db: sqlite_utils.Database, marker_id: int) -> Marker:
    rows = list(db.query(f"SELECT {', '.join(_COLUMNS)} FROM markers WHERE id = ?", [marker_id]))
    if not rows:
        raise LookupError(f"no marker with id {marker_id}")
    return _row_to_marker(rows[0])


def get_markers(db: sqlite_utils.Database, marker_ids: list[int]) -> list[Marker]:
    """Markers by id, in the order given, a few queries for many (the bus acknowledges a
    batch of hundreds at once)."""
    found: dict[int, Marker] = {}
    ids = list(marker_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in db.query(f"SELECT {', '.join(_COLUMNS)} FROM markers WHERE id IN ({', '.join('?' * len(chunk))})",
                          chunk):
            found[r["id"]] = _row_to_marker(r)
    missing = [i for i in ids if i not in found]
    if missing:
        raise LookupError(f"no marker with id {missing[0]}")
    return [found[i] for i in ids]


def list_markers(db: sqlite_utils.Database, take_id: int, include_deleted: bool = False) -> list[Marker]:
    where = "" if include_deleted else " AND deleted_at IS NULL"
    return [_row_to_marker(r) for r in db.query(
        f"SELECT {', '.join(_COLUMNS)} FROM markers WHERE take_id = ?{where} ORDER BY tap_sample, id", [take_id])]


def _log(db, marker_id: int, action: str, before: dict | None, after: dict | None, by: str | None) -> None:
    db.execute(
        "INSERT INTO marker_edits (marker_id, action, before_json, after_json, by, at) VALUES (?, ?, ?, ?, ?, ?)",
        [marker_id, action, json.dumps(before, ensure_ascii=False) if before else None,
         json.dumps(after, ensure_ascii=False) if after else None, by, utc_now()],
    )


def insert_marker(db: sqlite_utils.Database, *, take_id: int, symbol: str, glyph: str, tap_sample: int,
                  start_sample: int, end_sample: int, who: str, source: str, gesture: str = "tap",
                  person_id: int | None = None, note: str | None = None, by: str | None = None,
                  journal_id: str | None = None) -> int:
    """Insert and log. The caller owns the transaction (the bus batches several).
    A tag with a `journal_id` that is stored already is not stored again: its id is returned."""
    if journal_id is not None:
        row = db.execute("SELECT id FROM markers WHERE journal_id = ?", [journal_id]).fetchone()
        if row is not None:
            return row[0]
    cur = db.execute(
        """INSERT INTO markers (take_id, symbol, glyph, tap_sample, start_sample, end_sample, who,
                                person_id, source, gesture, note, created_at, journal_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [take_id, symbol, glyph, tap_sample, start_sample, end_sample, who, person_id, source, gesture,
         note, utc_now(), journal_id],
    )
    _log(db, cur.lastrowid, "create", None, {"symbol": symbol}, by or who)
    return cur.lastrowid


def update_marker(db: sqlite_utils.Database, marker_id: int, by: str | None = None, **changes) -> Marker:
    """Re-tag, nudge, trim, annotate. Only EDITABLE fields; the region must stay ordered."""
    bad = set(changes) - set(EDITABLE)
    if bad:
        raise ValueError(f"cannot edit {', '.join(sorted(bad))}")
    before = get_marker(db, marker_id).as_dict()
    after = {**before, **changes}
    if not after["start_sample"] <= after["end_sample"]:
        raise ValueError("a region's start must not be after its end")
    with db.conn:
        db.execute(f"UPDATE markers SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                   [*changes.values(), marker_id])
        _log(db, marker_id, "update", {k: before[k] for k in changes}, changes, by)
    return get_marker(db, marker_id)


def delete_marker(db: sqlite_utils.Database, marker_id: int, by: str | None = None) -> None:
    with db.conn:
        db.execute("UPDATE markers SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", [utc_now(), marker_id])
        _log(db, marker_id, "delete", None, None, by)


def _scope(take_id: int | None, by: str | None) -> tuple[str, list]:
    clauses, args = [], []
    if take_id is not None:
        clauses.append("m.take_id = ?")
        args.append(take_id)
    if by is not None:
        clauses.append("e.by = ?")
        args.append(by)
    return (" AND " + " AND ".join(clauses)) if clauses else "", args


def _apply(db, marker_id: int, action: str, before: dict | None, after: dict | None, reverse: bool) -> None:
    if action in ("create", "restore"):
        value = utc_now() if reverse else None
        db.execute("UPDATE markers SET deleted_at = ? WHERE id = ?", [value, marker_id])
    elif action == "delete":
        value = None if reverse else utc_now()
        db.execute("UPDATE markers SET deleted_at = ? WHERE id = ?", [value, marker_id])
    elif action == "update":
        values = before if reverse else after
        db.execute(f"UPDATE markers SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                   [*values.values(), marker_id])


def undo(db: sqlite_utils.Database, take_id: int | None = None, by: str | None = None) -> Marker | None:
    """Revert the newest live edit in scope (a take, and/or one person's edits). Returns the marker."""
    return _own_transaction(db, apply_undo, take_id, by)


def redo(db: sqlite_utils.Database, take_id: int | None = None, by: str | None = None) -> Marker | None:
    """Re-apply the newest undone edit in scope, unless a new edit was made there since."""
    return _own_transaction(db, apply_redo, take_id, by)


def _own_transaction(db, step, take_id, by) -> Marker | None:
    db.conn.execute("BEGIN IMMEDIATE")     # the edit chosen is the one changed: no writer in between
    try:
        marker_id = step(db, take_id, by)
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    return get_marker(db, marker_id) if marker_id is not None else None


def apply_undo(db: sqlite_utils.Database, take_id: int | None = None, by: str | None = None) -> int | None:
    """`undo` inside the caller's transaction (the marker bus replays a journal of tags and
    undos in one). Returns the id of the marker changed, or None when there is nothing to undo."""
    where, args = _scope(take_id, by)
    row = db.execute(
        f"""SELECT e.id, e.marker_id, e.action, e.before_json, e.after_json FROM marker_edits e
            JOIN markers m ON m.id = e.marker_id WHERE e.undone_at IS NULL{where}
            ORDER BY e.id DESC LIMIT 1""", args).fetchone()
    if row is None:
        return None
    edit_id, marker_id, action, before, after = row
    _apply(db, marker_id, action, json.loads(before or "null"), json.loads(after or "null"), reverse=True)
    db.execute(
        """UPDATE marker_edits SET undone_at = ?,
               undo_order = (SELECT COALESCE(MAX(undo_order), 0) + 1 FROM marker_edits),
               edits_at_undo = (SELECT MAX(id) FROM marker_edits) WHERE id = ?""", [utc_now(), edit_id])
    return marker_id


def apply_redo(db: sqlite_utils.Database, take_id: int | None = None, by: str | None = None) -> int | None:
    """`redo` inside the caller's transaction. Returns the id of the marker changed, or None."""
    where, args = _scope(take_id, by)
    row = db.execute(
        f"""SELECT e.id, e.marker_id, e.action, e.before_json, e.after_json, e.edits_at_undo FROM marker_edits e
            JOIN markers m ON m.id = e.marker_id WHERE e.undone_at IS NOT NULL{where}
            ORDER BY e.undo_order DESC LIMIT 1""", args).fetchone()
    if row is None:
        return None
    edit_id, marker_id, action, before, after, edits_at_undo = row
    newer = db.execute(
        f"""SELECT 1 FROM marker_edits e JOIN markers m ON m.id = e.marker_id
            WHERE e.undone_at IS NULL AND e.id > ?{where} LIMIT 1""", [edits_at_undo, *args]).fetchone()
    if newer:
        return None  # a new edit since the undo: the redo history is gone, as in any editor
    _apply(db, marker_id, action, json.loads(before or "null"), json.loads(after or "null"), reverse=False)
    db.execute("UPDATE marker_edits SET undone_at = NULL, undo_order = NULL, edits_at_undo = NULL WHERE id = ?",
               [edit_id])
    return marker_id


EDIT_STEPS = {"undo": apply_undo, "redo": apply_redo}


def apply_journalled_edit(db: sqlite_utils.Database, journal_id: str, action: str, take_id: int,
                          by: str | None) -> tuple[bool, int | None]:
    """A journalled undo or redo, inside the caller's transaction, applied once however often
    its journal is replayed: (applied now, marker id changed or None)."""
    row = db.execute("SELECT marker_id FROM journalled_edits WHERE journal_id = ?", [journal_id]).fetchone()
    if row is not None:
        return False, row[0]
    marker_id = EDIT_STEPS[action](db, take_id, by)
    db.execute("INSERT INTO journalled_edits (journal_id, action, marker_id, applied_at) VALUES (?, ?, ?, ?)",
               [journal_id, action, marker_id, utc_now()])
    return True, marker_id
