"""Training runs end to end: the CLI and the library start real worker processes (torch on
one thread, tiny budgets) on a real workspace; the store records generations, lineage,
checkpoints and previews; cancel, resume and failures leave the current model alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.store import Workspace, open_db
from rehearsal import training as T
from rehearsal.training import synthetic
from rehearsal.training.checkpoints import load_checkpoint, load_weights
from rehearsal.training.progress import read_all
from tests.support.training import TINY, mixed_dataset, params, pluck_dataset

torch.set_num_threads(1)
RUN_TIMEOUT = 120


def cli(home, *args) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with g1: a convergent pitch model trained from scratch."""
    root = tmp_path_factory.mktemp("runs")
    home = root / "ws"
    ds = pluck_dataset(root / "plucks")
    out = cli(home, "train", "-d", str(ds), "--steps", "12", "--seed", "1", "--threads", "1",
              *params(eval_every_steps=3, patience=0))
    assert "g1 complete" in out
    ws = Workspace.at(home)
    return ws, ds


def test_convergent_keeps_its_best_checkpoint_and_parent_link(trained):
    ws, ds = trained
    db = open_db(ws.db_path)
    g1 = T.get_generation(db, "g1")
    assert g1["status"] == "complete" and g1["parent_id"] is None and g1["strategy"] == "convergent"
    evals = [e for e in read_all(T.progress_path(ws, g1)) if e["event"] == "eval"]
    best = min(evals, key=lambda e: e["val_loss"])
    rows = T.list_checkpoints(db, g1["id"])
    assert [r["kind"] for r in rows] == ["best"]              # one checkpoint kept: the best
    assert rows[0]["step"] == best["step"] and rows[0]["val_loss"] == pytest.approx(best["val_loss"])
    assert g1["metrics"]["val_loss"] == pytest.approx(best["val_loss"])
    assert g1["metrics"]["steps"] == 12 and g1["checkpoint_id"] == rows[0]["id"]
    assert ws.resolve(rows[0]["path"]).exists()
    assert list(ws.resolve(rows[0]["previews"]).glob("*.wav"))
    assert list((ws.resolve(g1["folder"]) / "previews" / "input").glob("*.wav"))

    cli(ws.home, "model", "set-current", "g1")
    out = cli(ws.home, "train", "-d", str(ds), "--steps", "4", "--threads", "1", *params(eval_every_steps=2))
    assert "g2 complete" in out
    g2 = T.get_generation(db, "g2")
    assert g2["parent_id"] == 1 and g2["label"] == "convergent from g1"
    assert T.RunSpec.from_json(g2["spec_json"]).init == "parent"
    assert g2["dataset_hash"] == g1["dataset_hash"]
    tree = cli(ws.home, "models")
    lines = tree.splitlines()
    assert lines[0].startswith("g1") and "★ current" in lines[0]
    assert any(line.startswith("└─ g2") for line in lines)


def test_model_show_plots_curves_baseline_parent_and_a_comparison(trained, tmp_path):
    """g2 (from g1, made by the test above) with its parent; then g1 and g2 compared."""
    ws, _ = trained
    one = tmp_path / "g2.png"
    out = cli(ws.home, "model", "show", "g2", "--plot", str(one))
    assert f"plot: {one}" in out
    assert "g2 validation loss" in out and "g2 noise baseline" in out and "g1 (parent) validation loss" in out
    assert one.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and one.stat().st_size > 20_000
    both = tmp_path / "both.svg"
    out = cli(ws.home, "model", "show", "g1", "--plot", str(both), "--compare", "g2")
    assert "g1 validation loss" in out and "g2 validation loss" in out and "(parent)" not in out
    assert b"<svg" in both.read_bytes()[:400]
    result = CliRunner().invoke(main, ["--home", str(ws.home), "model", "show", "g1", "--plot", str(tmp_path / "x.gif")])
    assert result.exit_code != 0 and "x.gif" in result.output and ".png or .svg" in result.output


def test_one_shot_keeps_every_checkpoint_and_is_reproducible(tmp_path):
    home = tmp_path / "ws"
    ds = pluck_dataset(tmp_path / "plucks", n=3, seconds=1.0)
    out = cli(home, "train", "-d", str(ds), "-s", "one-shot", "--steps", "8", "--count", "2", "--seed", "5",
              "--threads", "1", *params(checkpoints=4))
    assert "g1 complete" in out and "g2 complete" in out
    ws, db = Workspace.at(home), open_db(Workspace.at(home).db_path)
    for gid in (1, 2):
        rows = T.list_checkpoints(db, gid)
        assert [(r["kind"], r["step"]) for r in rows] == [("waste", s) for s in (2, 4, 6, 8)]
        for r in rows:                                  # every one playable and rendered
            assert ws.resolve(r["path"]).exists()
            assert len(list(ws.resolve(r["previews"]).glob("*.wav"))) == 1
        assert T.get_generation(db, gid)["metrics"]["val_loss"] is None  # no validation, no selection
    assert [T.get_generation(db, g)["seed"] for g in (1, 2)] == [5, 6]

    cli(home, "train", "-d", str(ds), "-s", "one-shot", "--steps", "8", "--seed", "5", "--threads", "1",
        *params(checkpoints=4))
    final = {g: load_checkpoint(ws.resolve(T.checkpoint_for(db, T.get_generation(db, g))["path"]))[0].state_dict()
             for g in (1, 2, 3)}
    assert all(torch.equal(final[1][k], final[3][k]) for k in final[1])       # same seed, same model
    assert not all(torch.equal(final[1][k], final[2][k]) for k in final[1])   # another seed, another one

    # any checkpoint of the waste can be exported
    out = cli(home, "export", "g2", "--checkpoint", "4", "--format", "weights", "-o", str(tmp_path / "w"))
    model, meta = load_weights(tmp_path / "w.json")
    assert meta["step"] == 4 and meta["generation"] == "g2" and meta["family"] == "pitch"


