"""People, and which sources (a pedal's MIDI port, a phone's address, the keyboard) are whose.

Unmapped sources are named by their device, so a tag always says who or what made it.
What a person *played* is mapped the same way: `audio:<device>` (every take recorded from
that input device, as `takes.device` names it), `audio:<device>/ch<N>` (its input channel N,
from 1), `take:<session>/<number>` and `take:<session>/<number>/ch<N>` (one take); the most
specific mapping wins (`performers`).
"""

from __future__ import annotations

import sqlite_utils


SOURCE_KINDS = ("midi", "osc", "who", "key", "audio", "take")


def map_source(db: sqlite_utils.Database, source: str, person: str) -> int:
    """Say that `source` ('midi:<port>', 'midi:<port>/ch<N>', 'osc:<ip>', 'who:<name>', 'key';
    what they played: 'audio:<device>[/ch<N>]', 'take:<session>/<number>[/ch<N>]') is `person`."""
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


def performers(db: sqlite_utils.Database, take: dict, mapping: dict | None = None) -> list[str | None]:
    """Who played each input channel of `take` (a takes row), None where nobody is mapped:
    take:<session>/<number>/ch<N>, then take:<session>/<number>, audio:<device>/ch<N>, audio:<device>."""
    mapping = source_map(db) if mapping is None else mapping
    row = db.execute("SELECT name FROM sessions WHERE id = ?", [take["session_id"]]).fetchone()
    here = f"take:{row[0] if row else take['session_id']}/{take['number']}"
    device = f"audio:{take['device']}"
    out = []
    for ch in range(max(1, int(take["channels"]))):
        found = next((mapping[c][1] for c in (f"{here}/ch{ch + 1}", here, f"{device}/ch{ch + 1}", device)
                      if c in mapping), None)
        out.append(found)
    return out


def withdraw(db: sqlite_utils.Database, person: str, by: str) -> None:
    """Record that `person` withdrew: the tags they made, and the takes and input channels
    they played (`performers`), leave every future dataset version."""
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


def toggle_withdrawal(db: sqlite_utils.Database, person: str, by: str, undo: bool = False) -> None:
    """Withdraw `person` (or, with `undo`, bring them back): what the CLI and the TUI do."""
    (undo_withdraw if undo else withdraw)(db, person, by)


def withdrawal_text(db: sqlite_utils.Database, person: str, undone: bool) -> str:
    """What to tell whoever recorded it: the change, and the generations already trained on
    material the person tagged or played (they are not untrained: the collective decides)."""
    if undone:
        return f"{person}: withdrawal undone"
    lines = [f"{person} withdrew: their tags, takes and input channels leave every future dataset version"]
    already = trained_on(db, person)
    if already:
        lines.append(f"already trained on material {person} tagged or played ({len(already)}):")
        lines += [f"  g{gid:04d} {label} (dataset {ref})" for gid, label, ref in already]
    return "\n".join(lines)


def withdrawn(db: sqlite_utils.Database) -> dict[str, str]:
    """Who has withdrawn now -> when."""
    if not db["person_withdrawals"].exists():
        return {}
    return {r[0]: r[1] for r in db.execute(
        "SELECT person, withdrawn_at FROM person_withdrawals WHERE undone_at IS NULL")}


def people_known(db: sqlite_utils.Database) -> list[str]:
    """Everyone the workspace knows of: mapped people, who tagged, who withdrew."""
    names = {r[0] for r in db.execute("SELECT name FROM people")}
    names |= {r[0] for r in db.execute("SELECT DISTINCT who FROM markers WHERE deleted_at IS NULL")}
    if db["person_withdrawals"].exists():
        names |= {r[0] for r in db.execute("SELECT DISTINCT person FROM person_withdrawals")}
    return sorted(n for n in names if n)


def trained_on(db: sqlite_utils.Database, person: str) -> list[tuple[int, str, str]]:
    """(id, label, dataset) of the generations already trained on a dataset version holding a
    clip `person` tagged (named in the clip, or the maker of one of its markers) or played (a
    channel of its take that `performers` gives them, among those the clip kept). Withdrawing
    does not untrain them: the collective decides what to do with each."""
    tagged = _tagged_in(db, person)
    played = _played_in(db, person)
    gens = {r[0]: (r[0], r[1], r[2]) for r in db.execute(
        "SELECT id, label, dataset_ref, dataset_version_id FROM generations ORDER BY id")
        if r[0] in tagged or r[3] in played}
    return [gens[k] for k in sorted(gens)]


def _played_in(db: sqlite_utils.Database, person: str) -> set[int]:
    """Dataset versions holding a clip of a take channel `person` played."""
    import json

    mapping = source_map(db)
    if not any(name == person for _, name in mapping.values()):
        return set()
    out, by_take = set(), {}
    for vid, tid, channels in db.execute(
            "SELECT DISTINCT c.version_id, c.take_id, c.channels_json FROM dataset_clips c "
            "WHERE c.version_id IN (SELECT dataset_version_id FROM generations)"):
        if tid not in by_take:
            take = next(db.query("SELECT * FROM takes WHERE id = ?", [tid]), None)
            by_take[tid] = performers(db, take, mapping) if take else []
        who = by_take[tid]
        kept = json.loads(channels) if channels else range(len(who))
        if any(0 <= c < len(who) and who[c] == person for c in kept):
            out.add(vid)
    return out


def _tagged_in(db: sqlite_utils.Database, person: str) -> set[int]:
    """Generations trained on a version holding a clip `person` tagged."""
    return {r[0] for r in db.execute(
        """SELECT g.id, g.label, g.dataset_ref FROM generations g WHERE EXISTS (
               SELECT 1 FROM dataset_clips c WHERE c.version_id = g.dataset_version_id AND (
                   EXISTS (SELECT 1 FROM json_each(c.who_json) j WHERE j.value = ?)
                   OR EXISTS (SELECT 1 FROM json_each(c.marker_ids_json) m JOIN markers k ON k.id = m.value
                              WHERE k.who = ?)))
           ORDER BY g.id""", [person, person])}
