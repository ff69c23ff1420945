"""Label a take recorded from a score: each sounding event becomes a marker with its region,
aligned to the performance (rehearsal.scores.align), source `score`, who = the score's author.

The markers are ordinary markers: Review shows and corrects them like any other, and tags
tapped during the take sit beside them. Labelling runs once, after the take is finished; a
take already labelled is left alone (its markers may have been corrected since)."""

from __future__ import annotations

import logging

from ..store.clock import utc_now
from ..store.markers import insert_marker

log = logging.getLogger(__name__)
SOURCE = "score"


def store_score(db, score) -> int:
    """The scores row for this text (one per distinct text)."""
    row = db.execute("SELECT id FROM scores WHERE sha256 = ?", [score.sha256]).fetchone()
    if row:
        return row[0]
    with db.conn:
        cur = db.execute("INSERT INTO scores (sha256, title, author, source, text, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [score.sha256, score.title, score.author, score.source, score.text, utc_now()])
    return cur.lastrowid


def attach_score(db, take_id: int, score, origin_sample: int) -> None:
    """Record, before any audio is labelled, which score the take follows and where it starts."""
    score_id = store_score(db, score)
    with db.conn:
        db.execute("UPDATE takes SET score_id = ?, score_origin_sample = ? WHERE id = ?",
                   [score_id, int(origin_sample), take_id])


def label_take(ws, db, take_id: int, score, fd=None) -> list[int]:
    """Insert the score's markers for a finished take; their ids. Idempotent."""
    from ..curation.descriptors import take_descriptors
    from .align import align

    take = next(iter(db.query("SELECT * FROM takes WHERE id = ?", [take_id])), None)
    if take is None:
        raise LookupError(f"no take with id {take_id}")
    if db.execute("SELECT 1 FROM markers WHERE take_id = ? AND source = ? LIMIT 1", [take_id, SOURCE]).fetchone():
        return []
    origin = take.get("score_origin_sample")
    if origin is None:
        raise ValueError(f"take #{take_id} was not recorded from a score")
    fd = fd or take_descriptors(ws, db, take)
    events = {e.index: e for e in score.events}
    ids = []
    who = score.author or "score"
    with db.conn:
        for a in align(score, fd, int(origin)):
            if a.start >= take["frames"]:
                break        # the take stopped before this event
            e = events[a.index]
            note = f"score {score.title!r}, event {e.index + 1} (line {e.line})"
            if e.dynamic:
                note += f", {e.dynamic}"
            if e.cue:
                note += f": {e.cue}"
            ids.append(insert_marker(db, take_id=take_id, symbol=e.symbol, glyph=e.glyph, tap_sample=a.start,
                                     start_sample=a.start, end_sample=min(a.end, take["frames"]), who=who,
                                     source=SOURCE, gesture="score", note=note[:500]))
    log.info("take #%s: %d markers from score %r", take_id, len(ids), score.title)
    return ids
