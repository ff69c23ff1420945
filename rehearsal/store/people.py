"""People, and which sources (a pedal's MIDI port, a phone's address, the keyboard) are whose.

Unmapped sources are named by their device, so a tag always says who or what made it.
"""

from __future__ import annotations

import sqlite_utils


def map_source(db: sqlite_utils.Database, source: str, person: str) -> int:
    """Say that `source` ('midi:<port>', 'midi:<port>/ch<N>', 'osc:<ip>', 'who:<name>', 'key') is `person`."""
    person = person.strip()
    if not person:
        raise ValueError("a person needs a name")
    db.execute("INSERT OR IGNORE INTO people (name) VALUES (?)", [person])
    pid = db.execute("SELECT id FROM people WHERE name = ?", [person]).fetchone()[0]
    db.execute("INSERT OR REPLACE INTO person_sources (source, person_id) VALUES (?, ?)", [source, pid])
    return pid


def source_map(db: sqlite_utils.Database) -> dict[str, tuple[int, str]]:
    return {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT ps.source, p.id, p.name FROM person_sources ps JOIN people p ON p.id = ps.person_id")}


def resolve_person(mapping: dict[str, tuple[int, str]], source: str, who: str | None,
                   channel: int | None = None) -> tuple[int | None, str]:
    """(person_id, display name) for a tag, most specific mapping first."""
    candidates = []
    if who:
        candidates.append(f"who:{who}")
    if channel is not None:
        candidates.append(f"{source}/ch{channel + 1}")
    candidates.append(source)
    for c in candidates:
        if c in mapping:
            return mapping[c]
    return None, (who or source)


def withdraw(db: sqlite_utils.Database, person: str, by: str) -> None:
    """Record that `person` withdrew: their tags leave every future dataset version."""
    person = person.strip()
    if not person:
        raise ValueError("a person needs a name")
    if person in withdrawn(db):
        raise ValueError(f"{person} has already withdrawn")
    db.execute("INSERT INTO person_withdrawals (person, withdrawn_at, withdrawn_by) "
               "VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ'), ?)", [person, by])
    db.conn.commit()


def undo_withdraw(db: sqlite_utils.Database, person: str, by: str) -> None:
    """Undo a withdrawal (kept in the log, with who undid it and when)."""
    if person not in withdrawn(db):
        raise ValueError(f"{person} has not withdrawn")
    db.execute("UPDATE person_withdrawals SET undone_at = strftime('%Y-%m-%dT%H:%M:%fZ'), undone_by = ? "
               "WHERE person = ? AND undone_at IS NULL", [by, person])
    db.conn.commit()


def withdrawn(db: sqlite_utils.Database) -> dict[str, str]:
    """Who has withdrawn now -> when."""
    if not db["person_withdrawals"].exists():
        return {}
    return {r[0]: r[1] for r in db.execute(
        "SELECT person, withdrawn_at FROM person_withdrawals WHERE undone_at IS NULL")}


def trained_on(db: sqlite_utils.Database, person: str) -> list[tuple[int, str, str]]:
    """(id, label, dataset) of the generations already trained on a dataset version holding a
    clip `person` tagged (named in the clip, or the maker of one of its markers). Withdrawing
    does not untrain them: the collective decides what to do with each."""
    return [(r[0], r[1], r[2]) for r in db.execute(
        """SELECT g.id, g.label, g.dataset_ref FROM generations g WHERE EXISTS (
               SELECT 1 FROM dataset_clips c WHERE c.version_id = g.dataset_version_id AND (
                   EXISTS (SELECT 1 FROM json_each(c.who_json) j WHERE j.value = ?)
                   OR EXISTS (SELECT 1 FROM json_each(c.marker_ids_json) m JOIN markers k ON k.id = m.value
                              WHERE k.who = ?)))
           ORDER BY g.id""", [person, person])]
