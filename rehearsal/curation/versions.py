"""Datasets and their versions: committing a run, naming versions, reading them back.

A version is written in one transaction (see store/sql/010_datasets.sql) and is immutable
afterwards; a new run under the same name makes version N+1 whose parent is the latest one.
Going back is choosing an older version.

References ("refs"): "name" = latest version, "name@3" or "name/v3" = version 3, an
integer (or "#12") = the version's id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import sqlite_utils

from ..store.clock import utc_now
from .clips import Clip
from .run import CurationError, CurationRun, Removal

_REF = re.compile(r"^(?P<name>.+?)(?:@(?P<at>\d+)|/v(?P<v>\d+))?$")
_BAD_NAME = re.compile(r"[@/\\\x00-\x1f]")


class DatasetNotFound(LookupError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    id: int
    dataset: str
    number: int
    parent_id: int | None
    parent_ref: str | None
    pipeline_name: str
    pipeline_source: str | None
    pipeline_toml: str
    pipeline_sha256: str
    sessions: list
    takes: dict                  # take id (str) -> {"frames", "size"} when the version was made
    analysis_key: str
    clip_count: int
    total_s: float
    created_at: str
    created_by: str | None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"


@dataclass(frozen=True)
class StoredClip:
    """A clip of a version, with its position and descriptors."""

    id: int
    position: int
    clip: Clip
    descriptors: dict


def check_dataset_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValueError("a dataset needs a name")
    if _BAD_NAME.search(name):
        raise ValueError(f"{name!r}: a dataset name cannot contain @, / or \\ (they are used in refs)")
    if name.isdigit():
        raise ValueError(f"{name!r}: a dataset name cannot be only digits (numbers are version ids)")
    return name


def commit(run: CurationRun, name: str, *, created_by: str | None = None, parent: str | int | None = None) -> VersionInfo:
    """Write the run's clips as the next version of dataset `name`: all or nothing."""
    if not run.done:
        run.finish()
    name = check_dataset_name(name)
    db = run.db
    # everything that may read audio or raise happens before the transaction starts
    clips = run.clips
    descriptors = [run.clip_descriptors(c) for c in clips]
    explicit_parent = dataset_version_id(db, parent) if parent is not None else None
    used = sorted({c.take_id for c in clips})
    takes = {str(t): {"frames": run.takes[t]["frames"], "size": run.ws.resolve(run.takes[t]["path"]).stat().st_size}
             for t in used}
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchone()
        dataset_id = row[0] if row else conn.execute(
            "INSERT INTO datasets (name, created_at) VALUES (?, ?)", [name, utc_now()]).lastrowid
        number, latest = conn.execute(
            "SELECT COALESCE(MAX(number), 0) + 1, (SELECT id FROM dataset_versions WHERE dataset_id = ?1 "
            "AND sealed = 1 ORDER BY number DESC LIMIT 1) FROM dataset_versions WHERE dataset_id = ?1",
            [dataset_id]).fetchone()
        parent_id = explicit_parent if explicit_parent is not None else latest
        p = run.pipeline
        version_id = conn.execute(
            """INSERT INTO dataset_versions (dataset_id, number, parent_id, pipeline_name, pipeline_source,
                   pipeline_toml, pipeline_sha256, sessions_json, takes_json, analysis_key, clip_count, total_s,
                   created_at, created_by, sealed)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)""",
            [dataset_id, number, parent_id, p.name, p.source, p.text, p.sha256,
             json.dumps(run.sessions, ensure_ascii=False), json.dumps(takes), p.analysis.key(), len(clips),
             round(sum(c.duration_s for c in clips), 6), utc_now(), created_by]).lastrowid
        conn.executemany(
            """INSERT INTO dataset_clips (version_id, position, take_id, start_sample, end_sample, sample_rate,
                   tap_sample, symbols_json, who_json, marker_ids_json, made_by, descriptors_json, channels_json,
                   augment_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(version_id, i, c.take_id, c.start, c.end, c.sample_rate, c.tap,
              json.dumps(list(c.symbols), ensure_ascii=False), json.dumps(list(c.who), ensure_ascii=False),
              json.dumps(list(c.marker_ids)), c.made_by, json.dumps(d, ensure_ascii=False),
              json.dumps(list(c.channels)) if c.channels is not None else None,
              json.dumps(dict(c.augment)) if c.augment else None)
             for i, (c, d) in enumerate(zip(clips, descriptors), 1)])
        conn.executemany(
            """INSERT INTO dataset_steps (version_id, step_index, step_name, plugin, params_json, clips_in,
                   clips_out, seconds_in, seconds_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(version_id, r.index, r.name, r.plugin, json.dumps(r.params, ensure_ascii=False, default=str),
              r.clips_in, r.clips_out, round(r.seconds_in, 6), round(r.seconds_out, 6)) for r in run.reports])
        conn.executemany(
            """INSERT INTO dataset_removals (version_id, step_index, step_name, take_id, start_sample, end_sample,
                   sample_rate, symbols_json, who_json, marker_ids_json, reason, replaced_by_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(version_id, r.step_index, r.step_name, r.clip.take_id, r.clip.start, r.clip.end, r.clip.sample_rate,
              json.dumps(list(r.clip.symbols), ensure_ascii=False), json.dumps(list(r.clip.who), ensure_ascii=False),
              json.dumps(list(r.clip.marker_ids)), r.reason, json.dumps([list(k[:3]) + [list(k[3])] + ([k.variant] if k.variant else []) for k in r.replaced_by], ensure_ascii=False)
              if r.replaced_by else None)
             for r in run.removals()])
        conn.execute("UPDATE dataset_versions SET sealed = 1 WHERE id = ?", [version_id])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version_info(db, version_id)


def _parse_ref(ref) -> tuple[str | None, int | None, int | None]:
    """(name, number, id) from a ref."""
    if isinstance(ref, bool):
        raise DatasetNotFound(f"not a dataset reference: {ref!r}")
    if isinstance(ref, int):
        return None, None, ref
    text = str(ref).strip()
    if text.startswith("#") and text[1:].isdigit():
        return None, None, int(text[1:])
    if text.isdigit():
        return None, None, int(text)
    m = _REF.match(text)
    if not m:
        raise DatasetNotFound(f"not a dataset reference: {ref!r}")
    number = m.group("at") or m.group("v")
    return m.group("name"), int(number) if number else None, None


def dataset_version_id(db: sqlite_utils.Database, ref) -> int:
    """The id of the version `ref` names ("name", "name@3", "name/v3", or an id)."""
    name, number, vid = _parse_ref(ref)
    if vid is not None:
        row = db.execute("SELECT id FROM dataset_versions WHERE id = ? AND sealed = 1", [vid]).fetchone()
        if row is None:
            raise DatasetNotFound(f"no dataset version with id {vid}")
        return row[0]
    if number is None:
        row = db.execute(
            """SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
               WHERE d.name = ? AND v.sealed = 1 ORDER BY v.number DESC LIMIT 1""", [name]).fetchone()
    else:
        row = db.execute(
            """SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
               WHERE d.name = ? AND v.number = ? AND v.sealed = 1""", [name, number]).fetchone()
    if row is None:
        known = [r[0] for r in db.execute("SELECT name FROM datasets ORDER BY name")]
        what = f"{name}@{number}" if number is not None else name
        hint = f" (datasets: {', '.join(known)})" if known else " (no datasets yet: `rehearsal curate` makes one)"
        raise DatasetNotFound(f"no dataset version {what!r}{hint}")
    return row[0]


def version_info(db: sqlite_utils.Database, ref) -> VersionInfo:
    vid = dataset_version_id(db, ref)
    r = next(db.query(
        """SELECT v.*, d.name AS dataset, p.number AS parent_number
           FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
           LEFT JOIN dataset_versions p ON p.id = v.parent_id WHERE v.id = ?""", [vid]))
    parent_ref = None
    if r["parent_id"] is not None:
        pr = db.execute("SELECT d.name, v.number FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                        "WHERE v.id = ?", [r["parent_id"]]).fetchone()
        parent_ref = f"{pr[0]}@{pr[1]}"
    return VersionInfo(r["id"], r["dataset"], r["number"], r["parent_id"], parent_ref, r["pipeline_name"],
                       r["pipeline_source"], r["pipeline_toml"], r["pipeline_sha256"], json.loads(r["sessions_json"]),
                       json.loads(r["takes_json"]), r["analysis_key"], r["clip_count"], r["total_s"], r["created_at"], r["created_by"])


def list_versions(db: sqlite_utils.Database, dataset: str | None = None) -> list[VersionInfo]:
    where, args = ("AND d.name = ?", [dataset]) if dataset else ("", [])
    ids = [r[0] for r in db.execute(
        f"""SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
            WHERE v.sealed = 1 {where} ORDER BY d.name, v.number""", args)]
    return [version_info(db, i) for i in ids]


def version_clips(db: sqlite_utils.Database, ref) -> list[StoredClip]:
    vid = dataset_version_id(db, ref)
    out = []
    for r in db.query("SELECT * FROM dataset_clips WHERE version_id = ? ORDER BY position", [vid]):
        clip = Clip(r["take_id"], r["start_sample"], r["end_sample"], r["sample_rate"],
                    tuple(json.loads(r["symbols_json"])), tuple(json.loads(r["who_json"])),
                    tuple(json.loads(r["marker_ids_json"])), r["tap_sample"], r["made_by"],
                    channels=tuple(json.loads(r["channels_json"])) if r.get("channels_json") else None,
                    augment=tuple(json.loads(r["augment_json"]).items()) if r.get("augment_json") else ())
        out.append(StoredClip(r["id"], r["position"], clip, json.loads(r["descriptors_json"])))
    return out


def version_removals(db: sqlite_utils.Database, ref, step_index: int | None = None) -> list[Removal]:
    vid = dataset_version_id(db, ref)
    where, args = ("AND step_index = ?", [vid, step_index]) if step_index is not None else ("", [vid])
    out = []
    for r in db.query(f"SELECT * FROM dataset_removals WHERE version_id = ? {where} ORDER BY step_index, id", args):
        clip = Clip(r["take_id"], r["start_sample"], r["end_sample"], r["sample_rate"],
                    tuple(json.loads(r["symbols_json"])), tuple(json.loads(r["who_json"])),
                    tuple(json.loads(r["marker_ids_json"])))
        replaced = None
        if r["replaced_by_json"]:
            from .clips import ClipKey
            replaced = tuple(ClipKey(k[0], k[1], k[2], tuple(k[3]), *k[4:5]) for k in json.loads(r["replaced_by_json"]))
        out.append(Removal(r["step_index"], r["step_name"], clip, r["reason"], replaced))
    return out


def version_steps(db: sqlite_utils.Database, ref) -> list[dict]:
    vid = dataset_version_id(db, ref)
    rows = list(db.query("SELECT * FROM dataset_steps WHERE version_id = ? ORDER BY step_index", [vid]))
    for r in rows:
        r["params"] = json.loads(r.pop("params_json"))
    return rows


def list_datasets(db: sqlite_utils.Database) -> list[dict]:
    """Each dataset with its versions (latest last)."""
    by_name: dict[str, dict] = {}
    for v in list_versions(db):
        d = by_name.setdefault(v.dataset, {"name": v.dataset, "versions": []})
        d["versions"].append(v)
    return list(by_name.values())


__all__ = ["commit", "dataset_version_id", "version_info", "list_versions", "version_clips", "version_removals",
           "version_steps", "list_datasets", "VersionInfo", "StoredClip", "DatasetNotFound", "CurationError"]
