"""Generations: each trained model, its lineage, checkpoints, notes, and the current choice.

Plain SQL over the tables of store/sql/020_generations.sql; no torch. These functions are
the library API the CLI and the TUI's models screen use.
"""

from __future__ import annotations

import dataclasses

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from ..launch import process_alive
from ..store.clock import utc_now
from .spec import RunSpec

STATUSES = ("queued", "running", "complete", "cancelled", "failed")


class GenerationNotFound(LookupError):
    pass


@contextmanager
def _tx(db: sqlite_utils.Database):
    """One write transaction (the connection is in autocommit mode otherwise)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def name_of(gen_id: int) -> str:
    return f"g{gen_id}"


def _row(db: sqlite_utils.Database, gen_id: int) -> dict:
    rows = list(db.query("SELECT * FROM generations WHERE id = ?", [gen_id]))
    if not rows:
        raise GenerationNotFound(f"no generation g{gen_id}")
    return _decode(rows[0])


def _decode(row: dict) -> dict:
    row = dict(row)
    row["name"] = name_of(row["id"])
    row["metrics"] = json.loads(row.get("metrics_json") or "{}")
    row["symbols"] = json.loads(row["symbols_json"]) if row.get("symbols_json") else None
    return row


def create_generation(db: sqlite_utils.Database, spec: RunSpec, *, dataset_ref: str, dataset_version_id: int | None,
                      dataset_folder: str, dataset_hash: str, batch: str | None = None,
                      device: str | None = None) -> int:
    with _tx(db):
        cur = db.execute(
            """INSERT INTO generations (label, parent_id, family, strategy, spec_json, seed, dataset_ref,
                   dataset_version_id, dataset_folder, dataset_hash, symbols_json, batch, status, device,
                   folder, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, '', ?)""",
            [spec.label, spec.parent_id if spec.init != "scratch" else None, spec.family, spec.strategy,
             spec.to_json(), spec.seed, dataset_ref, dataset_version_id, dataset_folder, dataset_hash,
             json.dumps(spec.symbols, ensure_ascii=False) if spec.symbols else None, batch, device, utc_now()])
        gen_id = cur.lastrowid
        db.execute("UPDATE generations SET folder = ? WHERE id = ?", [f"models/g{gen_id:04d}", gen_id])
    return gen_id


def get_generation(db: sqlite_utils.Database, ref) -> dict:
    """By id (7), name (g7), "current" or "current:<scope>"."""
    text = str(ref).strip()
    if text == "current" or text.startswith("current:"):
        scope = text.partition(":")[2]
        cur = current_generation(db, scope)
        if cur is None:
            raise GenerationNotFound("no current generation yet" + (f" for {scope!r}" if scope else "")
                                     + ": choose one with `rehearsal model set-current GEN`")
        return cur
    if text[:1] in ("g", "G"):
        text = text[1:]
    if not text.isdigit():
        raise GenerationNotFound(f"{ref!r} is not a generation (use g7, 7 or current)")
    return _row(db, int(text))


def spec_of(row: dict) -> RunSpec:
    return RunSpec.from_json(row["spec_json"])


def list_generations(db: sqlite_utils.Database, status: str | None = None) -> list[dict]:
    sql, args = "SELECT * FROM generations", []
    if status:
        sql, args = sql + " WHERE status = ?", [status]
    return [_decode(r) for r in db.query(sql + " ORDER BY id", args)]


@dataclass
class LineageNode:
    generation: dict
    children: list["LineageNode"] = field(default_factory=list)


def lineage_tree(db: sqlite_utils.Database) -> list[LineageNode]:
    """Roots (trained from scratch) with their descendants, oldest first."""
    nodes = {g["id"]: LineageNode(g) for g in list_generations(db)}
    roots = []
    for node in nodes.values():
        parent = node.generation["parent_id"]
        (nodes[parent].children if parent in nodes else roots).append(node)
    return roots


def ancestry(db: sqlite_utils.Database, ref) -> list[dict]:
    """The generation and its ancestors, newest first."""
    out, seen = [], set()
    g = get_generation(db, ref)
    while g is not None and g["id"] not in seen:
        out.append(g)
        seen.add(g["id"])
        g = _row(db, g["parent_id"]) if g["parent_id"] else None
    return out


# -- the run's life --------------------------------------------------------------------

def mark_running(db: sqlite_utils.Database, gen_id: int, pid: int) -> None:
    with _tx(db):
        db.execute("UPDATE generations SET status = 'running', pid = ?, error = NULL, "
                   "started_at = COALESCE(started_at, ?), ended_at = NULL WHERE id = ?", [pid, utc_now(), gen_id])


def set_max_steps(db: sqlite_utils.Database, gen_id: int, max_steps: int) -> RunSpec:
    """A new step budget for a resumed run (`train --resume G --steps N`), kept in its spec."""
    spec = dataclasses.replace(spec_of(get_generation(db, gen_id)), max_steps=int(max_steps))
    with _tx(db):
        db.execute("UPDATE generations SET spec_json = ? WHERE id = ?", [spec.to_json(), gen_id])
    return spec


def update_metrics(db: sqlite_utils.Database, gen_id: int, metrics: dict) -> None:
    with _tx(db):
        db.execute("UPDATE generations SET metrics_json = ? WHERE id = ?", [json.dumps(metrics), gen_id])


def mark_finished(db: sqlite_utils.Database, gen_id: int, status: str, *, metrics: dict | None = None,
                  error: str | None = None, checkpoint_id: int | None = None) -> None:
    if status not in ("complete", "cancelled", "failed"):
        raise ValueError(status)
    with _tx(db):
        db.execute("UPDATE generations SET status = ?, error = ?, ended_at = ?, pid = NULL, "
                   "metrics_json = COALESCE(?, metrics_json), checkpoint_id = COALESCE(?, checkpoint_id) WHERE id = ?",
                   [status, error, utc_now(), json.dumps(metrics) if metrics is not None else None,
                    checkpoint_id, gen_id])


def _alive(pid: int | None) -> bool:
    return process_alive(pid)


def reconcile(db: sqlite_utils.Database) -> list[int]:
    """Runs marked running whose process is gone (killed, machine off): mark them cancelled,
    which is resumable. Returns their ids."""
    gone = [r["id"] for r in db.query("SELECT id, pid FROM generations WHERE status = 'running'")
            if not _alive(r["pid"])]
    for gen_id in gone:
        mark_finished(db, gen_id, "cancelled", error="the training process ended without finishing")
    return gone


# -- checkpoints -------------------------------------------------------------------------

def record_checkpoint(db: sqlite_utils.Database, gen_id: int, *, kind: str, step: int, elapsed_s: float,
                      path: str, train_loss: float | None, val_loss: float | None,
                      previews: str | None) -> int:
    """Insert, or for the one 'best' checkpoint of a convergent run, replace."""
    with _tx(db):
        if kind == "best":
            db.execute("DELETE FROM generation_checkpoints WHERE generation_id = ? AND kind = 'best'", [gen_id])
        cur = db.execute(
            """INSERT INTO generation_checkpoints (generation_id, kind, step, elapsed_s, path, train_loss, val_loss,
                   previews, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [gen_id, kind, step, elapsed_s, path, train_loss, val_loss, previews, utc_now()])
        return cur.lastrowid


