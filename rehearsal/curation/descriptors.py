"""Descriptors computed once per take and cached, keyed by take + analysis parameters.

The frame arrays live in `<home>/cache/descriptors/take-<id>-<params hash>.npz`; the
`take_descriptors` table says which file holds which (take, parameters) and the audio
file's fingerprint (size, mtime, frames) at analysis time. A changed audio file, a missing
or unreadable cache file, or other parameters mean a new analysis; anything else is a load.

`STATS` counts analyses and loads in this process, so tests (and the benchmark) can tell
a cache hit from a recomputation without timing anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from pathlib import Path

import sqlite_utils

from ..store.clock import utc_now
from ..store.workspace import Workspace
from .analysis import AnalysisParams, FrameDescriptors, analyse_file

log = logging.getLogger(__name__)

STATS: Counter = Counter()   # "computed", "loaded", "memo"


class TakeAudioError(RuntimeError):
    """A take's audio file is missing or unreadable."""


def _fingerprint(path: Path, take: dict) -> str:
    st = path.stat()
    return json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "frames": take["frames"]}, sort_keys=True)


def cache_path(ws: Workspace, take_id: int, params: AnalysisParams) -> Path:
    digest = hashlib.sha256(params.key().encode()).hexdigest()[:12]
    folder = ws.folder("cache") / "descriptors"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"take-{take_id}-{digest}.npz"


def take_descriptors(ws: Workspace, db: sqlite_utils.Database, take: dict,
                     params: AnalysisParams | None = None) -> FrameDescriptors:
    """The frame descriptors of `take` (a takes row): from the cache, else analysed and cached."""
    params = params or AnalysisParams()
    audio = ws.resolve(take["path"])
    if not audio.exists():
        raise TakeAudioError(f"take #{take['id']}: audio file {audio} is missing")
    fingerprint = _fingerprint(audio, take)
    key = params.key()
    row = db.execute("SELECT path, fingerprint FROM take_descriptors WHERE take_id = ? AND params_key = ?",
                     [take["id"], key]).fetchone()
    if row and row[1] == fingerprint:
        try:
            fd = FrameDescriptors.load(ws.resolve(row[0]))
            STATS["loaded"] += 1
            return fd
        except (OSError, ValueError, KeyError) as exc:  # damaged or deleted cache: analyse again
            log.warning("descriptor cache for take %s unusable (%s): recomputing", take["id"], exc)
    t0 = time.perf_counter()
    try:
        fd = analyse_file(audio, params)
    except (RuntimeError, OSError) as exc:
        raise TakeAudioError(f"take #{take['id']}: cannot read {audio}: {exc}") from exc
    elapsed = time.perf_counter() - t0
    STATS["computed"] += 1
    path = cache_path(ws, take["id"], params)
    fd.save(path)
    with db.conn:
        db.execute(
            """INSERT OR REPLACE INTO take_descriptors
               (take_id, params_key, path, fingerprint, frames, computed_at, compute_s)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [take["id"], key, ws.relative(path), fingerprint, fd.frames, utc_now(), round(elapsed, 4)])
    return fd


class DescriptorStore:
    """Per-run memo over `take_descriptors`: each take is loaded or analysed once per run."""

    def __init__(self, ws: Workspace, db: sqlite_utils.Database, params: AnalysisParams | None = None):
        self.ws, self.db, self.params = ws, db, params or AnalysisParams()
        self._frames: dict[int, FrameDescriptors] = {}
        self._takes: dict[int, dict] = {}

    def take(self, take_id: int) -> dict:
        if take_id not in self._takes:
            rows = list(self.db.query("SELECT * FROM takes WHERE id = ?", [take_id]))
            if not rows:
                raise LookupError(f"no take with id {take_id}")
            self._takes[take_id] = rows[0]
        return self._takes[take_id]

    def frames(self, take_id: int) -> FrameDescriptors:
        fd = self._frames.get(take_id)
        if fd is None:
            fd = take_descriptors(self.ws, self.db, self.take(take_id), self.params)
            self._frames[take_id] = fd
        else:
            STATS["memo"] += 1
        return fd

