"""Play beyond the audio path: the latent from outside and out over OSC, the headless
command with tags on both takes, and how each generation was received.

Real parts: a file stands in for the performer (`--input-file`, paced in real time),
real generations, real UDP on 127.0.0.1, a real SQLite workspace, the real command.
"""

from __future__ import annotations

import math
import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from rehearsal.play import PlayConfig, Player
from rehearsal.training import synthetic
from rehearsal.training.generations import checkpoint_for
from tests.support.play_events import Events
from tests.support.playmodels import make_generation
from tests.support.proc import LiveProcess


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rehearsal.store import Workspace, open_db

    ws = Workspace.at(tmp_path_factory.mktemp("playroom") / "ws")
    db = open_db(ws.db_path)
    latent = make_generation(ws, db, "latent", seed=2)
    pitch = make_generation(ws, db, "pitch", seed=3)
    yield ws, db, latent, pitch
    db.conn.close()


@pytest.fixture
def voice_file(tmp_path):
    path = tmp_path / "voice.wav"
    sf.write(path, synthetic.voice(4.0, seed=9), 48000, subtype="FLOAT")
    return path


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_the_latent_is_driven_from_outside_and_sent_out(store, voice_file, tmp_path):
    import torch

    from rehearsal.play.slots import Slot
    from rehearsal.training.checkpoints import load_checkpoint

    ws, db, latent, _ = store
    ckpt = ws.resolve(checkpoint_for(db, latent)["path"])
    # unit: with every channel held, the output no longer depends on the input
    torch.set_num_threads(1)
    model, _ = load_checkpoint(ckpt)
    one, two = Slot.from_model(model, 1, "a"), Slot.from_model(model, 1, "b")
    held = np.array([0.5, -0.3, 0.1, 0.2, -0.4, 0.0, 0.3], np.float32)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x1, x2 = ((rng.standard_normal(256) * s).astype(np.float32) for s in (0.01, 0.5))
        np.testing.assert_array_equal(one.run(x1, held), two.run(x2, held))
    assert len(one.latent_labels) == 7 and "loudness" in one.latent_labels[0]
    # a shorter list holds the first channels only; NaN leaves a channel to the model
    x = (rng.standard_normal(256) * 0.3).astype(np.float32)
    free = Slot.from_model(model, 1, "c").run(x, np.array([np.nan], np.float32))
    np.testing.assert_array_equal(free, Slot.from_model(model, 1, "d").run(x, None))
    assert not np.array_equal(free, Slot.from_model(model, 1, "e").run(x, np.array([3.0], np.float32)))

    # end to end: /rehearsal/latent/out arrives; holding loudness low silences the model
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    player = Player(PlayConfig(input_file=str(voice_file), loop=True, output_device="none",
                               osc_out=("127.0.0.1", sock.getsockname()[1]))).open()
    events, cond = [], threading.Condition()

    def on(ev):
        with cond:
            events.append(ev)
            cond.notify_all()

    def wait(kind, pred=lambda p: True):
        with cond:
            assert cond.wait_for(lambda: any(k == kind and pred(p) for k, p in events), 30), (kind, events)
            return next(p for k, p in events if k == kind and pred(p))

    def wait_frames(frame):
        deadline = time.monotonic() + 30
        while player.status().frames < frame:
            assert time.monotonic() < deadline
            time.sleep(0.01)

    player.on_event(on)
    try:
        L = player.latency
        start = player.start_take(tmp_path / "in.w64", tmp_path / "out.w64")
        player.load(latent["id"], ckpt, latent["name"])
        switched = wait("switched")["input_frame"]
        msg = OscMessage(sock.recv(4096))
        assert msg.address == "/rehearsal/latent/out"
        assert len(msg.params) == 7 and all(math.isfinite(v) for v in msg.params)
        wait_frames(switched + 24000)
        player.set_latent([-20.0])              # loudness alone, 20 deviations under the dataset's
        held = wait("latent-applied", lambda p: p["values"] is not None)
        held_at = held["input_frame"]                # from here on certainly held
        wait_frames(held_at + 36000)
        player.set_latent(None)
        release = wait("latent-applied", lambda p: p["values"] is None and p["input_frame"] > held_at)
        released, released_early = release["input_frame"], release["earliest_frame"]
        wait_frames(released + 36000)
        player.stop_take()
    finally:
        player.close()
        sock.close()
    model, _ = sf.read(tmp_path / "out.w64", dtype="float32")
    before = model[switched - start + L:held["earliest_frame"] - start + L]
    held_part = model[held_at - start + L + 2048:released_early - start + L]
    after = model[released - start + L + 4096:released - start + L + 30000]
    assert _rms(before) > 1e-4
    assert _rms(held_part) < 1e-3 * _rms(before), (_rms(held_part), _rms(before))
    assert _rms(after) > 0.2 * _rms(before), (_rms(after), _rms(before))


