"""Finish takes whose recorder died (kill -9, power cut, crash).

A take still marked 'recording' whose file nobody holds locked was orphaned. Its file is
valid up to the last header update (see writer.py), so recovery reads the length from
it and marks the take 'recovered'; its markers were committed as they came and are there.
"""

from __future__ import annotations

import soundfile as sf
import sqlite_utils

from ..store import Workspace
from ..store.takes import finish_take, unfinished_takes
from .writer import is_being_written


def recover_takes(ws: Workspace, db: sqlite_utils.Database) -> list[dict]:
    """Recover every orphaned take; returns one dict per take recovered."""
    recovered = []
    for take in unfinished_takes(db):
        path = ws.resolve(take["path"])
        if is_being_written(path):
            continue  # a live recorder (maybe another process) is still writing it
        try:
            frames = sf.info(str(path)).frames
            status, error = "recovered", None
        except (RuntimeError, OSError, sf.LibsndfileError) as exc:
            frames, status, error = 0, "failed", f"audio file unreadable: {exc}"
        overflows = take["overflows"] or 0
        finish_take(db, take["id"], frames=frames, overflows=overflows, status=status,
                    error=error or "recorder stopped without finishing the take; recovered from the file")
        recovered.append({**take, "frames": frames, "status": status, "path": str(path)})
    return recovered