def list_checkpoints(db: sqlite_utils.Database, gen_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM generation_checkpoints WHERE generation_id = ? ORDER BY step, id", [gen_id]))


def checkpoint_for(db: sqlite_utils.Database, generation: dict, step: int | None = None) -> dict:
    """The checkpoint a generation plays (its best or final one), or the one at `step`."""
    rows = list_checkpoints(db, generation["id"])
    if not rows:
        raise GenerationNotFound(f"{generation['name']} has no checkpoint yet (status {generation['status']})")
    if step is not None:
        for r in rows:
            if r["step"] == step:
                return r
        raise GenerationNotFound(f"{generation['name']} has no checkpoint at step {step}; "
                                 f"steps: {', '.join(str(r['step']) for r in rows)}")
    for r in rows:
        if r["id"] == generation.get("checkpoint_id"):
            return r
    return rows[-1]


# -- current ------------------------------------------------------------------------------

def current_generation(db: sqlite_utils.Database, scope: str = "") -> dict | None:
    rows = list(db.query("SELECT generation_id FROM current_models WHERE scope = ? ORDER BY id DESC LIMIT 1", [scope]))
    return _row(db, rows[0]["generation_id"]) if rows else None


def set_current(db: sqlite_utils.Database, ref, *, by: str | None = None, scope: str = "") -> dict:
    g = get_generation(db, ref)
    if g["status"] != "complete":
        raise ValueError(f"{g['name']} is {g['status']}: only a complete generation can be current")
    with _tx(db):
        db.execute("INSERT INTO current_models (scope, generation_id, set_by, set_at) VALUES (?, ?, ?, ?)",
                   [scope, g["id"], by, utc_now()])
    return g


def current_history(db: sqlite_utils.Database, scope: str = "") -> list[dict]:
    return list(db.query("SELECT * FROM current_models WHERE scope = ? ORDER BY id DESC", [scope]))


def go_back(db: sqlite_utils.Database, *, by: str | None = None, scope: str = "") -> dict:
    """Make current again the generation that was current before the present one."""
    history = current_history(db, scope)
    if not history:
        raise GenerationNotFound("no current generation yet")
    present = history[0]["generation_id"]
    for row in history[1:]:
        if row["generation_id"] != present:
            return set_current(db, row["generation_id"], by=by, scope=scope)
    raise GenerationNotFound(f"g{present} is the only generation ever made current: nothing to go back to")


# -- notes ----------------------------------------------------------------------------------

def add_note(db: sqlite_utils.Database, ref, *, text: str | None = None, symbol: str | None = None,
             who: str | None = None) -> int:
    if not (text or symbol):
        raise ValueError("a note needs text or a symbol")
    g = get_generation(db, ref)
    with _tx(db):
        cur = db.execute("INSERT INTO generation_notes (generation_id, symbol, text, who, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", [g["id"], symbol, text, who, utc_now()])
    return cur.lastrowid


def notes(db: sqlite_utils.Database, gen_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM generation_notes WHERE generation_id = ? AND deleted_at IS NULL "
                         "ORDER BY id", [gen_id]))


def delete_note(db: sqlite_utils.Database, note_id: int) -> None:
    with _tx(db):
        db.execute("UPDATE generation_notes SET deleted_at = ? WHERE id = ?", [utc_now(), note_id])


def terrain_path(ws, gen: dict) -> Path:
    """Where a generation's XY terrain (rehearsal model terrain) lives, beside its model. Here,
    not in training/terrain.py, so the play room can look for one without importing torch."""
    return ws.resolve(gen["folder"]) / "terrain.ts"
