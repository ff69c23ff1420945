"""A JACK cycle the audio client misses is found, counted and filled (record and play).

Real parts: the session's JACK dummy server, PortAudio, the real capture / play process, a
JACK client playing seeded noise into it, real take files and SQLite. The child is made to
miss two cycles (its `miss-cycles` test hook: the callback returns at once, as a client too
late for them; the test server is synchronous, so a stall alone loses nothing) while the
noise plays. JACK's cycle counter advanced by those cycles, so the child writes their
frames as silence: the take holds the noise sample for sample except exactly those frames,
everything after the gap stays aligned, and the take's row counts them.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile as sf

from rehearsal.audio import RecorderConfig
from rehearsal.notation import find_notation, load_notation
from rehearsal.room import Room
from rehearsal.store import Workspace, open_db
from tests.support.jackplayer import JackPlayer

# a missed cycle is provoked against JACK's real-time clock: alone, not beside another test process
pytestmark = pytest.mark.serial

MISSED = 2


def _noise(sr: int, seconds: float, channels: int) -> np.ndarray:
    return (np.random.default_rng(22).standard_normal((int(sr * seconds), channels)) * 0.25).astype(np.float32)


def _find(recorded: np.ndarray, needle: np.ndarray) -> int:
    for i in np.flatnonzero(recorded[:, 0] == needle[0, 0]):
        if i + len(needle) <= len(recorded) and np.array_equal(recorded[i:i + len(needle)], needle):
            return int(i)
    raise AssertionError("the played signal was not found in the take")


def _play_missing_cycles(jack_server, engine, noise: np.ndarray) -> JackPlayer:
    """Play `noise` into the child's PortAudio inputs; a quarter in, make it miss cycles."""
    player = JackPlayer("gap-source", channels=noise.shape[1])
    try:
        assert len(player.connect_to("PortAudio")) == noise.shape[1]
        quarter = threading.Event()
        player.cycle_callbacks.append(lambda pos, frames: pos >= len(noise) // 4 and quarter.set())
        player.play(noise)
        assert quarter.wait(30), "the source did not play"
        engine.miss_cycles(MISSED)
        assert player.done.wait(60), "the source did not finish"
    except BaseException:
        player.close()
        raise
    return player


def _check_one_filled_gap(take: np.ndarray, noise: np.ndarray, period: int) -> int:
    """The take holds the noise exactly but for one run of MISSED periods of silence; the
    frames after it are where they belong. Returns where the gap starts (noise frame)."""
    p = _find(take, noise[:256])
    got = take[p:p + len(noise)]
    assert len(got) == len(noise)
    wrong = np.flatnonzero(np.any(got != noise, axis=1))
    gap = MISSED * period
    assert len(wrong) == gap and wrong[-1] - wrong[0] == gap - 1, (len(wrong), wrong[:3], wrong[-3:])
    g = int(wrong[0])
    assert not got[g:g + gap].any()                                  # the missed cycles: silence
    assert np.array_equal(got[g + gap:], noise[g + gap:])            # after them: aligned, 0 samples off
    assert len(noise) // 8 < g < len(noise) // 2
    return g


def _room_bits(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    return ws, load_notation(find_notation("good-bad-pedal"))


def test_a_missed_cycle_while_recording_is_counted_and_filled_so_the_take_stays_aligned(jack_server, tmp_path):
    ws, notation = _room_bits(tmp_path)
    noise = _noise(jack_server.rate, 2.0, 2)
    room = Room(ws, "s", notation, RecorderConfig(channels=2, preroll_s=0.2, fill_dropouts=False))
    room.open()
    try:
        assert room.recorder.cycle_counter, "the capture process reads JACK's cycle counter"
        take = room.start_take()
        player = _play_missing_cycles(jack_server, room.recorder, noise)
        player.close()
        assert room.recorder.status().gap_frames == MISSED * jack_server.period
        finished = room.stop_take()
    finally:
        room.close()
    assert finished["gap_frames"] == MISSED * jack_server.period
    recorded, _ = sf.read(str(ws.resolve(take["path"])), dtype="float32", always_2d=True)
    assert finished["frames"] == len(recorded)
    _check_one_filled_gap(recorded, noise, jack_server.period)
    db = open_db(ws.db_path)
    assert db.execute("SELECT gap_frames, overflows FROM takes WHERE id = ?", [take["id"]]).fetchone()[0] == \
        MISSED * jack_server.period


def test_a_missed_cycle_while_playing_is_counted_and_filled_in_both_takes(jack_server, tmp_path):
    from rehearsal.play import PlayConfig, PlayRoom

    ws, notation = _room_bits(tmp_path)
    noise = _noise(jack_server.rate, 2.0, 1)
    room = PlayRoom(ws, "s", notation, PlayConfig(channels=1, spare=False))
    room.open()
    try:
        assert room.player.cycle_counter, "the play process reads JACK's cycle counter"
        room.start(None)                      # dry: what comes in is what the performer take holds
        play_id = room.play["id"]
        player = _play_missing_cycles(jack_server, room.player, noise)
        player.close()
        assert room.player.status().gap_frames == MISSED * jack_server.period
        room.stop()
    finally:
        room.close()
    db = open_db(ws.db_path)
    ins, outs = db.execute("SELECT input_take_id, output_take_id FROM plays WHERE id = ?", [play_id]).fetchone()
    takes = {}
    for take_id in (ins, outs):
        gap, frames, path = db.execute("SELECT gap_frames, frames, path FROM takes WHERE id = ?", [take_id]).fetchone()
        assert gap == MISSED * jack_server.period
        takes[take_id], _ = sf.read(str(ws.resolve(path)), dtype="float32", always_2d=True)
        assert frames == len(takes[take_id])
    assert len(takes[ins]) == len(takes[outs])                   # one counter for both takes
    _check_one_filled_gap(takes[ins], noise, jack_server.period)


STALL_S = 0.04


def test_a_dropout_of_the_server_is_silence_in_the_take_so_it_keeps_the_rooms_time(jack_server, tmp_path):
    """A stall of the server itself (a dummy driver late for its own deadline starts its clock
    over; a sound card's driver recovering from an xrun does the same) passes time with no
    frames, and no frame counter shows it. The recorder finds it from its clock after the
    overflow and writes that time as silence, counted (RecorderConfig.fill_dropouts)."""
    from rehearsal.audio import Recorder
    from rehearsal.audio.core import FILL_RECHECK_S
    from tests.support.signals import find_offset, holds

    sr = jack_server.rate
    noise = _noise(sr, 2.0, 2)
    rec = Recorder(RecorderConfig(channels=2, preroll_s=0.2)).open()
    player = JackPlayer("dropout-source", channels=2)
    stalled: list[int] = []
    slept: list[float] = []

    def stall(pos: int, frames: int) -> None:
        if pos >= len(noise) // 4 and not stalled:
            stalled.append(pos)
            t0 = time.monotonic()
            time.sleep(STALL_S)   # the fault itself: the synchronous server waits, its cycle ends late
            slept.append(time.monotonic() - t0)   # a busy VM oversleeps (CI: 50.7 ms for 40)

    try:
        assert len(player.connect_to("PortAudio")) == 2
        player.cycle_callbacks.append(stall)
        path = tmp_path / "take.w64"
        # connecting ports makes xruns (and a synchronous server may stall for them): first let
        # the stream run FILL_RECHECK_S with no overflow, so the stall is the only dropout watched
        quiet_from = (rec.status().overflows, rec.status().frames)
        deadline = time.monotonic() + 20.0
        while rec.status().frames < quiet_from[1] + int((FILL_RECHECK_S + 0.1) * sr):
            if rec.status().overflows != quiet_from[0]:
                quiet_from = (rec.status().overflows, rec.status().frames)
            assert time.monotonic() < deadline, "the stream never ran half a second without an overflow"
            time.sleep(0.01)
        rec.start_take(path)
        player.play(noise)
        assert player.done.wait(60), "the source did not finish"
        deadline = time.monotonic() + 5.0     # the fill comes FILL_RECHECK_S after the stall's overflow
        while rec.status().gap_frames == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        end = rec.status().frames
        while rec.status().frames < end + 4 * jack_server.period:
            time.sleep(0.01)
        stopped = rec.stop_take()
    finally:
        player.close()
        rec.close()
    recorded, _ = sf.read(path, dtype="float32", always_2d=True)
    offset = find_offset(recorded, noise[:256])
    filled = holds(recorded, noise, offset)            # the source was paused, not cut: all of it is there
    assert 0 < filled <= stopped.gap_frames
    span = np.any(recorded[offset:offset + len(noise) + filled] != 0, axis=1)
    edges = np.flatnonzero(np.diff(span.astype(np.int8)))
    runs = [(int(a) + 1, int(b) - int(a)) for a, b in zip(edges[::2], edges[1::2])]   # (start, length) of silence
    start, length = max(runs, key=lambda r: r[1])
    period = jack_server.period
    # about the stall: the dummy driver starts its clock over when the late cycle ends, so the
    # new cycles' phase against the old is anywhere in a period, and the restarted cycle itself
    # wakes late by the scheduler's latency (CI, realtime server: 2220 for a 40.1 ms sleep, 1.14
    # periods over): up to two periods past the time slept
    assert (STALL_S * sr - 2 * period) <= length <= slept[0] * sr + 2 * period, (length, runs, slept)
    # found FILL_RECHECK_S after the stall's overflow (more if more xruns came with it; a second is plenty)
    assert stalled[0] + 0.9 * FILL_RECHECK_S * sr <= start <= stalled[0] + 1.5 * sr, (start, stalled[0])
