"""The play process's state in shared memory, read by the app without asking.

The first fields are laid out as the recorder's (rehearsal.audio.status), so the same
seqlock clock (`publish_clock` / `read_clock`) gives the marker bus the frame of a tap.
The play fields follow; each has a single writer (the callback, the render thread or the
engine's main thread).
"""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

from ..audio import status as S
from ..audio.status import (ANCHOR, CALLBACKS, FRAMES, GAP_FRAMES, LEVELS, LOST, MAX_CHANNELS, OVERFLOWS, RECORDING, SEQ,  # noqa: F401,E501
                            STARTED, TAKE_FRAMES, TAKE_START, attach_status, publish_clock, read_clock)

BASE = S.SIZE
(UNDERFLOWS, GLITCHES, RENDERED, SKIPPED, MODEL_ERRORS, ACTIVE_GEN, INCOMING_GEN, BYPASSED,
 MIX, GAIN, LATENCY, OUT_LEVEL, MODEL_LAST_US, MODEL_MEDIAN_US, MODEL_P99_US, HOP, BLOCK,
 LOADING, GLITCH_FRAME, SAVED) = range(BASE, BASE + 20)
SIZE = BASE + 32


def create_status() -> tuple[shared_memory.SharedMemory, np.ndarray]:
    return S.create_status(SIZE)


def attach(name: str) -> tuple[shared_memory.SharedMemory, np.ndarray]:
    return attach_status(name, SIZE)
