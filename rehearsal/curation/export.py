"""Export a dataset version with a registered dataset exporter (built-ins: folder, rave, labels).

Exporters come from plugins (`register_dataset_exporters`); each gets the materialised
folder, its metadata records and an empty destination folder, and may return a text for
the person (the RAVE exporter says what RAVE keeps and the command to run). A failing
exporter is reported on its plugin and leaves the destination removed rather than half written.

Records are the version's clips as stored (metadata.jsonl), plus `notes`: the review notes
on the markers behind each clip and on keep decisions covering it, as they are now.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ..plugins import manager as plugin_manager
from ..store.workspace import Workspace
from .materialise import materialise_dataset, read_metadata


class ExportError(RuntimeError):
    pass


@dataclass(frozen=True)
class Exported:
    path: Path
    report: str | None = None    # what the exporter tells the person, if anything


def export_formats() -> list[str]:
    return sorted(plugin_manager.registry("dataset_exporters"))


def export_dataset(ws: Workspace, db: sqlite_utils.Database, ref, dest: str | Path, fmt: str = "folder") -> Exported:
    exporters = plugin_manager.registry("dataset_exporters")
    if fmt not in exporters:
        raise ExportError(f"unknown export format {fmt!r} (known: {', '.join(sorted(exporters)) or 'none'})")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} exists and is not an empty folder: choose a new one")
    folder = materialise_dataset(ws, db, ref)
    records = with_notes(db, read_metadata(folder))
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        report = exporters[fmt](folder, records, dest)
    except Exception as exc:
        plugin = plugin_manager.provider("dataset_exporters", fmt)
        plugin_manager.report_problem(plugin, f"exporter {fmt!r} failed: {type(exc).__name__}: {exc}")
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for p in dest.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        raise ExportError(f"export {fmt!r} (plugin {plugin}) failed: {type(exc).__name__}: {exc}") from exc
    return Exported(dest, report if isinstance(report, str) else None)


def with_notes(db: sqlite_utils.Database, records: list[dict]) -> list[dict]:
    """Each record with `notes`: its markers' review notes, then those of live keep decisions
    overlapping the clip (who: note)."""
    from .decisions import decisions_for_take

    ids = sorted({i for r in records for i in r.get("marker_ids", ())})
    marker_notes = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marker_notes.update(db.execute(
            f"SELECT id, note FROM markers WHERE note IS NOT NULL AND TRIM(note) != '' "
            f"AND id IN ({', '.join('?' * len(part))})", part).fetchall())
    decisions = {tid: [d for d in decisions_for_take(db, tid) if d.decision == "keep" and (d.note or "").strip()]
                 for tid in {r["take_id"] for r in records}}
    out = []
    for r in records:
        notes = [marker_notes[i].strip() for i in r.get("marker_ids", ()) if i in marker_notes]
        notes += [f"{d.who}: {d.note.strip()}" for d in decisions[r["take_id"]]
                  if d.start < r["end_sample"] and r["start_sample"] < d.end]
        out.append({**r, "notes": list(dict.fromkeys(notes))})
    return out

def export_removed(ws: Workspace, db: sqlite_utils.Database, ref, dest: str | Path,
                   step_index: int | None = None) -> Path:
    """What the steps of version `ref` cut, as WAV files plus `cuts.jsonl` (step, reason, where),
    so the collective can listen to the waste."""
    import json

    import soundfile as sf

    from ..naming import safe_filename
    from .versions import version_info, version_removals

    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} exists and is not an empty folder: choose a new one")
    info = version_info(db, ref)
    takes = {r["id"]: r for r in db.query(
        "SELECT t.*, s.name AS session FROM takes t JOIN sessions s ON s.id = t.session_id")}
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "cuts.jsonl", "w", encoding="utf-8") as out:
        for i, r in enumerate(version_removals(db, info.id, step_index), 1):
            c, take = r.clip, takes[r.clip.take_id]
            name = (f"{i:05d}-step{r.step_index}-{safe_filename(r.step_name)}-{safe_filename(take['session'])}"
                    f"-t{take['number']}-{c.start_s:.3f}.wav")
            data, sr = sf.read(str(ws.resolve(take["path"])), start=c.start, stop=c.end, dtype="float32",
                               always_2d=True)
            sf.write(str(dest / name), data, sr, subtype="FLOAT", format="WAV")
            out.write(json.dumps({"path": name, "step": r.step_index, "step_name": r.step_name, "reason": r.reason,
                                  "replaced": bool(r.replaced_by), "take_id": c.take_id, "session": take["session"],
                                  "take": take["number"], "start_s": round(c.start_s, 6), "end_s": round(c.end_s, 6),
                                  "symbols": list(c.symbols), "who": list(c.who)}, ensure_ascii=False) + "\n")
    return dest
