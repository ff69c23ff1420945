"""Recorder state shared between the capture process and the app, lock-free.

A flat array of doubles in shared memory. The frame counter and its clock anchor change
together in the callback, so they sit under a sequence lock: the writer makes the
sequence odd, writes, makes it even; a reader retries while it is odd or has changed.
Other fields have a single writer each and are read as they are.
"""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

SEQ, FRAMES, ANCHOR, OVERFLOWS, RECORDING, TAKE_FRAMES, TAKE_START, STARTED, LOST, CALLBACKS, GAP_FRAMES = range(11)
# LOST: frames the disk fell too far behind for; GAP_FRAMES: frames of cycles the stream's
# client missed (core.CycleCounter); both are in the takes as silence, on their timeline
LEVELS = 16          # peak per channel (linear, 0..1+) from here on
MAX_CHANNELS = 64
SIZE = LEVELS + MAX_CHANNELS


def create_status(size: int = SIZE) -> tuple[shared_memory.SharedMemory, np.ndarray]:
    """A zeroed status block of `size` fields (the play engine's is longer), owned by the app."""
    shm = shared_memory.SharedMemory(create=True, size=size * 8)
    st = np.ndarray((size,), dtype=np.float64, buffer=shm.buf)
    st[:] = 0.0
    return shm, st


def attach_status(name: str, size: int = SIZE) -> tuple[shared_memory.SharedMemory, np.ndarray]:
    """The child's view of the app's status block."""
    shm = shared_memory.SharedMemory(name=name)
    try:  # Python < 3.13 registers attached segments too; the app owns this one
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")
    except Exception:
        pass
    return shm, np.ndarray((size,), dtype=np.float64, buffer=shm.buf)


def publish_clock(st, frames: int, anchor: float) -> None:
    """Called from the audio callback only."""
    st[SEQ] += 1
    st[FRAMES] = frames
    st[ANCHOR] = anchor
    st[SEQ] += 1


def read_clock(st) -> tuple[int, float] | None:
    for _ in range(1000):
        s1 = st[SEQ]
        if s1 % 2:
            continue
        frames, anchor = st[FRAMES], st[ANCHOR]
        if st[SEQ] == s1:
            return (int(frames), anchor) if st[STARTED] else None
    return None