def test_cancel_leaves_current_untouched_and_resume_continues(trained):
    ws, ds = trained
    db = open_db(ws.db_path)
    T.set_current(db, "g1")
    dataset = T.resolve_dataset(ws, db, str(ds))
    request = T.make_request(db, dataset, "convergent", max_steps=150, seed=3,
                             params={**TINY, "eval_every_steps": "50"})
    (gid,) = T.plan_generations(ws, db, request)
    run = T.start_run(ws, gid, threads=1, set_current="")
    for event in run.events(timeout=RUN_TIMEOUT):
        if event["event"] == "step" and event["step"] >= 3:
            run.cancel()
            break
    assert run.wait(RUN_TIMEOUT) == 0
    g = T.get_generation(db, gid)
    assert g["status"] == "cancelled"
    stopped_at = g["metrics"]["steps"]
    assert 3 <= stopped_at < 150
    assert T.current_generation(db)["id"] == 1                 # a cancelled run never becomes current
    assert (ws.resolve(g["folder"]) / "last.pt").exists()

    run = T.start_run(ws, gid, resume=True, threads=1, set_current="")
    events = list(run.events(timeout=RUN_TIMEOUT))
    assert run.wait(RUN_TIMEOUT) == 0
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert any(e["event"] == "notice" and f"resuming at step {stopped_at}" in e["message"] for e in events)
    assert steps[0] == stopped_at + 1 and steps[-1] == 150     # continued, not restarted
    g = T.get_generation(db, gid)
    assert g["status"] == "complete" and g["metrics"]["steps"] == 150
    assert T.current_generation(db)["id"] == gid               # promoted only once complete
    T.go_back(db)
    assert T.current_generation(db)["id"] == 1


def test_failed_run_never_replaces_the_current_model(trained, tmp_path):
    ws, _ = trained
    db = open_db(ws.db_path)
    T.set_current(db, "g1")
    ds = pluck_dataset(tmp_path / "changing", n=3, seconds=0.5)
    request = T.make_request(db, T.resolve_dataset(ws, db, str(ds)), "convergent", max_steps=4, params=dict(TINY))
    (gid,) = T.plan_generations(ws, db, request)
    sf.write(str(ds / "clips" / "000-pluck0.wav"), synthetic.plucked(0.5, seed=99), 48000, subtype="FLOAT")
    run = T.start_run(ws, gid, threads=1, set_current="")
    list(run.events(timeout=RUN_TIMEOUT))
    assert run.wait(RUN_TIMEOUT) == 1
    g = T.get_generation(db, gid)
    assert g["status"] == "failed" and "changed since" in g["error"]
    assert run.ended["status"] == "failed"
    assert T.current_generation(db)["id"] == 1


def test_specialise_trains_one_model_per_symbol(tmp_path):
    home = tmp_path / "ws"
    ds = mixed_dataset(tmp_path / "mixed")
    out = cli(home, "train", "-d", str(ds), "-s", "specialise", "-f", "latent", "--steps", "4", "--threads", "1",
              *params(eval_every_steps=2))
    assert "g1 complete" in out and "g2 complete" in out
    db = open_db(Workspace.at(home).db_path)
    gens = T.list_generations(db)
    assert [(g["label"], g["symbols"], g["family"]) for g in gens] == [
        ("specialise pluck", ["pluck"], "latent"), ("specialise noise", ["noise"], "latent")]
    assert len({g["batch"] for g in gens}) == 1
    cli(home, "model", "set-current", "g2", "--scope", "noise")
    assert T.current_generation(db, "noise")["id"] == 2 and T.current_generation(db) is None


def test_render_writes_audio_of_the_right_length(trained, tmp_path):
    ws, _ = trained
    src48 = tmp_path / "in48.wav"
    sf.write(str(src48), synthetic.voice(1.3, seed=4), 48000)
    src44 = tmp_path / "in44.flac"
    sf.write(str(src44), synthetic.voice(1.3, seed=4)[::2][:28665], 22050)   # another rate and format
    cli(ws.home, "render", "g1", str(src48), str(tmp_path / "out48.wav"))
    cli(ws.home, "render", "g1", str(src44), str(tmp_path / "out44.wav"), "--transpose", "-12")
    out48, sr = sf.read(str(tmp_path / "out48.wav"))
    assert sr == 48000 and len(out48) == int(1.3 * 48000) and np.abs(out48).max() > 1e-3
    out44, sr = sf.read(str(tmp_path / "out44.wav"))
    assert sr == 48000 and len(out44) == round(28665 * 48000 / 22050)


