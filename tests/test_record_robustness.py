"""Bad input and bad luck: a missing device, a full disk, a pre-roll, a kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from pythonosc.udp_client import SimpleUDPClient

from rehearsal.audio import Recorder, RecorderConfig, RecorderError
from rehearsal.store import open_db
from tests.support.jackplayer import JackPlayer
from tests.support.proc import LiveProcess, run_cli
from tests.support.signals import holds
from tests.test_recorder_jack import _find_offset, _wait_until


def test_missing_input_device_is_a_clear_error(jack_server, tmp_path):
    with pytest.raises(RecorderError, match="no input device 'no-such-interface'.*--input-file"):
        Recorder(RecorderConfig(device="no-such-interface")).open()
    result = run_cli(["--home", str(tmp_path / "ws"), "record", "--session", "s", "--device", "no-such-interface"])
    assert result.returncode != 0
    assert "cannot open the input" in result.stderr and "no-such-interface" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_input_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio at all")
    result = run_cli(["--home", str(tmp_path / "ws"), "record", "--session", "s", "--input-file", str(bogus)])
    assert result.returncode != 0
    assert "cannot read as audio" in result.stderr and "Traceback" not in result.stderr


def test_preroll_keeps_what_was_played_before_record(jack_server, tmp_path):
    sr = jack_server.rate
    noise = (np.random.default_rng(7).standard_normal((sr * 4, 2)) * 0.2).astype(np.float32)
    rec = Recorder(RecorderConfig(channels=2, preroll_s=10.0)).open()
    player = JackPlayer("preroll-player", channels=2)
    try:
        player.connect_to("PortAudio")
        player.play(noise)
        assert player.done.wait(30)
        path = tmp_path / "take.w64"
        started = rec.start_take(path)  # pressed *after* the phrase ended
        end = rec.status().frames
        _wait_until(lambda: rec.status().frames > end + 1024, 10, "a few more periods")
        rec.stop_take()
    finally:
        player.close()
        rec.close()
    recorded, _ = sf.read(path, dtype="float32", always_2d=True)
    assert started.preroll_frames >= len(noise)
    offset = _find_offset(recorded, noise[:256])
    holds(recorded, noise, offset)                 # only a dropout's silence, if any, in between


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_stops_cleanly_and_keeps_what_was_recorded(small_tmpfs, tmp_path):
    sr = 48000
    signal_in = (np.random.default_rng(3).standard_normal((sr * 12, 2)) * 0.1).astype(np.float32)
    src = tmp_path / "long.wav"
    sf.write(src, signal_in, sr, subtype="FLOAT")
    home = small_tmpfs / "ws"
    result = run_cli(["--home", str(home), "record", "--session", "full", "--input-file", str(src),
                      "--speed", "20"], timeout=60)
    assert result.returncode != 0, result.stderr
    assert "recording stopped early" in result.stderr and "what was recorded is kept" in result.stderr
    assert "Traceback" not in result.stderr
    db = open_db(home / "rehearsal.db")
    take = next(db.query("SELECT * FROM takes"))
    assert take["status"] == "failed" and "frames kept" in take["error"]
    kept, _ = sf.read(home / take["path"], dtype="float32", always_2d=True)
    assert 0 < len(kept) == take["frames"] < len(signal_in)
    assert np.array_equal(kept, signal_in[:len(kept)])  # what is there is exact



def test_a_take_that_fills_the_disk_while_it_is_being_stopped_is_closed_once_as_failed(small_tmpfs, tmp_path):
    """CI found this one: the disk filled just as `record` stopped the take at the end of its
    input, the reader thread closed the take as failed while stop_take waited for the capture
    process's answer, and stop_take then read the take it no longer had (TypeError)."""
    import queue

    from rehearsal.notation import find_notation, load_notation
    from rehearsal.room import Room, TakeFailed
    from rehearsal.store import Workspace

    sr = 48000
    signal_in = (np.random.default_rng(5).standard_normal((sr * 12, 2)) * 0.1).astype(np.float32)
    src = tmp_path / "long.wav"
    sf.write(src, signal_in, sr, subtype="FLOAT")
    ws = Workspace.at(small_tmpfs / "ws")
    room = Room(ws, "full", load_notation(find_notation("good-bad-pedal")),
                RecorderConfig(input_file=str(src), speed=20, hold_file=True, preroll_s=0))
    failed: queue.Queue = queue.Queue()
    room.listen(lambda msg: failed.put(msg) if isinstance(msg, TakeFailed) else None)
    room.open()
    try:
        take = room.start_take()
        ask_to_stop = room.recorder.stop_take

        def stop_after_the_failure(*args, **kwargs):
            # the order CI met: "stop" goes out while the take is running, and the capture
            # process's "take-failed" is handled before its answer to "stop"
            failed.put(failed.get(timeout=30))
            return ask_to_stop(*args, **kwargs)

        room.recorder.stop_take = stop_after_the_failure
        stopped = room.stop_take()
        assert failed.get_nowait().take["id"] == take["id"]
    finally:
        room.close()
    assert stopped["id"] == take["id"] and stopped["status"] == "failed", stopped
    db = open_db(ws.db_path)
    row = next(db.query("SELECT status, frames, error FROM takes WHERE id = ?", [take["id"]]))
    assert row["status"] == "failed" and "frames kept" in row["error"]
    kept, _ = sf.read(ws.resolve(take["path"]), dtype="float32", always_2d=True)
    assert 0 < len(kept) == row["frames"] < len(signal_in)
    assert np.array_equal(kept, signal_in[:len(kept)])


