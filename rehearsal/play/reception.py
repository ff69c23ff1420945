"""How each generation was received in play: the tags made while it was heard.

A tag is credited to the generation heard when it was tapped (the fade's middle is the
boundary between two). Deleted tags do not count; an undone tag is deleted. Read by the
models screen and `rehearsal play reception`.
"""

from __future__ import annotations

import json

import sqlite_utils


def setting_label(coperform: str | None, follow: str | float | None = None) -> str:
    """How a play's model took part: "transform", "call-response", "accompany follow 0.5";
    `follow`: the value a live change set (a `follow` play event), else the play's own."""
    if not coperform:
        return "transform"
    c = json.loads(coperform)
    if c["mode"] != "accompany":
        return c["mode"]
    return f"{c['mode']} follow {float(c.get('follow', 0.5) if follow is None else follow):g}"


def reception(db: sqlite_utils.Database, generation_id: int) -> dict:
    """{"generation_id", "plays", "seconds" (heard), "tags": {symbol: {"glyph", "count"}}, "who": {name: count},
    "settings": {setting: {symbol: count}}} (the co-performer mode and follow in force when tagged)."""
    tags: dict[str, dict] = {}
    who: dict[str, int] = {}
    settings: dict[str, dict[str, int]] = {}
    # the follow in force at the tap: the last live change heard before it (OSC /rehearsal/play/follow)
    for r in db.query("SELECT r.symbol, r.glyph, r.who, p.coperform, "
                      "(SELECT e.detail FROM play_events e WHERE e.play_id = r.play_id AND e.kind = 'follow' "
                      " AND e.frame <= r.tap_sample ORDER BY e.frame DESC, e.id DESC LIMIT 1) AS follow "
                      "FROM play_reception r JOIN plays p ON p.id = r.play_id WHERE r.generation_id = ?",
                      [generation_id]):
        t = tags.setdefault(r["symbol"], {"glyph": r["glyph"], "count": 0})
        t["count"] += 1
        who[r["who"]] = who.get(r["who"], 0) + 1
        by = settings.setdefault(setting_label(r["coperform"], r["follow"]), {})
        by[r["symbol"]] = by.get(r["symbol"], 0) + 1
    heard = db.execute(
        """SELECT COUNT(DISTINCT s.play_id),
                  COALESCE(SUM((COALESCE(s.to_frame, t.frames) - s.from_frame) * 1.0 / t.sample_rate), 0)
           FROM play_segments s JOIN plays p ON p.id = s.play_id JOIN takes t ON t.id = p.input_take_id
           WHERE s.generation_id = ?""", [generation_id]).fetchone()
    return {"generation_id": generation_id, "plays": heard[0], "seconds": round(max(0.0, heard[1] or 0.0), 3),
            "tags": dict(sorted(tags.items(), key=lambda kv: -kv[1]["count"])), "who": who, "settings": settings}


def reception_all(db: sqlite_utils.Database) -> list[dict]:
    """`reception` for every generation ever played, oldest first."""
    ids = [r[0] for r in db.execute(
        "SELECT DISTINCT generation_id FROM play_models WHERE generation_id IS NOT NULL ORDER BY generation_id")]
    return [reception(db, i) for i in ids]


def plays_of(db: sqlite_utils.Database, session_id: int | None = None) -> list[dict]:
    """Plays with both takes' numbers and paths (for review and curation)."""
    sql = """SELECT p.*, ti.number AS input_take, ti.path AS input_path, to_.number AS output_take,
                    to_.path AS output_path, ti.frames AS frames, ti.sample_rate AS sample_rate
             FROM plays p JOIN takes ti ON ti.id = p.input_take_id JOIN takes to_ ON to_.id = p.output_take_id"""
    args: list = []
    if session_id is not None:
        sql += " WHERE p.session_id = ?"
        args.append(session_id)
    return list(db.query(sql + " ORDER BY p.id", args))


def stream_of_take(db: sqlite_utils.Database, take_id: int) -> str | None:
    """"performer", "model", or None for a take not recorded by play."""
    row = db.execute("SELECT CASE WHEN input_take_id = ? THEN 'performer' ELSE 'model' END FROM plays "
                     "WHERE input_take_id = ? OR output_take_id = ?", [take_id, take_id, take_id]).fetchone()
    return row[0] if row else None


def play_summary(db: sqlite_utils.Database, play_id: int) -> dict[int, str]:
    """One line per generation heard in a play: how long, and the tags made while it played."""
    play = db.execute("SELECT p.input_take_id, t.number, t.frames, t.sample_rate, s.name FROM plays p "
                      "JOIN takes t ON t.id = p.input_take_id JOIN sessions s ON s.id = p.session_id "
                      "WHERE p.id = ?", [play_id]).fetchone()
    if play is None:
        raise LookupError(f"no play with id {play_id}")
    _, number, frames, sr, session = play
    seconds: dict[int, float] = {}
    for gen, a, b in db.execute("SELECT generation_id, from_frame, to_frame FROM play_segments "
                                "WHERE play_id = ? AND generation_id IS NOT NULL", [play_id]):
        seconds[gen] = seconds.get(gen, 0.0) + max(0, min(b if b is not None else frames, frames) - a) / sr
    tags: dict[int, dict[str, list]] = {}
    for gen, symbol, glyph in db.execute("SELECT generation_id, symbol, glyph FROM play_reception WHERE play_id = ? "
                                         "ORDER BY tap_sample", [play_id]):
        t = tags.setdefault(gen, {}).setdefault(symbol, [glyph, 0])
        t[1] += 1
    out = {}
    for gen, secs in seconds.items():
        said = ", ".join(f"{glyph} {symbol} x{n}" for symbol, (glyph, n) in tags.get(gen, {}).items()) or "no tags"
        out[gen] = f"played {secs:.0f} s in {session!r} take {number}: {said}"
    return out
