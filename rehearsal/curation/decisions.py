"""Keep / drop decisions made while reviewing, applied by the `manual` step.

A decision covers a region of a take (usually exactly a clip one listened to). Decisions
are never removed, only tombstoned, so a dataset's removal log can always name the one it
followed ("dropped by ana while reviewing (decision #4)").
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from ..store.clock import utc_now

DECISIONS = ("keep", "drop")


@dataclass(frozen=True)
class Decision:
    id: int
    take_id: int
    start: int
    end: int
    decision: str
    who: str
    note: str | None
    created_at: str


def decide(db: sqlite_utils.Database, *, take_id: int, start: int, end: int, decision: str, who: str,
           note: str | None = None) -> int:
    if decision not in DECISIONS:
        raise ValueError(f"a decision is keep or drop, got {decision!r}")
    if not (who or "").strip():
        raise ValueError("say who decided")
    if not 0 <= start < end:
        raise ValueError(f"a decision needs a region: 0 <= start < end, got {start}-{end}")
    frames = db.execute("SELECT frames FROM takes WHERE id = ?", [take_id]).fetchone()
    if frames is None:
        raise LookupError(f"no take with id {take_id}")
    if end > frames[0]:
        raise ValueError(f"region ends at {end}, after the take's last sample ({frames[0]})")
    return db.execute(
        "INSERT INTO curation_decisions (take_id, start_sample, end_sample, decision, who, note, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", [take_id, int(start), int(end), decision, who.strip(), note, utc_now()]
    ).lastrowid


def decide_clips(db: sqlite_utils.Database, clips: list[dict], *, decision: str, who: str,
                 note: str | None = None) -> list[int]:
    """One decision per clip (dicts with take_id, start_sample, end_sample: a map's points),
    in one transaction: a region selected on the map is kept or dropped as a whole.
    Reversible: `withdraw` each returned id."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        ids = [decide(db, take_id=c["take_id"], start=c["start_sample"], end=c["end_sample"], decision=decision,
                      who=who, note=note) for c in clips]
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
    return ids


def withdraw(db: sqlite_utils.Database, decision_id: int) -> None:
    db.execute("UPDATE curation_decisions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
               [utc_now(), decision_id])


def decisions_for_take(db: sqlite_utils.Database, take_id: int) -> list[Decision]:
    return [Decision(*r) for r in db.execute(
        """SELECT id, take_id, start_sample, end_sample, decision, who, note, created_at
           FROM curation_decisions WHERE take_id = ? AND deleted_at IS NULL ORDER BY id""", [take_id])]
