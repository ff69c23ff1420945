"""Tags land on both streams: each marker of a play's input take has a copy on its output take.

The marker bus commits tags to the input take (the performer's clock); `sync_mirrors`
then makes the output take's markers match: a copy for each new marker, the same
bounds, symbol and tombstone after an edit, undo or redo. It is idempotent and runs after
every bus commit during the play, when the play ends, and on recovery after a crash, so
a kill between a marker and its copy is repaired the next time. After the play the two
takes' markers are independent: editing one does not change the other.
"""

from __future__ import annotations

import sqlite_utils

from ..store.markers import insert_marker

SYNCED = ("symbol", "glyph", "tap_sample", "start_sample", "end_sample", "who", "person_id", "note", "deleted_at")


def sync_mirrors(db: sqlite_utils.Database, play_id: int) -> int:
    """Copy or update the output take's markers from the input take's. Returns rows changed."""
    play = db.execute("SELECT input_take_id, output_take_id FROM plays WHERE id = ?", [play_id]).fetchone()
    if play is None:
        raise LookupError(f"no play with id {play_id}")
    input_take, output_take = play
    cols = ", ".join(f"m.{c}" for c in SYNCED)
    rows = db.execute(
        f"""SELECT m.id, m.source, m.gesture, {cols}, l.mirror_id, {", ".join(f"c.{c}" for c in SYNCED)}
            FROM markers m LEFT JOIN play_marker_mirrors l ON l.marker_id = m.id
            LEFT JOIN markers c ON c.id = l.mirror_id
            WHERE m.take_id = ? ORDER BY m.id""", [input_take]).fetchall()
    n = len(SYNCED)
    changed = 0
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            marker_id, source, gesture = row[0], row[1], row[2]
            want = dict(zip(SYNCED, row[3:3 + n]))
            mirror_id = row[3 + n]
            have = row[4 + n:]
            if mirror_id is None:
                mirror_id = insert_marker(db, take_id=output_take, symbol=want["symbol"], glyph=want["glyph"],
                                          tap_sample=want["tap_sample"], start_sample=want["start_sample"],
                                          end_sample=want["end_sample"], who=want["who"], source=source,
                                          gesture=gesture, person_id=want["person_id"], note=want["note"])
                if want["deleted_at"]:
                    db.execute("UPDATE markers SET deleted_at = ? WHERE id = ?", [want["deleted_at"], mirror_id])
                db.execute("INSERT INTO play_marker_mirrors (marker_id, mirror_id) VALUES (?, ?)",
                           [marker_id, mirror_id])
                changed += 1
            elif tuple(have) != tuple(want.values()):
                db.execute(f"UPDATE markers SET {', '.join(f'{c} = ?' for c in SYNCED)} WHERE id = ?",
                           [*want.values(), mirror_id])
                changed += 1
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return changed
