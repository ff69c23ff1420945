"""Take files that a crash cannot make unreadable.

libsndfile rewrites the header after every write when SFC_SET_UPDATE_HEADER_AUTO is on,
so at any moment the file on disk is a valid W64/RF64/CAF whose length covers everything
written so far: after kill -9 at most the last unwritten chunk (tens of ms) is missing.
W64 and RF64 have no 4 GiB limit. FLAC (24-bit) is readable up to its last frame.
An exclusive flock on the file says "a recorder is writing this": recovery takes the
lock to know the writer is gone, which is robust against PID reuse.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import soundfile as sf

SFC_SET_UPDATE_HEADER_AUTO = 0x1061
FORMATS = {"W64": "w64", "RF64": "wav", "CAF": "caf", "FLAC": "flac"}
DEFAULT_SUBTYPE = {"W64": "FLOAT", "RF64": "FLOAT", "CAF": "FLOAT", "FLAC": "PCM_24"}


def take_suffix(fmt: str) -> str:
    return "." + FORMATS[fmt]


class TakeWriter:
    def __init__(self, path: str | Path, samplerate: int, channels: int, fmt: str = "W64", subtype: str | None = None):
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists: a take is never overwritten")
        self.file = sf.SoundFile(self.path, "w", samplerate, channels, subtype=subtype or DEFAULT_SUBTYPE[fmt], format=fmt)
        if fmt != "FLAC":
            from soundfile import _ffi, _snd  # python-soundfile has no wrapper for sf_command

            _snd.sf_command(self.file._file, SFC_SET_UPDATE_HEADER_AUTO, _ffi.NULL, 1)
        self._lock_fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.frames = 0

    def write(self, block: np.ndarray) -> None:
        self.file.write(block)
        self.frames += len(block)

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            os.close(self._lock_fd)


def is_being_written(path: str | Path) -> bool:
    """True while a live recorder holds the take's lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