def test_a_model_host_that_dies_is_bypassed_and_the_take_goes_on(store, voice_file, tmp_path):
    import os
    import signal

    ws, db, _, pitch = store
    player = Player(PlayConfig(input_file=str(voice_file), loop=True, output_device="none")).open()
    wait = Events(player).wait
    try:
        start = player.start_take(tmp_path / "in.w64", tmp_path / "out.w64")
        player.load(pitch["id"], ws.resolve(checkpoint_for(db, pitch)["path"]), pitch["name"])
        pid = wait("loaded")["pid"]
        wait("switched")
        os.kill(pid, signal.SIGKILL)
        failed = wait("model-failed")
        assert failed["kind"] == "crashed" and "signal 9" in failed["error"]
        assert player.status().active_generation is None
        frames = player.status().frames
        deadline = time.monotonic() + 30
        while player.status().frames < frames + 24000:     # half a second more, dry
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stopped = player.stop_take()
    finally:
        player.close()
    performer, _ = sf.read(tmp_path / "in.w64", dtype="float32")
    model, _ = sf.read(tmp_path / "out.w64", dtype="float32")
    assert stopped["frames"] == len(performer) == len(model)
    at = failed["input_frame"] - start + player.latency
    assert len(model) > at + 24000 and not model[at + 1024:].any()   # silence from the model once it died


