"""A dataset version as files: what training reads, and what exports copy.

    <home>/datasets/<safe name>-v<N>/
        clips/00001-good-monday-t1-12.500.wav   one WAV per clip (32-bit float, the take's
                                                rate and channels)
        metadata.jsonl                          one JSON object per clip (see `record`)
        dataset.json                            the version: ref, parent, pipeline, sessions
        pipeline.toml                           the exact pipeline text that made it
        .complete                               written last: the folder is whole

A version never changes, so the folder is built once (in a temporary folder renamed into
place, so a crash never leaves a half folder under the final name) and reused after.
Files are made read-only.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import sqlite_utils

from ..launch import process_alive
from ..naming import safe_filename
from ..store.workspace import Workspace
from .run import clip_audio
from .versions import VersionInfo, dataset_version_id, version_clips, version_info

STAMP = ".complete"
CLIP_SUBTYPE = "FLOAT"


def folder_name(info: VersionInfo) -> str:
    return f"{safe_filename(info.dataset)}-v{info.number}"


def _stamp_matches(folder: Path, version_id: int) -> bool:
    try:
        return json.loads((folder / STAMP).read_text())["version_id"] == version_id
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read_metadata(folder: Path) -> list[dict]:
    with open(Path(folder) / "metadata.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def materialise_dataset(ws: Workspace, db: sqlite_utils.Database, ref) -> Path:
    """The folder holding version `ref`'s clips and metadata.jsonl, built on first use."""
    info = version_info(db, dataset_version_id(db, ref))
    root = ws.folder("datasets")
    final = root / folder_name(info)
    if final.exists() and not _stamp_matches(final, info.id):
        # two dataset names that make the same file name: keep them apart by id
        final = root / f"{folder_name(info)}-id{info.id}"
    if _stamp_matches(final, info.id):
        return final
    clean_stale_builds(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=root))
    try:
        (tmp / OWNER).write_text(str(os.getpid()))
        _build(ws, db, info, tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if _stamp_matches(final, info.id):   # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return final
            if final.exists():                   # a stale, incomplete folder under the final name
                shutil.rmtree(final)
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (final / OWNER).unlink(missing_ok=True)
    return final


OWNER = ".building-pid"
STALE_WITHOUT_PID_S = 3600.0


def _remove(folder: Path) -> None:
    def writable(func, path, _exc):
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        os.chmod(path, stat.S_IRWXU)
        func(path)

    shutil.rmtree(folder, onerror=writable)


def clean_stale_builds(root: Path) -> list[Path]:
    """Remove the temporary folders of builds whose process is gone (a kill -9 mid-build):
    each holds the pid of the process building it, and a live build is left alone."""
    removed = []
    for tmp in Path(root).glob(".*.tmp"):
        try:
            pid = int((tmp / OWNER).read_text().strip())
        except (OSError, ValueError):
            pid = None            # killed between making the folder and writing its pid
        try:
            if pid is None and time.time() - tmp.stat().st_mtime < STALE_WITHOUT_PID_S:
                continue
        except OSError:
            continue
        if pid is not None and process_alive(pid):
            continue
        try:
            _remove(tmp)
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _build(ws: Workspace, db: sqlite_utils.Database, info: VersionInfo, folder: Path) -> None:
    import soundfile as sf

    clips = version_clips(db, info.id)
    takes = {r["id"]: r for r in db.query(
        "SELECT t.*, s.name AS session FROM takes t JOIN sessions s ON s.id = t.session_id "
        "WHERE t.id IN (SELECT DISTINCT take_id FROM dataset_clips WHERE version_id = ?)", [info.id])}
    for take_id, was in info.takes.items():   # the audio must be what the version was cut from
        take = takes[int(take_id)]
        path = ws.resolve(take["path"])
        now = {"frames": take["frames"], "size": path.stat().st_size if path.exists() else None}
        if now != was:
            raise RuntimeError(f"take #{take_id} ({take['path']}) changed since {info.ref} was made "
                               f"(then {was}, now {now}): its clips would not be the ones curated")
    (folder / "clips").mkdir()
    records = []
    by_take: dict[int, list] = {}
    for sc in clips:
        by_take.setdefault(sc.clip.take_id, []).append(sc)
    written: dict[int, str] = {}
    for take_id, items in by_take.items():
        take = takes[take_id]
        with sf.SoundFile(str(ws.resolve(take["path"]))) as src:
            for sc in sorted(items, key=lambda s: s.clip.start):
                c = sc.clip
                src.seek(c.start)
                data = src.read(c.end - c.start, dtype="float32", always_2d=True)
                if len(data) != c.end - c.start:
                    raise RuntimeError(f"take #{take_id} ({take['path']}) is shorter than the dataset says: "
                                       f"clip {sc.position} needs samples {c.start}-{c.end}")
                data = clip_audio(data, c)       # the channels it holds; augmented if a step said so
                name = (f"{sc.position:05d}-{safe_filename('+'.join(c.symbols))}-{safe_filename(take['session'])}"
                        f"-t{take['number']}-{c.start_s:.3f}{'-aug' if c.augment else ''}.wav")
                rel = f"clips/{name}"
                sf.write(str(folder / rel), data, c.sample_rate, subtype=CLIP_SUBTYPE, format="WAV")
                written[sc.position] = (rel, data.shape)
    for sc in clips:
        rel, shape = written[sc.position]
        records.append(record(sc, takes[sc.clip.take_id], rel, info, shape))
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    manifest = {"ref": info.ref, "dataset": info.dataset, "version": info.number, "version_id": info.id,
                "parent": info.parent_ref, "pipeline": info.pipeline_name, "pipeline_sha256": info.pipeline_sha256,
                "sessions": info.sessions, "clips": info.clip_count, "total_s": info.total_s,
                "created_at": info.created_at, "created_by": info.created_by, "analysis": json.loads(info.analysis_key)}
    (folder / "dataset.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "pipeline.toml").write_text(info.pipeline_toml, encoding="utf-8")
    for p in folder.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    (folder / STAMP).write_text(json.dumps({"version_id": info.id, "clips": len(clips)}))


def record(sc, take: dict, rel_path: str, info: VersionInfo, shape: tuple[int, int] | None = None) -> dict:
    """One line of metadata.jsonl. `path` is relative to the dataset folder; `shape` (frames,
    channels) of the file written. `start_s`..`end_s` is the take's region the clip comes from;
    `duration_s` and `channels` are the file's; `input_channels` the take's channels it holds
    (1-based); `augmentation` is null, or what the augmentation step did."""
    c = sc.clip
    frames, channels = shape if shape is not None else (c.end - c.start, take["channels"])
    return {
        "path": rel_path,
        "symbols": list(c.symbols),
        "who": ", ".join(c.who),
        "people": list(c.who),
        "start_s": round(c.start_s, 6),
        "end_s": round(c.end_s, 6),
        "duration_s": round(frames / c.sample_rate, 6),
        "take_id": c.take_id,
        "take": take["number"],
        "session": take["session"],
        "start_sample": c.start,
        "end_sample": c.end,
        "sample_rate": c.sample_rate,
        "channels": channels,
        "input_channels": [ch + 1 for ch in (c.channels if c.channels is not None else range(take["channels"]))],
        "augmentation": ({"step": c.made_by, **dict(c.augment)} if c.augment else None),
        "marker_ids": list(c.marker_ids),
        "made_by": c.made_by,
        "position": sc.position,
        "dataset": info.ref,
        "version_id": info.id,
        "descriptors": sc.descriptors,
    }
