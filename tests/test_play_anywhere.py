"""Play anywhere: with no sound card, `rehearsal play` plays the demo take into a null
output, records both streams and says so; errors name what was tried and what to do next;
record and play share one default notation (the session's).

No sound card is real here: the command runs with PortAudio pointed at a JACK server that
does not exist (and not allowed to start one), so on a machine without ALSA hardware (CI,
this container) PortAudio lists no device at all. (An empty ALSA configuration would be
more thorough, but alsa-lib aborts the process on one.) Where the machine has a card, the
no-card test is skipped: it says so."""

from __future__ import annotations

import subprocess
import sys

import pytest
import soundfile as sf

from tests.support.playmodels import make_generation
from tests.support.proc import run_cli


def no_sound_card(tmp_path) -> dict:
    import os

    env = {"JACK_DEFAULT_SERVER": "no-sound-card-here", "JACK_NO_START_SERVER": "1"}
    probe = subprocess.run([sys.executable, "-c", "import sounddevice as sd; print(len(sd.query_devices()))"],
                           capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    if probe.stdout.strip() != "0":
        pytest.skip(f"this machine has sound devices besides JACK: {probe.stdout.strip()} {probe.stderr[-200:]}")
    return env


def test_play_with_no_sound_card_uses_the_demo_take_and_records_both_streams(workspace, db, tmp_path):
    gen = make_generation(workspace, db, "pitch", seed=1, steps=0)
    env = no_sound_card(tmp_path)
    out = run_cli(["--home", str(workspace.home), "play", "--model", gen["name"], "--session", "nocard",
                   "--duration", "6"], env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no sound card" in out.stderr and "demo take" in out.stderr and "null output" in out.stderr
    rows = list(db.query("SELECT t.path, t.frames, t.device FROM plays p JOIN takes t "
                         "ON t.id IN (p.input_take_id, p.output_take_id) ORDER BY t.number"))
    assert len(rows) == 2 and all(r["frames"] > 48_000 for r in rows), rows
    assert "demo-take" in rows[0]["device"]
    performer = sf.read(workspace.resolve(rows[0]["path"]), dtype="float32")[0]
    model = sf.read(workspace.resolve(rows[1]["path"]), dtype="float32")[0]
    assert abs(performer).max() > 0.01 and abs(model).max() > 0.001    # the demo was heard by the model

    # a named device that is not there: what was tried, and what to do next
    bad = run_cli(["--home", str(workspace.home), "play", "--model", "none", "--device", "no-such-card",
                   "--session", "nocard"], env=env)
    assert bad.returncode != 0
    assert "no-such-card" in bad.stderr and "--output-device none" in bad.stderr, bad.stderr
    rec = run_cli(["--home", str(workspace.home), "record", "--session", "nocard", "--duration", "1"], env=env)
    assert rec.returncode != 0 and "no default input device" in rec.stderr and "--input-file" in rec.stderr, \
        rec.stderr


def test_record_and_play_share_the_sessions_notation(workspace, db, tmp_path):
    voice = tmp_path / "v.wav"
    sf.write(voice, [0.0] * 4800, 48000)
    rec = run_cli(["--home", str(workspace.home), "record", "--session", "tue", "--input-file", str(voice),
                   "--speed", "20"])
    assert rec.returncode == 0, rec.stderr
    play = run_cli(["--home", str(workspace.home), "play", "--model", "none", "--session", "tue",
                    "--input-file", str(voice), "--output-device", "none", "--speed", "20"])
    assert play.returncode == 0, play.stderr
    names = [r["name"] for r in db.query("SELECT n.name FROM takes t JOIN notations n ON n.id = t.notation_id "
                                         "ORDER BY t.id")]
    assert len(names) == 3 and set(names) == {"good / bad (one pedal)"}, names
    # jam reactions by choice
    jam = run_cli(["--home", str(workspace.home), "play", "--model", "none", "--session", "fri",
                   "--notation", "jam-reactions", "--input-file", str(voice), "--output-device", "none",
                   "--speed", "20"])
    assert jam.returncode == 0, jam.stderr
    last = db.execute("SELECT n.name FROM takes t JOIN notations n ON n.id = t.notation_id "
                      "ORDER BY t.id DESC LIMIT 1").fetchone()[0]
    assert last != names[0] and "jam" in last.lower(), last


@pytest.mark.parametrize("rate", [44100, 88200])
def test_a_file_at_44k1_or_88k2_plays_and_records_at_its_rate_with_the_pitch_kept(workspace, db, tmp_path, rate):
    """Play runs the room at the file's rate (44.1 kHz, 88.2 kHz) and the 48 kHz model at its
    own, resampled both ways: the model's take keeps the input's pitch within 5 cents; record
    takes the same file at its rate."""
    from tests.support.pitch import audible, cents, harmonic_tone, measured_pitch

    f0 = 330.0
    tone = tmp_path / "phone.wav"
    sf.write(tone, harmonic_tone(f0, 3.0, rate), rate)
    gen = make_generation(workspace, db, "pitch", seed=7, steps=0)   # an untrained one that sounds its pitch
    out = run_cli(["--home", str(workspace.home), "play", "--model", gen["name"], "--session", "phone",
                   "--input-file", str(tone), "--output-device", "none", "--speed", "3"],
                  env={"REHEARSAL_NO_REALTIME": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{rate} Hz" in out.stderr, out.stderr
    # real-time scheduling declined (as where it is not allowed): said in words, with where to read on
    assert "no real-time scheduling" in out.stderr and "docs/play.md" in out.stderr, out.stderr
    rows = list(db.query("SELECT t.path, t.sample_rate FROM plays p JOIN takes t "
                         "ON t.id IN (p.input_take_id, p.output_take_id) ORDER BY t.number"))
    assert [r["sample_rate"] for r in rows] == [rate, rate], rows
    # the model's take holds only what the model played (a late block is silence there, not the input)
    model, sr = sf.read(workspace.resolve(rows[1]["path"]), dtype="float32")
    assert sr == rate and abs(model).max() > 0.01
    assert abs(cents(measured_pitch(audible(model), rate), f0)) < 5
    # the event log says what the resampling costs
    detail = db.execute("SELECT detail FROM play_events WHERE kind = 'model-latency'").fetchone()
    assert detail and f"resampled to and from {rate} Hz" in detail[0], detail

    rec = run_cli(["--home", str(workspace.home), "record", "--session", "phone", "--input-file", str(tone),
                   "--speed", "20"])
    assert rec.returncode == 0, rec.stderr
    take = db.execute("SELECT path, sample_rate FROM takes ORDER BY id DESC LIMIT 1").fetchone()
    recorded, sr = sf.read(workspace.resolve(take[0]), dtype="float32")
    assert take[1] == sr == rate and abs(cents(measured_pitch(audible(recorded), rate), f0)) < 1


@pytest.fixture(params=[44100, 96000])
def jack_at_another_rate(request, monkeypatch, jack_server):
    """A second JACK dummy server, at 44.1 kHz (then 96 kHz), with a name of its own: the play
    and capture processes started meanwhile, and the JACK clients that play into them and
    record them (in a helper process: libjack talks to one server per process), use it, as on
    a machine whose JACK runs at that rate. The suite's server comes back with the environment."""
    import os

    from tests.support.jackserver import JackServer

    name = f"rehearsal-test-{request.param}-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)      # JackServer.start sets them; restored after
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    server = JackServer(name, rate=request.param, second=True).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_jack_server_at_44k1_or_96k_plays_and_records_with_the_pitch_kept(workspace, db, tmp_path, jack_at_another_rate):
    """Play opens the device at its own rate when it does not take 48 kHz (a JACK server at
    44.1 or 96 kHz), the 48 kHz model runs at its own, resampled both ways, and what comes out of
    the interface keeps the performer's pitch within 5 cents; record takes the same device
    at its rate."""
    from rehearsal.audio.recorder import Recorder, RecorderConfig
    from rehearsal.play import PlayConfig, Player
    from rehearsal.training.generations import checkpoint_for
    from tests.support.pitch import audible, cents, harmonic_tone, measured_pitch
    from tests.support.play_events import Events
    from tests.support.play_io import PlayIO

    rate, f0 = jack_at_another_rate.rate, 330.0
    tone = harmonic_tone(f0, 2.5, rate)
    gen = make_generation(workspace, db, "pitch", seed=7, steps=0)   # an untrained one that sounds its pitch
    player = Player(PlayConfig()).open()
    try:
        assert player.samplerate == rate, player.samplerate
        events = Events(player)
        player.start_take(tmp_path / "performer.w64", tmp_path / "model.w64")
        player.load(gen["id"], workspace.resolve(checkpoint_for(db, gen)["path"]), gen["name"])
        loaded = events.wait("loaded", generation_id=gen["id"])
        events.wait("switched", generation_id=gen["id"])
        io = PlayIO(tone, tmp_path, "play")
        try:
            io.go()
            _, heard = io.result()     # the helper waits until all of it has come out
        finally:
            io.close()
        stopped = player.stop_take()
    finally:
        player.close()
    assert loaded["sample_rate"] == 48000, loaded      # the model ran at its own rate
    assert abs(cents(measured_pitch(audible(heard), rate), f0)) < 5
    model, sr = sf.read(tmp_path / "model.w64", dtype="float32")
    performer, sr_in = sf.read(tmp_path / "performer.w64", dtype="float32")
    assert sr == sr_in == rate and stopped["frames"] == len(model) == len(performer)
    assert abs(cents(measured_pitch(audible(model), rate), f0)) < 5

    rec = Recorder(RecorderConfig(channels=1, preroll_s=0.5)).open()
    try:
        assert rec.samplerate == rate
        rec.start_take(tmp_path / "recorded.w64")
        io = PlayIO(tone[:rate], tmp_path, "record")
        try:
            io.go()
            io.result()                # played, and some cycles after it
        finally:
            io.close()
        rec.stop_take()
    finally:
        rec.close()
    recorded, sr = sf.read(tmp_path / "recorded.w64", dtype="float32")
    assert sr == rate and abs(cents(measured_pitch(audible(recorded), rate), f0)) < 1