def test_play_command_records_both_streams_with_tags_on_both(store, voice_file, tmp_path):
    from rehearsal.play import plays_of, reception, stream_of_take
    from rehearsal.store.markers import list_markers

    ws, db, latent, pitch = store
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    long_file = tmp_path / "long.wav"
    sf.write(long_file, np.tile(sf.read(voice_file, dtype="float32")[0], 4), 48000, subtype="FLOAT")
    # the XY pad walks a terrain exported beside the latent generation (a tiny one: 6 points)
    import torch

    from rehearsal.training.terrain import export_terrain, fit_terrain, load_terrain, terrain_path

    rng = np.random.default_rng(4)
    terrain = fit_terrain(rng.uniform(-1, 1, (6, 2)), [rng.normal(size=(12, 7)) for _ in range(6)], steps=50).terrain
    walked = load_terrain(export_terrain(terrain, terrain_path(ws, latent)))
    lo, span = walked.lo, walked.span
    expected = walked(torch.tensor([[lo[0] + 0.25 * span[0], lo[1] + 0.75 * span[1]]]), 0.0, 0)[0].tolist()
    proc = LiveProcess(["--home", str(ws.home), "play", "--model", latent["name"], "--session", "jam", "--notation", "jam-reactions",
                        "--input-file", str(long_file), "--output-device", "none", "--osc-port", "0",
                        "--osc-out", f"127.0.0.1:{listener.getsockname()[1]}", "--fade", "20"])
    try:
        port = int(proc.wait_stderr("OSC: listening on").rsplit(":", 1)[1])
        osc = SimpleUDPClient("127.0.0.1", port)

        next_json = proc.next_json
        next_json("switched", generation=latent["name"])
        osc.send_message("/rehearsal/tag", ["laugh", "ana"])
        first = next_json("marker")
        osc.send_message("/rehearsal/xy", [0.25, 0.75, 0.0])           # the XY pad, no glide
        held = next_json("latent-applied")                              # into the ring the model host reads
        np.testing.assert_allclose([float(v) for v in held["detail"].split()], expected, rtol=1e-3, atol=1e-4)
        osc.send_message("/rehearsal/xy", [2.0, 0.5])                   # outside the map: refused, named
        osc.send_message("/rehearsal/play/follow", 0.5)                 # this model transforms: refused, named
        osc.send_message("/rehearsal/play/model", pitch["name"])
        next_json("switched", generation=pitch["name"])
        osc.send_message("/jam/followed", 1.0)
        second = next_json("marker")
        rc, _, err = proc.finish(60)   # the file ends: the play stops by itself
    finally:
        if proc.proc.poll() is None:
            proc.proc.terminate()
        listener.close()
    assert rc == 0, err
    assert any("/rehearsal/xy: x = 2.0 is outside 0..1 of the map" in line for line in err.splitlines()), err
    assert any("not accompanying: follow is a control of accompaniment: this play's model transforms the input"
               in line for line in err.splitlines()), err
    assert "glitches" in err.splitlines()[-1] and "model time per block median" in err.splitlines()[-1], err
    assert first["generation"] == latent["name"] and second["generation"] == pitch["name"]

    (play,) = plays_of(db)
    takes = {t["id"]: t for t in db.query("SELECT * FROM takes WHERE id IN (?, ?)",
                                          [play["input_take_id"], play["output_take_id"]])}
    inp, out = takes[play["input_take_id"]], takes[play["output_take_id"]]
    assert inp["status"] == out["status"] == "complete"
    assert inp["frames"] == out["frames"] > 48000
    assert out["number"] == inp["number"] + 1 and out["channels"] == 1
    # the command names the takes by number, as their files are named (not by row id)
    playing = next(line for line in err.splitlines() if line.startswith("playing "))
    assert f"takes {inp['number']} (performer) and {out['number']} (model)" in playing, playing
    assert inp["path"].endswith(f"take-{inp['number']:03d}-performer.flac") or f"take-{inp['number']:03d}-" in inp["path"]
    a, _ = sf.read(ws.resolve(inp["path"]), dtype="float32")
    b, _ = sf.read(ws.resolve(out["path"]), dtype="float32")
    assert len(a) == len(b) == inp["frames"]
    assert stream_of_take(db, inp["id"]) == "performer" and stream_of_take(db, out["id"]) == "model"
    # tags land on both takes, at the same frames
    on_input = list_markers(db, inp["id"])
    on_output = list_markers(db, out["id"])
    assert [m.symbol for m in on_input] == ["laugh", "followed"]
    assert [(m.symbol, m.tap_sample, m.who) for m in on_output] == [(m.symbol, m.tap_sample, m.who) for m in on_input]
    # what was heard when, and how each generation was received
    # the walk is recorded with the take
    xy = list(db.query("SELECT detail FROM play_events WHERE play_id = ? AND kind = 'xy'", [play["id"]]))
    # a tag (a pedal's, here over OSC) makes its symbol current: it steers a model steered by symbols
    steered = [r["detail"] for r in db.query("SELECT detail FROM play_events WHERE play_id = ? AND kind = 'symbol'",
                                             [play["id"]])]
    assert steered[:1] == ["laugh"], steered
    assert xy == [{"detail": "0.2500 0.7500 0.000"}]
    models = list(db.query("SELECT generation_id, reason FROM play_models WHERE play_id = ? ORDER BY id", [play["id"]]))
    assert [(m["generation_id"], m["reason"]) for m in models] == [(None, "start"), (latent["id"], "start"),
                                                                   (pitch["id"], "switch")]
    got_latent, got_pitch = reception(db, latent["id"]), reception(db, pitch["id"])
    assert got_latent["tags"] == {"laugh": {"glyph": "😂", "count": 1}}
    assert list(got_pitch["tags"]) == ["followed"] and got_pitch["plays"] == 1
    assert got_latent["who"] == {"ana": 1}
    assert 0 < got_latent["seconds"] < inp["frames"] / 48000
    # the models screen sees it in the generations' notes, and so does the command line
    from rehearsal.training.generations import notes
    from tests.support.proc import run_cli

    (note,) = notes(db, latent["id"])
    assert note["who"] == "play" and "😂 laugh x1" in note["text"] and "'jam' take" in note["text"]
    out = run_cli(["--home", str(ws.home), "play", "reception"]).stdout.splitlines()
    assert out[0].startswith(f"g{latent['id']}: ") and "😂 laugh x1" in out[0]
    assert out[1].startswith(f"g{pitch['id']}: ") and "followed x1" in out[1]
