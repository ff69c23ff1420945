"""Any nn~ model is a generation (issue 18): modules nobody here wrote, validated as nn~
calls them, imported with lineage, rendered, played live through JACK and tagged.

Real parts: a module made with the nn-tilde package's own Python tools (installed --no-deps
into ~/.cache/rehearsal-tests/, it pins another torch), the real `rehearsal` command, real
SQLite, a JACK dummy server. The RAVE that acids-rave's own train and `rave export
--streaming` make from a dataset version is validated (told apart as RAVE by its methods),
imported and played 10 s through JACK in tests/test_training_rave.py: one RAVE export
validated and one RAVE played through JACK in the suite, not two.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from rehearsal.training.imported import ModuleError, ModuleInfo, MethodInfo, validate_nn_module
from rehearsal.training.module_stream import ModuleStream, render_offline
from tests.support.bad_modules import CASES
from tests.support.nn_tilde_module import built_module
from tests.support.play_events import Events
from tests.support.proc import LiveProcess, run_cli


@pytest.fixture(scope="session")
def toy() -> str:
    return str(built_module(44100))


def test_a_module_made_with_nn_tildes_own_tools_validates_as_nn_tilde_calls_it(toy):
    info = validate_nn_module(toy)
    assert {n: [m.in_channels, m.in_ratio, m.out_channels, m.out_ratio] for n, m in info.methods.items()} == {
        "encode": [1, 1, 2, 512], "decode": [2, 512, 1, 1], "forward": [1, 1, 1, 1]}
    assert info.methods["encode"].output_labels == ["(signal) level", "(signal) brightness"]
    # nn_tilde's own get_sample_rate, read before anything sets it (nn~ would set 48000 here)
    assert (info.sample_rate, info.sample_rate_from) == (44100, "get_sample_rate()")
    assert info.latent_size == 2 and info.family == "external" and info.play == "encode-decode"
    assert info.attributes == ["pitch"]                     # nn_tilde generated its getter and setter
    assert info.buffer == 512 and info.buffers_checked == [512, 1024, 1536, 2048, 4096, 8192]
    assert info.realtime_factor and info.realtime_factor > 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_module_that_breaks_the_contract_is_refused_in_words(case, tmp_path):
    build, words = CASES[case]
    path = build(tmp_path)
    with pytest.raises(ModuleError) as err:
        validate_nn_module(path, time_it=False)
    assert str(path) in str(err.value) and words in str(err.value)
    assert not (tmp_path / "PWNED").exists()                # a pickle is never unpickled


def test_a_module_may_refuse_buffers_shorter_than_its_own(tmp_path):
    import torch

    from tests.support.bad_modules import WholeBlocks

    path = tmp_path / "blocks.ts"
    torch.jit.script(WholeBlocks()).save(str(path))
    info = validate_nn_module(path, time_it=False)
    assert info.buffer == 256 and info.buffers_checked == [256, 512, 1024, 2048, 4096, 8192]
    assert info.refused_buffers["1"] == "forward: buffer size must be a multiple of 256 samples"


def test_the_command_refuses_a_bad_module_and_records_nothing(tmp_path):
    from rehearsal.store import Workspace, open_db

    bad = CASES["pickle"][0](tmp_path)
    home = tmp_path / "ws"
    out = run_cli(["--home", str(home), "model", "import", str(bad)])
    assert out.returncode != 0
    assert "a torch.save checkpoint (pickled weights)" in out.stderr and str(bad) in out.stderr
    assert not (tmp_path / "PWNED").exists()
    db = open_db(Workspace.at(home).db_path)
    assert list(db.query("SELECT id FROM generations")) == []


class Identity:
    """A module standing in for any nn~ model: forward is the input (its rate and buffer
    are what the test says), optionally slow."""

    def __init__(self, seconds_per_call: float = 0.0):
        self.seconds_per_call = seconds_per_call
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        if self.seconds_per_call:
            time.sleep(self.seconds_per_call)   # the model's own slowness, not synchronisation
        return x.clone()


def _info(rate: int, buffer: int) -> ModuleInfo:
    fwd = MethodInfo("forward", 1, 1, 1, 1)
    return ModuleInfo("", "", {"forward": fwd}, [], rate, "given", None, "external", "forward", 1, buffer, [buffer],
                      {}, 0.0, None, buffer, play_buffer=buffer)


def test_the_host_stream_is_aligned_at_any_rate_and_buffer():
    rng = np.random.default_rng(3)
    t = np.arange(48000) / 48000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    # same rate, a buffer that is not a multiple of the room's block: exact, frame for frame
    y = render_offline(Identity(), _info(48000, 2048), x)
    np.testing.assert_array_equal(y, x)
    # a 44.1 kHz model in a 48 kHz room: resampled both ways, still aligned to the sample
    y = render_offline(Identity(), _info(44100, 2048), x)
    err = y[2000:-2000] - x[2000:-2000]
    assert np.sqrt(np.mean(err ** 2)) < 0.1 * np.sqrt(np.mean(x ** 2))
    clicks = np.zeros(3 * 48000, np.float32)
    at = np.arange(5000, len(clicks) - 5000, 7919)
    clicks[at] = 1.0
    for rate, buffer in ((44100, 2048), (32000, 1024), (96000, 4096)):
        y = render_offline(Identity(), _info(rate, buffer), clicks)
        assert {int(np.argmax(np.abs(y[p - 500:p + 500]))) - 500 for p in at} == {0}, (rate, buffer)


def test_a_model_slower_than_real_time_never_holds_up_the_blocks_and_says_so():
    # 2048 samples (43 ms) take 120 ms: three times slower than real time
    stream = ModuleStream(Identity(0.12), _info(48000, 2048), 48000, 256, threaded=True)
    block = np.full(256, 0.1, np.float32)
    worst, missing = 0.0, 0
    start = time.perf_counter()
    try:
        for k in range(375):            # 2 s of blocks, paced as the callback would
            due = start + k * 256 / 48000
            while time.perf_counter() < due:
                time.sleep(0.0005)
            t0 = time.perf_counter()
            y = stream.pull()
            stream.push(block)
            stream.work()               # raises what the calls raised; never waits for them
            worst = max(worst, time.perf_counter() - t0)
            missing += y is None
    finally:
        stream.close()
    # waiting for a call would take up to its 120 ms; a busy machine preempts us for a few ms
    assert worst < 0.03, f"a block took {worst * 1e3:.1f} ms to hand on"
    assert missing > 0 and stream.behind == missing           # reported, block by block
    assert 0 < stream.calls < 375 * 256 / 2048


def test_a_play_host_says_when_its_module_cannot_keep_up(tmp_path):
    """The real play process and host: a module slower than real time plays, the take goes
    on, and the host reports it (dry blocks, counted)."""
    import torch

    from rehearsal.play import PlayConfig, Player
    from rehearsal.training import synthetic
    from tests.support.bad_modules import Slow

    path = tmp_path / "slow.ts"
    torch.jit.script(Slow(iterations=250)).save(str(path))   # about 3x slower than real time, on any machine here
    voice = tmp_path / "voice.wav"
    sf.write(voice, synthetic.voice(2.0, seed=1), 48000, subtype="FLOAT")
    # with no device the clock waits up to 0.1 s for a late block (PACED_GRACE_S), and this
    # module keeps up with a clock that waits for it now and then: no waiting, as where it is heard
    player = Player(PlayConfig(input_file=str(voice), loop=True, output_device="none", paced_grace_s=0.0)).open()
    events = Events(player)
    try:
        player.start_take(tmp_path / "in.w64", tmp_path / "out.w64")
        player.load(5, path, "slow")
        heard = events.wait("switched")["input_frame"]
        # heard now, not only while it warmed up (then it is not a glitch)
        behind = events.wait("model-behind", where=lambda p: p["input_frame"] > heard)
        events.wait("glitches", where=lambda p: p["input_frame"] > heard)
        stopped = player.stop_take()
    finally:
        player.close()
    assert behind["count"] >= 1 and behind["name"] == "slow"
    assert stopped["glitches"] >= 1                      # its blocks played dry, counted
    performer, _ = sf.read(tmp_path / "in.w64", dtype="float32")
    assert stopped["frames"] == len(performer)            # the take went on


def test_import_keeps_lineage_notes_and_renders_previews(toy, tmp_path):
    from rehearsal.store import Workspace, open_db
    from rehearsal.training import get_generation, list_checkpoints, notes, previews, set_current
    from rehearsal.training.imported import import_model, module_info
    from tests.support.training import pluck_dataset

    ws = Workspace.at(tmp_path / "ws")
    db = open_db(ws.db_path)
    data = pluck_dataset(tmp_path / "data", n=4)
    first = import_model(db, ws, toy, previews=False)
    g = import_model(db, ws, toy, dataset_ref=str(data), parent=first["name"], note="it hums",
                     lineage={"config": "v2_small", "steps": 1200})
    assert g["status"] == "complete" and g["family"] == "external" and g["strategy"] == "import"
    assert g["parent_id"] == first["id"] and g["dataset_ref"] == str(data) and len(g["dataset_hash"]) == 64
    assert g["metrics"]["lineage"] == {"config": "v2_small", "steps": 1200}
    assert module_info(g).sample_rate == 44100
    (ckpt,) = list_checkpoints(db, g["id"])
    assert ckpt["kind"] == "final" and ckpt["step"] == 1200 and ckpt["path"].endswith("model.ts")
    assert [n["text"] for n in notes(db, g["id"])] == ["it hums"]
    # probe previews: the dataset's probe clips, rendered as the host streams the module
    got = previews(ws, db, g["name"])
    assert [p.name for p in got["input"]] == [p.name for p in got["final"]] and got["final"]
    for p in got["final"]:
        audio, sr = sf.read(p, dtype="float32")
        assert sr == 48000 and np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
    set_current(db, g["name"], by="test")
    assert get_generation(db, "current")["id"] == g["id"]
    shown = run_cli(["--home", str(ws.home), "model", "show", g["name"]]).stdout
    assert "44100 Hz, plays encode-decode" in shown and "config v2_small" in shown
    # render and export take the module as it is; what needs weights says so
    src = got["input"][0]
    rendered = run_cli(["--home", str(ws.home), "render", g["name"], str(src), str(tmp_path / "r.wav")])
    assert rendered.returncode == 0, rendered.stderr
    a, b = sf.read(tmp_path / "r.wav", dtype="float32")[0], sf.read(got["final"][0], dtype="float32")[0]
    assert len(a) == len(b) and 0.8 < _rms(a) / _rms(b) < 1.25      # its noise part is drawn afresh
    exported = run_cli(["--home", str(ws.home), "export", g["name"], "-o", str(tmp_path / "e.ts")])
    assert exported.returncode == 0 and (tmp_path / "e.ts").read_bytes() == open(toy, "rb").read()
    from rehearsal.training.render import load_generation_model

    with pytest.raises(LookupError, match="is an imported nn~ module"):   # generate, weights export
        load_generation_model(ws, db, g["name"])
    db.conn.close()


def test_a_model_made_on_another_machine_comes_home_with_its_lineage(tmp_path):
    """The lineage file a run writes beside its export (what a RAVE run on a GPU machine
    writes): imported at home, the model finds its dataset and its parent there."""
    import json
    import shutil

    import torch
    from click.testing import CliRunner

    from rehearsal.cli import main
    from rehearsal.store import Workspace, open_db
    from rehearsal.training import get_generation, notes
    from rehearsal.training.imported import import_model, write_lineage_file
    from tests.support.bad_modules import WholeBlocks
    from tests.support.training import pluck_dataset

    data = pluck_dataset(tmp_path / "data", n=3)
    made, older = tmp_path / "made.ts", tmp_path / "older.ts"      # two modules (two sha256s)
    torch.jit.save(torch.jit.script(WholeBlocks()), str(made))
    torch.jit.save(torch.jit.script(WholeBlocks()), str(older), _extra_files={"which": "the parent"})
    # away (the GPU machine): the parent, and the model trained from it on the dataset
    away = Workspace.at(tmp_path / "away")
    db_away = open_db(away.db_path)
    up = import_model(db_away, away, older, previews=False)
    child = import_model(db_away, away, made, dataset_ref=str(data), parent=up["name"], previews=False,
                         label="rave v2 transfer", lineage={"config": ["v2"], "steps": 300, "host": "gpu-box"})
    carried = tmp_path / "carried"
    carried.mkdir()
    ts = carried / "g2_streaming.ts"
    shutil.copyfile(made, ts)
    write_lineage_file(away, db_away, child["name"], ts)
    db_away.conn.close()
    # home: the same parent imported here under another number, the same dataset content
    home = Workspace.at(tmp_path / "home")
    db = open_db(home.db_path)
    import_model(db, home, made, previews=False)                         # g1 here: not the parent
    parent_here = import_model(db, home, older, previews=False)          # g2 here
    out = CliRunner().invoke(main, ["--home", str(home.home), "model", "import", str(ts), "--no-previews"])
    assert out.exit_code == 0, out.output
    assert "lineage from " in out.output and "g2 on gpu-box" in out.output and "parent g2" in out.output
    g = get_generation(db, 3)
    assert g["parent_id"] == parent_here["id"] and g["label"] == "rave v2 transfer (from gpu-box)"
    assert g["dataset_hash"] == child["dataset_hash"] and g["dataset_ref"] == str(data)
    facts = g["metrics"]["lineage"]
    assert facts["steps"] == 300 and facts["config"] == ["v2"] and facts["made_on"] == "gpu-box"
    assert facts["generation_there"] == "g2" and facts["parent_there"] == "g1"
    # a parent and dataset this workspace lacks: imported all the same, and said in words
    data.rename(tmp_path / "elsewhere")
    lonely = Workspace.at(tmp_path / "lonely")
    db_lonely = open_db(lonely.db_path)
    g = import_model(db_lonely, lonely, ts, previews=False)
    assert g["parent_id"] is None and g["dataset_hash"] == "" and g["metrics"]["lineage"]["steps"] == 300
    said = [n["text"] for n in notes(db_lonely, g["id"])]
    assert said[0].startswith("trained on ") and "no dataset with that content here" in said[0]
    assert said[1].startswith("its parent was g1 (import older) on gpu-box: no generation here plays")
    db_lonely.conn.close()
    # a lineage file that is broken, or written for another model, is refused in words
    lineage = carried / "g2_streaming.lineage.json"
    doc = json.loads(lineage.read_text())
    lineage.write_text(json.dumps({**doc, "model_sha256": "0" * 64}))
    with pytest.raises(ModuleError, match="describes another model") as err:
        import_model(db, home, ts, previews=False)
    assert str(lineage) in str(err.value)
    lineage.write_text('{"format": "rehearsal-lineage",\n "version": 1,,\n}')
    with pytest.raises(ModuleError, match=f"{lineage}, line 2: not a lineage file"):
        import_model(db, home, ts, previews=False)
    assert len(list(db.query("SELECT id FROM generations"))) == 3          # nothing recorded
    db.conn.close()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _play_through_jack(tmp_path, model_path: str, gen_id: int, seconds: float = 10.0):
    """The module in a play host, 10 s of a voice in bursts (an onset every half second)
    through JACK, the take started for it as the play room starts one (aligned); returns
    (stopped, stats, model take once heard, loaded, performer take, aligned)."""
    from rehearsal.training import synthetic
    from tests.test_play_jack import Rig

    rig = Rig(tmp_path, align=True)
    try:
        rig.player.load(gen_id, model_path, f"g{gen_id}")
        loaded = rig.events.wait("loaded", timeout=120, generation_id=gen_id)
        aligned = rig.events.wait("aligned", timeout=30)
        switched = rig.events.wait("switched", timeout=120, generation_id=gen_id)
        t = np.arange(int(seconds * 48000)) / 48000
        rig.play(synthetic.voice(seconds, seed=4) * (t % 0.5 < 0.3).astype(np.float32))
        stats = rig.player.stats()
        stopped, performer, model = rig.finish()
    finally:
        rig.close()
    after = switched["input_frame"] - rig.start + rig.player.latency
    return stopped, stats, model[after:], loaded, performer[after:], aligned


def _lag(performer: np.ndarray, model: np.ndarray, most: int) -> int:
    """Samples by which the model take's envelope follows the performer take's (0..most)."""
    def env(x):
        frames = np.abs(x[: len(x) // 64 * 64]).reshape(-1, 64).mean(1)
        return np.convolve(frames, np.ones(8) / 8, mode="same")

    p, m = env(performer), env(model)
    n = min(len(p), len(m)) - most // 64 - 1
    p, m = (p - p.mean()) / p.std(), (m - m.mean()) / m.std()
    scores = [float(np.dot(p[:n], m[k:k + n])) for k in range(most // 64 + 1)]
    return int(np.argmax(scores)) * 64


def test_an_nn_tilde_module_at_44k1_plays_10_s_through_jack(toy, tmp_path, jack_server):
    from rehearsal.store import Workspace, open_db
    from rehearsal.training.imported import import_model

    ws = Workspace.at(tmp_path / "ws")
    db = open_db(ws.db_path)
    g = import_model(db, ws, toy, previews=False)
    stopped, stats, heard, loaded, performer, aligned = _play_through_jack(
        tmp_path, str(ws.resolve(f"{g['folder']}/model.ts")), g["id"])
    db.conn.close()
    module_latency = loaded["latency_samples"]
    assert loaded["sample_rate"] == 44100 and module_latency > 1500    # reported with its load
    assert len(heard) > 9 * 48000
    assert np.isfinite(heard).all() and _rms(heard) > 1e-3
    assert stats["model"]["realtime_factor"] > 1
    # the performer take is written as late as the module answers: frame for frame, the model
    # take follows it by the room's own latency only, so a tag (on both takes at the frame
    # heard) marks on the performer take what the module was answering, not 150 ms later
    assert aligned["delay_samples"] == module_latency
    room = stopped["stats"]["latency_samples"]
    lag = _lag(performer, heard, room + module_latency + 2000)
    assert abs(lag - room) <= 640, (lag, room, module_latency)          # the toy's 512-sample frames
    print(f"\nnn-tilde toy: latency {module_latency} + {room} samples, the model take follows the performer "
          f"take by {lag}, host {stats['model']['realtime_factor']:.1f}x real time, glitches {stopped['glitches']}")


def test_an_imported_model_is_played_tagged_compared_and_curated_like_ours(toy, tmp_path):
    """The command: import, play from a file with tags over OSC, A/B with one of our
    generations, reception per generation, and curation from its play take."""
    from pythonosc.udp_client import SimpleUDPClient

    from rehearsal.curation import parse_pipeline, preview
    from rehearsal.play import reception
    from rehearsal.store import Workspace, open_db
    from rehearsal.training import synthetic
    from tests.support.playmodels import make_generation

    ws = Workspace.at(tmp_path / "ws")
    out = run_cli(["--home", str(ws.home), "model", "import", toy, "--note", "from the workshop"]).stdout
    assert out.startswith("g1  import ") and "44100 Hz" in out and "plays resampled" in out
    db = open_db(ws.db_path)
    ours = make_generation(ws, db, "latent", seed=2)
    voice = tmp_path / "voice.wav"
    sf.write(voice, np.tile(synthetic.voice(3.0, seed=9), 2), 48000, subtype="FLOAT")
    proc = LiveProcess(["--home", str(ws.home), "play", "--model", "g1", "--session", "jam", "--notation",
                        "jam-reactions", "--input-file", str(voice), "--output-device", "none", "--osc-port", "0"])
    try:
        port = int(proc.wait_stderr("OSC: listening on").rsplit(":", 1)[1])
        osc = SimpleUDPClient("127.0.0.1", port)

        def next_json(kind: str, **match) -> dict:
            return proc.next_json(kind, timeout=60, **match)

        loaded = next_json("loaded", generation="g1")
        next_json("switched", generation="g1")
        osc.send_message("/rehearsal/tag", ["laugh", "ana"])
        next_json("marker")
        osc.send_message("/rehearsal/play/model", ours["name"])
        next_json("switched", generation=ours["name"])
        rc, _, err = proc.finish(60)
    finally:
        if proc.proc.poll() is None:
            proc.proc.terminate()
    assert rc == 0, err
    assert "latency" in loaded["detail"] and "44100 Hz" in loaded["detail"]   # shown as it loads
    assert any(line.startswith("g1: latency ") for line in err.splitlines())
    got = reception(db, 1)
    assert got["tags"] == {"laugh": {"glyph": "😂", "count": 1}} and got["who"] == {"ana": 1}
    events = [r["kind"] for r in db.query("SELECT kind FROM play_events WHERE generation_id = 1")]
    assert "model-latency" in events
    # the performer take was written as late as g1 answers (the room started the take for it)
    (delay,) = db.execute("SELECT input_delay_samples FROM plays").fetchone()
    assert delay > 512 and f"({delay} beyond the room's" in loaded["detail"]
    pipeline = parse_pipeline('name = "t"\n[[steps]]\nuse = "select-stream"\nkeep = ["model"]\n'
                              'generations = ["g1"]\n')
    clips = preview(ws, db, pipeline, ["jam"]).clips
    assert len(clips) == 1 and clips[0].symbols == ("laugh",)
    db.conn.close()


def test_our_own_export_imports_as_any_nn_tilde_module(tmp_path):
    from rehearsal.store import Workspace, open_db
    from rehearsal.training.checkpoints import load_checkpoint
    from rehearsal.training.export import export_nn_tilde
    from rehearsal.training.generations import checkpoint_for
    from tests.support.playmodels import make_generation

    ws = Workspace.at(tmp_path / "ws")
    db = open_db(ws.db_path)
    g = make_generation(ws, db, "latent", seed=1)
    model, _ = load_checkpoint(ws.resolve(checkpoint_for(db, g)["path"]))
    (ts,) = export_nn_tilde(model, "latent", tmp_path / "ours.ts", {"generation": g["name"]})
    info = validate_nn_module(ts)
    assert (info.sample_rate, info.buffer, info.play, info.family) == (48000, 256, "encode-decode", "external")
    assert set(info.methods) == {"forward", "encode", "decode"} and info.latent_size == 7
    assert info.largest_ratio == 256 and info.refused_buffers == {}
    assert info.provenance["generation"] == g["name"] and info.latency_samples == 256
    y = render_offline(ts, info, np.zeros(48000, np.float32) + 0.01)
    assert np.isfinite(y).all() and len(y) == 48000
    db.conn.close()