def test_model_notes_use_the_collective_notation(trained):
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.store.notations import store_notation

    ws, _ = trained
    db = open_db(ws.db_path)
    store_notation(db, load_notation(find_notation("jam-reactions")))
    cli(ws.home, "model", "note", "g1", "it follows me", "--symbol", "⇉", "--who", "ana")
    result = CliRunner().invoke(main, ["--home", str(ws.home), "model", "note", "g1", "--symbol", "nonsense"])
    assert result.exit_code != 0 and "not a symbol of your notations" in result.output
    notes = T.notes(db, 1)
    assert (notes[-1]["symbol"], notes[-1]["text"], notes[-1]["who"]) == ("followed", "it follows me", "ana")
    assert "followed it follows me" in cli(ws.home, "models")
    shown = cli(ws.home, "model", "show", "g1")
    assert "lineage: g1" in shown and "best  step" in shown


def test_training_yields_to_a_recording_take(trained, tmp_path):
    """While a take records, the worker drops to one thread and a lower priority."""
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.store.notations import store_notation
    from rehearsal.store.sessions import get_or_create_session
    from rehearsal.store.takes import create_take, finish_take

    ws, ds = trained
    db = open_db(ws.db_path)
    nid = store_notation(db, load_notation(find_notation("jam-reactions")))
    sid = get_or_create_session(db, "monday", nid)
    take = create_take(db, session_id=sid, number=1, path="audio/monday/t1.w64", format="W64", subtype="FLOAT",
                       sample_rate=48000, channels=1, device="test", notation_id=nid)
    try:
        request = T.make_request(db, T.resolve_dataset(ws, db, str(ds)), "one-shot", max_steps=2,
                                 params={**TINY, "checkpoints": "1"})
        (gid,) = T.plan_generations(ws, db, request)
        run = T.start_run(ws, gid, threads=2)
        events = list(run.events(timeout=RUN_TIMEOUT))
        assert run.wait(RUN_TIMEOUT) == 0
    finally:
        finish_take(db, take, frames=0, overflows=0)
    assert any(e["event"] == "notice" and "a take is recording" in e["message"] for e in events)


def test_clear_errors(trained, tmp_path):
    ws, ds = trained
    runner = CliRunner()

    def fails(*args) -> str:
        r = runner.invoke(main, ["--home", str(ws.home), *args])
        assert r.exit_code != 0, r.output
        return r.output

    assert "no CUDA device" in fails("train", "-d", str(ds), "--device", "cuda")
    assert "no such folder or dataset version" in fails("train", "-d", str(tmp_path / "nowhere"))
    assert "unknown setting 'bogus'" in fails("train", "-d", str(ds), "-p", "bogus=1")
    assert "no training strategy 'sideways'" in fails("train", "-d", str(ds), "-s", "sideways")
    assert "the pitch family cannot be steered by symbols (families that can: latent)" in fails(
        "train", "-d", str(ds), "--condition", "symbols")
    bare = synthetic.write_dataset(tmp_path / "bare", [("untagged", synthetic.plucked(0.5), [])])
    assert "carries a symbol" in fails("train", "-d", str(bare), "-f", "latent", "--scratch", "--condition", "symbols")
    assert "no generation g99" in fails("render", "g99", str(ds / "clips" / "000-pluck0.wav"), str(tmp_path / "o.wav"))
    assert "has no checkpoint at step 3" in fails("export", "g1", "--checkpoint", "3")
    assert "no current generation yet" in fails("model", "back", "--scope", "solo")
    meta = json.loads(cli(ws.home, "models", "--json"))
    assert meta[0]["name"] == "g1"


def test_trains_on_a_curated_dataset_version(workspace, db):
    """`--dataset NAME` goes through curation: the version is materialised, and the
    generation records its id."""
    from rehearsal.curation import commit, dataset_version_id, preview
    from tests.support.curation_fixtures import CurationWorld, step

    world = CurationWorld.create(workspace, db)
    take = world.add_take()
    for part in ("a3", "a4", "plucks", "a2"):
        world.tag_part(take, "good", part)
    commit(preview(world.ws, db, world.pipeline(step("loudness-gate", min_db=-40)), [world.session]), "voice")
    out = cli(workspace.home, "train", "-d", "voice", "--steps", "3", "--threads", "1",
              *params(eval_every_steps=3))
    assert "convergent on voice (4 clips): g1" in out and "g1 complete" in out
    g = T.get_generation(db, "g1")
    assert g["dataset_version_id"] == dataset_version_id(db, "voice") and g["dataset_ref"] == "voice"
    assert g["dataset_folder"] == "datasets/voice-v1"