def test_kill_9_mid_take_loses_at_most_one_second_and_no_acknowledged_marker(jack_server, tmp_path):
    sr = jack_server.rate
    noise = (np.random.default_rng(99).standard_normal((sr * 30, 2)) * 0.2).astype(np.float32)
    home = tmp_path / "ws"
    proc = LiveProcess(["--home", str(home), "record", "--session", "crash", "--preroll", "0", "--osc-port", "0"])
    player = JackPlayer("kill-player", channels=2)
    stop_sending = threading.Event()
    try:
        port = int(proc.wait_stderr("OSC: listening on").rsplit(":", 1)[1])
        proc.wait_stderr("recording take 1")
        player.connect_to("PortAudio")
        played = []
        player.cycle_callbacks.append(lambda pos, frames: played.append(pos + frames))
        player.play(noise)

        def send_tags() -> None:  # markers keep arriving until the kill
            client = SimpleUDPClient("127.0.0.1", port)
            while not stop_sending.wait(0.01):
                client.send_message("/rehearsal/tag", ["good", "drummer"])

        sender = threading.Thread(target=send_tags, daemon=True)
        sender.start()
        deadline = time.monotonic() + float(np.random.default_rng().uniform(2.0, 6.0))
        while time.monotonic() < deadline:
            time.sleep(0.05)  # the moment of the kill is the point of the test, not a synchronisation
        proc.kill_group(signal.SIGKILL)
        played_at_kill = played[-1]
        stop_sending.set()
    finally:
        stop_sending.set()
        player.close()
    _, printed, _ = proc.finish()
    acknowledged = {json.loads(line)["id"] for line in printed if line.startswith("{")}
    assert len(acknowledged) > 50
    result = run_cli(["--home", str(home), "recover"])
    assert result.returncode == 0 and "recovered" in result.stdout, result.stdout + result.stderr
    db = open_db(home / "rehearsal.db")
    take = next(db.query("SELECT * FROM takes"))
    assert take["status"] == "recovered"
    recorded, _ = sf.read(home / take["path"], dtype="float32", always_2d=True)
    assert len(recorded) == take["frames"]
    offset = _find_offset(recorded, noise[:256])
    filled = holds(recorded, noise, offset, whole=False)   # what is there is exact: losses only at the end
    got = len(recorded) - offset - filled                   # (a dropout's silence, if any, is not the signal)
    assert played_at_kill - got <= 48_000                   # at most one second missing
    stored = {r["id"] for r in db.query("SELECT id FROM markers WHERE deleted_at IS NULL")}
    assert acknowledged <= stored                          # every printed marker survived


def test_a_play_whose_take_fills_the_disk_while_it_is_being_stopped_stays_failed(small_tmpfs, tmp_path):
    """The same order for `play`: its takes fail on a full disk while stop waits for the play
    process's answer. Before, stop then finished both takes again over the failure, as if
    they had ended well, with the frames the process no longer had."""
    import queue

    from rehearsal.notation import find_notation, load_notation
    from rehearsal.play import PlayConfig, PlayEvent, PlayRoom
    from rehearsal.store import Workspace

    sr = 48000
    src = tmp_path / "voice.wav"
    sf.write(src, (np.random.default_rng(6).standard_normal((sr * 12, 1)) * 0.1).astype(np.float32), sr,
             subtype="FLOAT")
    ws = Workspace.at(small_tmpfs / "ws")
    room = PlayRoom(ws, "full", load_notation(find_notation("good-bad-pedal")),
                    PlayConfig(input_file=str(src), output_device="none", speed=20))
    failed: queue.Queue = queue.Queue()
    room.listen(lambda msg: failed.put(msg) if isinstance(msg, PlayEvent) and msg.kind == "take-failed" else None)
    room.open()
    try:
        room.start(None)                         # dry: the play process alone
        play_id = room.play["id"]
        ask_to_stop = room.player.stop_take

        def stop_after_the_failure(*args, **kwargs):
            failed.put(failed.get(timeout=30))   # "take-failed" is handled before the answer to "stop"
            return ask_to_stop(*args, **kwargs)

        room.player.stop_take = stop_after_the_failure
        finished = room.stop()
        said = failed.get_nowait().detail
    finally:
        room.close()
    assert finished.play["id"] == play_id and "no space left on the disk" in said, said
    db = open_db(ws.db_path)
    for take in (finished.input_take, finished.output_take):
        row = next(db.query("SELECT status, frames, error, path FROM takes WHERE id = ?", [take["id"]]))
        assert row["status"] == "failed" and "frames kept" in row["error"], row
        assert row["frames"] == sf.info(str(ws.resolve(row["path"]))).frames
