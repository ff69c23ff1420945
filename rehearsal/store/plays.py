"""Plays: the two takes of a play, what was heard when, what went wrong (store/sql/030_play.sql).

Every write of the play room goes through these; frames are frames of both takes.
`generation_id` may be None (dry) or a negative id from the engine (a model file that is
no generation): both are stored as NULL.
"""

from __future__ import annotations

import json

import sqlite_utils

from .clock import utc_now


def _gen(generation_id: int | None) -> int | None:
    return generation_id if generation_id and generation_id > 0 else None


def create_play(db: sqlite_utils.Database, *, session_id: int, input_take_id: int, output_take_id: int,
                latency_samples: int, block_samples: int, fade_ms: float, fade_curve: str, dry_wet: float,
                input_gain: float, device: str, engine_pid: int | None, coperform: dict | None = None) -> int:
    cur = db.execute(
        """INSERT INTO plays (session_id, input_take_id, output_take_id, latency_samples, block_samples,
               fade_ms, fade_curve, dry_wet, input_gain, device, engine_pid, started_at, coperform)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [session_id, input_take_id, output_take_id, latency_samples, block_samples, fade_ms, fade_curve, dry_wet,
         input_gain, device, engine_pid, utc_now(), json.dumps(coperform) if coperform else None])
    return cur.lastrowid


def set_input_delay(db: sqlite_utils.Database, play_id: int, samples: int) -> None:
    """The performer take is the input written `samples` late (store/sql/058_play_input_delay.sql)."""
    db.execute("UPDATE plays SET input_delay_samples = ? WHERE id = ?", [int(samples), play_id])


def end_play(db: sqlite_utils.Database, play_id: int, *, glitches: int | None = None,
             stats: dict | None = None) -> None:
    if glitches is None and stats is None:
        db.execute("UPDATE plays SET ended_at = ? WHERE id = ?", [utc_now(), play_id])
    else:
        db.execute("UPDATE plays SET ended_at = ?, glitches = ?, stats_json = ? WHERE id = ?",
                   [utc_now(), glitches, json.dumps(stats or {}), play_id])


def add_model(db: sqlite_utils.Database, play_id: int, generation_id: int | None, start_frame: int | None, *,
              reason: str, fade_frames: int | None = None, warm_frame: int | None = None) -> None:
    """What plays from `start_frame`: a generation fading in, or dry (None)."""
    if fade_frames is None:
        db.execute("INSERT INTO play_models (play_id, generation_id, start_frame, reason, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", [play_id, _gen(generation_id), start_frame, reason, utc_now()])
    else:
        db.execute("INSERT INTO play_models (play_id, generation_id, start_frame, fade_frames, warm_frame, "
                   "reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [play_id, _gen(generation_id), start_frame, fade_frames, warm_frame, reason, utc_now()])


def add_event(db: sqlite_utils.Database, play_id: int, kind: str, *, frame: int | None = None,
              generation_id: int | None = None, detail: str = "") -> None:
    db.execute("INSERT INTO play_events (play_id, frame, kind, generation_id, detail, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", [play_id, frame, kind, _gen(generation_id), detail, utc_now()])


def count_model_error(db: sqlite_utils.Database, play_id: int) -> None:
    db.execute("UPDATE plays SET model_errors = model_errors + 1 WHERE id = ?", [play_id])


def get_play(db: sqlite_utils.Database, play_id: int) -> dict:
    return next(iter(db.query("SELECT * FROM plays WHERE id = ?", [play_id])))


def play_takes(db: sqlite_utils.Database, play_id: int) -> tuple[int, int]:
    r = db.execute("SELECT input_take_id, output_take_id FROM plays WHERE id = ?", [play_id]).fetchone()
    return r[0], r[1]


def recorded_walk(db: sqlite_utils.Database, take_id: int) -> tuple[int, list[tuple[int, float, float, float]]]:
    """The XY pad's walk recorded with a play (its `xy` events), found by either of the
    play's takes: (play id, [(take frame, x, y, glide seconds), ...] in the order played)."""
    row = db.execute("SELECT id FROM plays WHERE input_take_id = ? OR output_take_id = ? ORDER BY id DESC LIMIT 1",
                     [take_id, take_id]).fetchone()
    if row is None:
        raise LookupError(f"take {take_id} is not a take of a play: there is no walk to replay")
    walk = []
    for event_id, frame, detail in db.execute(
            "SELECT id, frame, detail FROM play_events WHERE play_id = ? AND kind = 'xy' ORDER BY frame, id", [row[0]]):
        try:
            x, y, glide = (float(v) for v in (detail or "").split())
        except ValueError:
            raise LookupError(f"play {row[0]}, event {event_id}: {detail!r} is not 'x y glide'") from None
        walk.append((int(frame or 0), x, y, glide))
    if not walk:
        raise LookupError(f"play {row[0]} (take {take_id}) has no XY walk recorded")
    return row[0], walk
