"""The audio-process core both the recorder and the play engine use (audio/core.py).

Unit tests with made-up callback stamps and a real take file; the processes themselves are
covered end to end by the record and play tests.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf

from rehearsal.audio.core import CLOCK_WINDOW_S, SteadyClock, TakePump, peaks
from rehearsal.audio.ring import Ring
from rehearsal.audio.writer import TakeWriter

SR, BLOCK = 48000, 256


def test_the_clock_ignores_late_callbacks_and_finds_lost_frames_after_an_overflow():
    clock = SteadyClock(SR)
    t0 = 100.0
    for k in range(200):
        frames = k * BLOCK
        late = 0.004 if k % 7 == 3 else 0.0           # a busy machine runs some callbacks late
        assert abs(clock.anchor(frames, t0 + frames / SR + late) - (t0 + frames / SR)) < 1e-9
    # an xrun: one cycle's frames never arrive, so every later block is one period "late"
    frames = 200 * BLOCK
    clock.overflow(frames)
    for k in range(200, 260):
        frames = k * BLOCK
        when = t0 + (frames + BLOCK) / SR
        clock.anchor(frames, when)
    assert clock.jumps == 1
    assert abs(clock.anchor(frames, when) - when) < 1e-9   # taken up at once, not after the window
    assert CLOCK_WINDOW_S == 1.0                             # the same window in record and in play


def test_an_overflow_flag_without_lost_frames_changes_nothing():
    clock = SteadyClock(SR)
    for k in range(100):
        clock.anchor(k * BLOCK, 5.0 + k * BLOCK / SR)
    clock.overflow(100 * BLOCK)
    for k in range(100, 140):
        clock.anchor(k * BLOCK, 5.0 + k * BLOCK / SR + (0.003 if k == 101 else 0.0))
    assert clock.jumps == 0


def test_the_pump_fills_what_the_disk_fell_behind_with_silence_and_counts_it(tmp_path):
    ring = Ring(4 * BLOCK, 2)
    signal = (np.random.default_rng(0).standard_normal((40 * BLOCK, 2)) * 0.1).astype(np.float32)
    take = TakePump(ring, TakeWriter(tmp_path / "t.w64", SR, 2), start=0)
    for k in range(2):
        ring.write(signal[k * BLOCK:(k + 1) * BLOCK])
    take.pump(ring.written)
    for k in range(2, 12):                         # the disk stalls for 10 blocks; the ring holds 4
        ring.write(signal[k * BLOCK:(k + 1) * BLOCK])
    take.pump(ring.written)
    take.stop = ring.written
    assert take.close() == 12 * BLOCK and take.lost == 6 * BLOCK
    got, _ = sf.read(tmp_path / "t.w64", dtype="float32", always_2d=True)
    assert len(got) == 12 * BLOCK                                   # the timeline is kept
    assert np.array_equal(got[:2 * BLOCK], signal[:2 * BLOCK])
    assert not got[2 * BLOCK:8 * BLOCK].any()                        # the gap is silence
    assert np.array_equal(got[8 * BLOCK:], signal[8 * BLOCK:12 * BLOCK])   # and the rest is in place
    assert np.allclose(peaks(ring, 0, ring.written), np.abs(signal[8 * BLOCK:12 * BLOCK]).max(axis=0))
