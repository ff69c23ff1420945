"""Where a collective's things live on disk.

    <home>/rehearsal.db      the log of everything (SQLite, WAL)
    <home>/audio/<session>/  takes, one file each
    <home>/notations/        the collective's own notation files (searched first)
    <home>/datasets/ models/ exports/   later stages of the loop
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..naming import safe_filename

DB_NAME = "rehearsal.db"
RESERVE_NAME = ".reserve"
RESERVE_BYTES = 1 << 20


def default_home() -> Path:
    """`REHEARSAL_HOME` if set, else `sessions/` in the current directory."""
    env = os.environ.get("REHEARSAL_HOME")
    return Path(env) if env else Path.cwd() / "sessions"


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def at(cls, home: str | os.PathLike | None = None) -> "Workspace":
        ws = cls(Path(home) if home else default_home())
        ws.home.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def db_path(self) -> Path:
        return self.home / DB_NAME

    @property
    def audio_dir(self) -> Path:
        return self.home / "audio"

    @property
    def notations_dir(self) -> Path:
        return self.home / "notations"

    def folder(self, name: str) -> Path:
        """A stage folder (datasets, models, exports...), created on first use."""
        path = self.home / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def session_audio_dir(self, session_name: str) -> Path:
        path = self.audio_dir / safe_filename(session_name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def relative(self, path: Path) -> str:
        """Paths are stored relative to home so a workspace can be moved or copied."""
        try:
            return str(Path(path).resolve().relative_to(self.home.resolve()))
        except ValueError:
            return str(Path(path).resolve())

    def resolve(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else self.home / p

    # -- a ballast file: when the disk fills up during a take, deleting it gives SQLite
    # room to record how the take ended (and the user room to act) ------------------------
    @property
    def reserve_path(self) -> Path:
        return self.home / RESERVE_NAME

    def reserve_space(self) -> bool:
        """Make sure the ballast exists; False if there is not even room for it."""
        path = self.reserve_path
        if path.exists() and path.stat().st_size == RESERVE_BYTES:
            return True
        try:
            with open(path, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
                f.flush()
                os.fsync(f.fileno())
            return True
        except OSError:
            path.unlink(missing_ok=True)
            return False

    def release_reserve(self) -> None:
        self.reserve_path.unlink(missing_ok=True)
