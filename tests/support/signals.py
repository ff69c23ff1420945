"""Checking a recorded take against the signal that was played into it.

The recorder writes a moment the device stopped (a dropout: a JACK server late for its own
deadline starts its clock over) as silence, so the take keeps the room's time
(RecorderConfig.fill_dropouts). A source inside the JACK graph is paused by such a stall,
not cut, so its signal goes on after the silence. Seeded noise is never exactly 0.0 on
every channel, so the rows that are all zero are the filled ones.
"""

from __future__ import annotations

import numpy as np


def find_offset(recorded: np.ndarray, needle: np.ndarray) -> int:
    """Where `needle` (the first frames of the played signal) starts in `recorded`."""
    for i in np.flatnonzero(recorded[:, 0] == needle[0, 0]):
        if i + len(needle) <= len(recorded) and np.array_equal(recorded[i:i + len(needle)], needle):
            return int(i)
    raise AssertionError("the played signal was not found in the take")


def holds(recorded: np.ndarray, noise: np.ndarray, offset: int, whole: bool = True) -> int:
    """Assert that from `offset` the take holds `noise` sample for sample, but for rows of
    filled silence (nothing dropped, nothing duplicated, nothing else inserted); `whole`:
    all of it (else a prefix, a take cut short). Returns how many filled rows lie inside."""
    after = recorded[offset:]
    sounding = np.any(after != 0, axis=1)
    kept = after[sounding]
    if whole:
        assert len(kept) >= len(noise), f"{len(noise) - len(kept)} frames of the signal are missing"
    n = min(len(kept), len(noise))
    assert np.array_equal(kept[:n], noise[:n])
    if n == 0:
        return 0
    end = int(np.flatnonzero(sounding)[n - 1]) + 1          # the take's row of the last signal frame
    return int(end - n)
