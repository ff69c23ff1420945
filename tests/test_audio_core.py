"""The audio-process core both the recorder and the play engine use (audio/core.py).

Unit tests with made-up callback stamps and a real take file; the processes themselves are
covered end to end by the record and play tests.
"""

from __future__ import annotations

import numpy as np
import soundfile as sf

from rehearsal.audio.core import CLOCK_WINDOW_S, CycleCounter, SteadyClock, TakePump, peaks
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


def test_with_fill_the_clock_owes_the_frames_of_a_dropout_and_nothing_for_late_callbacks_or_drift():
    """A device that stopped 3 ms (its frames go on from where they were, its time does not):
    after the overflow, the recorder's clock owes 3 ms of frames, once; late callbacks and
    a sound card's slow drift against the system clock (no overflow) owe nothing."""
    clock = SteadyClock(SR, fill=True)
    pos, t, owed = 0, 50.0, []

    def block(late: float = 0.0, drift: float = 0.0) -> None:
        nonlocal pos, t
        clock.anchor(pos, t + late)
        owed.append(clock.owed())
        pos += owed[-1] + BLOCK
        t += BLOCK / SR * (1 + drift)

    for k in range(400):
        block(late=0.004 if k % 5 == 2 else 0.0, drift=50e-6)   # late callbacks, 50 ppm: nothing owed
    assert sum(owed) == 0
    clock.overflow(pos)
    t += 0.003                                                   # the device stopped for 3 ms
    for k in range(100):
        block(late=0.002 if k % 3 == 0 else 0.0)
    # (to the drift of the window before it: 50 ppm of 1 s, 2 frames)
    assert [abs(o - round(0.003 * SR)) <= 4 for o in owed if o] == [True] and clock.dropouts == 1
    clock.overflow(pos)                                          # an overflow with nothing lost
    for k in range(100):
        block(late=0.005 if k < 10 else 0.0)
    assert clock.dropouts == 1 and clock.dropout_frames == sum(owed)
    assert SteadyClock(SR).fill is False                         # play's clock does not fill


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


def _counter(cycles: list[int], period: int = BLOCK) -> CycleCounter:
    it = iter(cycles)
    return CycleCounter(lambda: next(it), period)


def test_the_cycle_counter_finds_missed_cycles_in_whole_periods_across_its_wrap():
    start = CycleCounter.WRAP - 3 * BLOCK                # jack_nframes_t wraps every 24.8 h at 48 kHz
    cycles = [(start + k * BLOCK) % CycleCounter.WRAP for k in range(12)]
    del cycles[5:7]                                    # two cycles never reached the callback
    counter, position, found = _counter(cycles), 0, []
    for _ in cycles:
        missed = counter.missed(position)
        found.append(missed)
        position += missed + BLOCK                     # the filled frames count as stream frames
    assert found == [0] * 5 + [2 * BLOCK] + [0] * 4
    assert (counter.gap_frames, counter.gaps) == (2 * BLOCK, 1)


def test_the_cycle_counter_is_not_fooled_by_blocks_smaller_than_the_period_or_a_restarted_server():
    # PortAudio cuts each 256-frame cycle into two 128-frame blocks: both read the same counter
    cycles = [c for k in range(8) for c in (k * BLOCK, k * BLOCK)]
    counter, position = _counter(cycles[1:] + [0, 0, 256]), 0   # the first block is a cycle's second half
    for _ in cycles[1:]:
        assert counter.missed(position) == 0
        position += BLOCK // 2
    assert counter.missed(position) == 0             # the counter went back (a new server): start over
    assert counter.missed(position + 128) == 0 and counter.missed(position + 256) == 0
    assert CycleCounter().missed(123) == 0 and not CycleCounter().active   # no counter (a file): nothing


def test_ring_silence_keeps_counting_frames_even_past_its_capacity():
    ring = Ring(4 * BLOCK, 1)
    ring.write(np.ones((3 * BLOCK, 1), np.float32))
    ring.write_silence(2 * BLOCK)
    assert ring.written == 5 * BLOCK
    assert not np.concatenate(ring.views(3 * BLOCK, 5 * BLOCK)).any()        # the gap: silence
    assert np.concatenate(ring.views(BLOCK, 3 * BLOCK)).all()                 # what came before: kept
    ring.write_silence(10 * BLOCK)
    assert ring.written == 15 * BLOCK and not ring.buf.any()
