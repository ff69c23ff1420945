"""An audio child that dies (kill -9) is noticed at once (real capture process, real SQLite).

The take is closed with what reached disk, taps after the end of the audio are refused in
words (not acknowledged for seconds on an extrapolated clock), stopping does not raise and
the take is never left 'recording'.
"""

from __future__ import annotations

import os
import queue
import signal
import time

import numpy as np
import soundfile as sf

from rehearsal.audio import RecorderConfig
from rehearsal.markers import Committed, Rejected, TagEvent
from rehearsal.notation import find_notation, load_notation
from rehearsal.room import Room, TakeFailed
from rehearsal.store import Workspace, open_db


def _next(q: queue.Queue, kind, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        try:
            msg = q.get(timeout=left)
        except queue.Empty:
            break
        if isinstance(msg, kind):
            return msg
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


def test_a_killed_capture_child_closes_the_take_and_refuses_later_taps(tmp_path):
    sr = 48000
    src = tmp_path / "in.wav"
    sf.write(src, (np.random.default_rng(1).standard_normal((sr * 30, 2)) * 0.1).astype(np.float32), sr,
             subtype="FLOAT")
    ws = Workspace.at(tmp_path / "ws")
    notation = load_notation(find_notation("good-bad-pedal"))
    symbol = notation.symbols[0].id
    room = Room(ws, "s", notation, RecorderConfig(input_file=str(src), preroll_s=0.5))
    messages: queue.Queue = queue.Queue()
    room.listen(messages.put)
    room.open()
    try:
        take = room.start_take()
        while room.recorder.status().take_frames < sr // 2:
            time.sleep(0.01)   # polling the child's frame counter, not standing in for a signal
        room.submit(TagEvent(target=symbol, source="key"))
        before = _next(messages, Committed)

        os.kill(room.recorder.pid, signal.SIGKILL)
        failed = _next(messages, TakeFailed)
        assert "capture process died (killed by signal 9)" in failed.error
        room.submit(TagEvent(target=symbol, source="key"))
        refused = _next(messages, Rejected)
        assert "capture process died" in refused.reason and "no audio after that" in refused.reason

        stopped = room.stop_take()              # no RecorderError: the take is already closed
        assert stopped["id"] == take["id"] and stopped["status"] == "failed"
    finally:
        room.close()
    db = open_db(ws.db_path)
    row = db.execute("SELECT status, frames, error FROM takes WHERE id = ?", [take["id"]]).fetchone()
    on_disk = sf.info(str(ws.resolve(take["path"]))).frames
    assert row[0] == "failed" and row[1] == on_disk > sr // 4, row
    assert "frames kept" in row[2]
    markers = db.execute("SELECT id, tap_sample FROM markers WHERE take_id = ?", [take["id"]]).fetchall()
    assert [m[0] for m in markers] == [before.marker.id]     # the one acknowledged before the kill


def test_a_killed_play_child_closes_both_takes_and_refuses_later_taps(tmp_path):
    from rehearsal.play import PlayConfig, PlayEvent, PlayRoom
    from rehearsal.training import synthetic

    src = tmp_path / "voice.wav"
    sf.write(src, synthetic.voice(4.0, seed=9), 48000, subtype="FLOAT")
    ws = Workspace.at(tmp_path / "ws")
    notation = load_notation(find_notation("good-bad-pedal"))
    symbol = notation.symbols[0].id
    room = PlayRoom(ws, "s", notation, PlayConfig(input_file=str(src), loop=True, output_device="none"))
    messages: queue.Queue = queue.Queue()
    room.listen(messages.put)
    room.open()
    try:
        room.start(None)                         # dry: the play process alone
        while room.player.status().take_frames < 24000:
            time.sleep(0.01)   # polling the child's frame counter, not standing in for a signal
        room.submit(TagEvent(target=symbol, source="key"))
        before = _next(messages, Committed)
        play_id = room.play["id"]

        os.kill(room.player.pid, signal.SIGKILL)
        while not ((msg := _next(messages, PlayEvent)).kind == "take-failed"):
            pass
        assert "play process died (killed by signal 9)" in msg.detail
        room.submit(TagEvent(target=symbol, source="key"))
        refused = _next(messages, Rejected)
        assert "play process died" in refused.reason
        assert room.play is None
    finally:
        room.close()
    db = open_db(ws.db_path)
    ins, outs, ended = db.execute("SELECT input_take_id, output_take_id, ended_at FROM plays WHERE id = ?",
                                  [play_id]).fetchone()
    assert ended is not None
    for take_id in (ins, outs):
        status, frames, path = db.execute("SELECT status, frames, path FROM takes WHERE id = ?", [take_id]).fetchone()
        assert status == "failed" and frames == sf.info(str(ws.resolve(path))).frames > 0
    assert [r[0] for r in db.execute("SELECT id FROM markers WHERE take_id = ?", [ins])] == [before.marker.id]
