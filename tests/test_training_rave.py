"""RAVE trained from rehearsal through the real acids-rave 2.3.1 (scripts/setup-rave's venv).

One tiny run shared by the module (v2_small as shipped; only --batch, --n_signal,
--max_steps, --val_every, --save_every, --workers and --gpu -1 changed, and --channels, which
2.3.1's train.py needs): from a dataset version to an imported generation played through the
host on JACK; a convergent child from it, checked against its parent before its first step;
and a one-shot, cancelled after its first step and resumed, stopped by its disk budget.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from rehearsal import training as T
from rehearsal.cli import main
from rehearsal.curation import commit, load_pipeline, start_run
from rehearsal.store import Workspace, open_db
from rehearsal.training.progress import read_all
from rehearsal.training.spec import SpecError
from tests.support.curation_fixtures import SR, CurationWorld, harmonic, step
from tests.support.rave_model import rave_venv

RUN_TIMEOUT = 600
TINY = {"config": "v2_small", "batch": "2", "n_signal": "32768", "val_every": "2", "save_every": "2",
        "workers": "0"}


def cli(home, *args) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _params(rave: str, **extra) -> list[str]:
    out = []
    for k, v in {**TINY, "rave": rave, **extra}.items():
        out += ["-p", f"{k}={v}"]
    return out


@pytest.fixture(scope="module")
def rave_run(tmp_path_factory):
    """g1: a RAVE run of 2 steps from dataset version voice@1 (`rehearsal train`): the run and
    the model it made. Cancel and resume are the one-shot's (a run of its own either way)."""
    venv = rave_venv()
    ws = Workspace.at(tmp_path_factory.mktemp("rave") / "ws")
    db = open_db(ws.db_path)
    world = CurationWorld.create(ws, db)
    rng = np.random.default_rng(4)
    take = world.add_take(np.concatenate([harmonic(float(f), 2 * SR, 0.2) for f in rng.uniform(110, 440, 13)])
                          .astype(np.float32))                       # 26 s: four RAVE chunks
    world.tag(take, "good", 0.05, 25.95, who="ana")
    path = world.write_pipeline(step("select-symbols", keep=["good"]))
    commit(start_run(ws, db, load_pipeline(path), ["monday"]).finish(), "voice", created_by="ana")
    rave = str(venv / "bin" / "rave")
    out = cli(ws.home, "train", "-d", "voice", "-s", "rave", "--steps", "2", *_params(rave))
    # the convergent child of g1 starts now and trains while the tests below judge g1 (one
    # of them plays it through JACK for 10 s): it is cancelled once its transfer's check is in
    child = _start_child(ws, db, rave)
    yield {"ws": ws, "db": db, "rave": rave, "out": out, "child": child}
    child["thread"].join(RUN_TIMEOUT)
    db.conn.close()


def _start_child(ws, db, rave: str) -> dict:
    import threading

    request = T.make_request(db, T.resolve_dataset(ws, db, "voice"), "rave", parent_ref="g1", max_steps=2,
                             params={**TINY, "rave": rave})
    [gid] = T.plan_generations(ws, db, request)
    run = T.start_run(ws, gid)
    done: dict = {"id": gid}

    def watch():
        try:
            for e in run.events(timeout=RUN_TIMEOUT):
                if e["event"] == "eval":     # the transfer's check, before the first step: enough
                    run.cancel()
            done["code"] = run.wait(60)
        except Exception as exc:             # said by the test that waits for it
            done["error"] = exc

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return {**done, "thread": thread, "result": done}


def test_a_dataset_version_becomes_one_rave_generation_with_its_lineage(rave_run):
    import hashlib

    ws, db = rave_run["ws"], rave_run["db"]
    gen = T.get_generation(db, "g1")
    assert "g1 complete" in rave_run["out"] and "g1 plays its export" in rave_run["out"], rave_run["out"]
    # one generation, as our own families make: the run, its progress and checkpoints, and the model
    assert [g["name"] for g in T.list_generations(db) if g["parent_id"] is None] == ["g1"]   # (g2: its child)
    assert gen["strategy"] == "rave" and gen["family"] == "rave" and gen["status"] == "complete"
    lineage = gen["metrics"]["lineage"]
    assert lineage["config"] == ["v2_small"] and lineage["steps"] == 2 == gen["metrics"]["steps"]
    assert lineage["n_signal"] == 65536 and lineage["tool"] == "acids-rave 2.3.1" and lineage["parent"] is None
    assert gen["dataset_version_id"] is not None and gen["dataset_ref"] == "voice" and len(gen["dataset_hash"]) == 64
    assert gen["metrics"]["sample_rate"] == 44100 and gen["metrics"]["last_val_loss"] is not None
    # acids-rave's own `rave export --streaming`, validated as nn~ calls it: told apart as RAVE by its
    # methods and attributes alone, played encode-decode, timed at the buffers it plays
    from rehearsal.training.imported import _family_of, module_info

    info = module_info(gen)
    assert _family_of(info.methods, info.attributes) == "rave" and info.play == "encode-decode"
    assert set(info.methods) >= {"encode", "decode", "forward"} and info.latent_size >= 1
    assert info.play_buffer > 0 and info.realtime_factors and all(f > 0 for f in info.realtime_factors.values())
    # one RAVE checkpoint kept (the one exported; resume.ckpt gone too) and the model it plays
    folder = ws.resolve(gen["folder"])
    ckpts = sorted((folder / "rave-runs").rglob("*.ckpt"))
    assert len(ckpts) == 1 and ws.relative(ckpts[0]) == lineage["checkpoint"]
    rows = T.list_checkpoints(db, gen["id"])
    assert sorted(r["kind"] for r in rows) == ["best", "final"]
    assert next(r for r in rows if r["kind"] == "best")["path"] == lineage["checkpoint"]
    played = T.checkpoint_for(db, gen)
    assert played["kind"] == "final" and played["path"] == ws.relative(folder / "model.ts") and played["step"] == 2
    # its previews: at the checkpoint (the driver), and through the exported model as the host plays it
    previews = T.previews(ws, db, "g1")
    assert [p.name for p in previews["final"]] == [p.name for p in previews["input"]]
    assert played["previews"] == ws.relative(folder / "previews" / "final")
    audio, sr = sf.read(str(previews["final"][0]), dtype="float32")
    assert sr == 48000 and np.isfinite(audio).all() and np.abs(audio).max() > 1e-4
    # the lineage file beside the export: what travels home when the run was made elsewhere
    ts = folder / "export" / "g1_streaming.ts"
    doc = json.loads((folder / "export" / "g1_streaming.lineage.json").read_text())
    assert doc["format"] == "rehearsal-lineage" and doc["generation"] == "g1" and doc["family"] == "rave"
    assert doc["model_sha256"] == hashlib.sha256(ts.read_bytes()).hexdigest()
    assert doc["dataset"] == {"ref": "voice", "version_id": gen["dataset_version_id"], "sha256": gen["dataset_hash"]}
    assert doc["parent"] is None and doc["facts"]["steps"] == 2 and doc["facts"]["config"] == ["v2_small"]


def test_progress_comes_from_raves_logs_with_previews_at_its_checkpoints(rave_run):
    ws, db = rave_run["ws"], rave_run["db"]
    run = T.get_generation(db, "g1")
    events = read_all(T.progress_path(ws, run))
    # the validation split was too small for n_signal 32768: the strategy set it, and said so
    assert any("n_signal 32768 -> 65536" in e.get("message", "") for e in events)
    steps = [e for e in events if e["event"] == "step"]
    assert {e["phase"] for e in steps} == {"warmup"} and [e["step"] for e in steps] == [1, 2]
    assert [e["fraction"] for e in steps] == [0.5, 1.0]
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [2] and np.isfinite(evals[0]["val_loss"])
    assert set(evals[0]["fidelity"]) == {"fidelity_0.8", "fidelity_0.9", "fidelity_0.95", "fidelity_0.99"}
    assert run["metrics"]["last_val_loss"] == pytest.approx(evals[-1]["val_loss"])
    saved = [e for e in events if e["event"] == "checkpoint"]
    assert saved and all(e["step"] == 2 for e in saved)
    previews = T.previews(ws, db, "g1")
    assert len(previews["input"]) >= 1 and len(previews["step-000002"]) == len(previews["input"])
    audio, sr = sf.read(str(previews["step-000002"][0]), dtype="float32")
    assert sr == 44100 and np.isfinite(audio).all() and np.abs(audio).max() > 1e-4


def test_the_imported_rave_model_plays_ten_seconds_through_the_host_on_jack(rave_run, jack_server, tmp_path):
    from tests.test_imported_models import _play_through_jack     # the import tests' JACK rig, as they play

    ws, db = rave_run["ws"], rave_run["db"]
    gen = T.get_generation(db, "g1")
    stopped, _, model, loaded, _, _ = _play_through_jack(tmp_path, str(ws.resolve(T.checkpoint_for(db, gen)["path"])),
                                                   gen["id"])
    assert stopped["frames"] >= 10 * 48000 and loaded["latency_samples"] > 0
    assert len(model) and np.isfinite(model).all() and np.abs(model).max() > 1e-4    # finite, not silent


def test_a_convergent_child_starts_where_its_parent_ended(rave_run):
    ws, db = rave_run["ws"], rave_run["db"]
    child = rave_run["child"]["id"]
    assert T.get_generation(db, child)["label"] == "rave from g1 v2_small"
    rave_run["child"]["thread"].join(RUN_TIMEOUT)      # started by the fixture, beside the other tests
    result = rave_run["child"]["result"]
    assert "error" not in result and result.get("code") == 0, result
    g = T.get_generation(db, child)
    assert g["status"] == "cancelled" and g["parent_id"] == 1, g["error"]
    first = next(e for e in read_all(T.progress_path(ws, g)) if e["event"] == "eval")
    parent_last = T.get_generation(db, "g1")["metrics"]["last_val_loss"]
    assert first["before_training"] and first["step"] == 0
    # weights only, from the parent's checkpoint: the child's first validation is the parent's last
    assert abs(first["val_loss"] - parent_last) <= 0.01 * parent_last, (first["val_loss"], parent_last)
    print(f"transfer: parent's last validation {parent_last:.6f}, child's first {first['val_loss']:.6f}")


def test_a_one_shot_rave_run_keeps_its_checkpoints_as_waste_across_a_resume_within_its_disk_budget(rave_run):
    """One-shot: a fixed short budget (4 steps, a checkpoint every step), cancelled after its
    first step and resumed (`rehearsal train --resume`): every step's checkpoint kept
    (acids-rave's own counter would start again at the resume and overwrite epoch_1.ckpt),
    the newest exported as the generation's model. Its disk budget holds 3.5 checkpoints:
    resume.ckpt, epoch_1.ckpt and epoch_2.ckpt fill it, and step 3's checkpoint is refused
    before it is written: the run stops there, in words, and plays step 2's."""
    from rehearsal.training.rave import CKPT_BYTES

    ws, db = rave_run["ws"], rave_run["db"]
    size = CKPT_BYTES["v2_small"]
    budget = int(3.5 * size)
    request = T.make_request(db, T.resolve_dataset(ws, db, "voice"), "rave", max_steps=4,
                             params={**TINY, "rave": rave_run["rave"], "mode": "one-shot", "save_every": "1",
                                     "val_every": "1000", "disk_budget": f"{budget}B"})
    [gid] = T.plan_generations(ws, db, request)
    g = T.get_generation(db, gid)
    run = T.start_run(ws, gid)
    for e in run.events(timeout=RUN_TIMEOUT):
        if e.get("at_step") == 0:        # rave train started: it stops after its first step
            run.cancel()
    assert run.wait(60) == 0, (ws.resolve(g["folder"]) / "worker.log").read_text()[-3000:]
    cancelled = T.get_generation(db, gid)
    assert cancelled["status"] == "cancelled" and cancelled["metrics"]["steps"] == 1
    folder = ws.resolve(g["folder"])
    assert "resume.ckpt" in [p.name for p in (folder / "rave-runs").rglob("*.ckpt")]
    out = cli(ws.home, "train", "--resume", g["name"])
    g = T.get_generation(db, gid)
    assert g["status"] == "complete", (g["error"], out)
    assert f"{g['name']} plays its export" in out, out
    events = read_all(T.progress_path(ws, g))
    assert [e["status"] for e in events if e["event"] == "end"] == ["cancelled", "complete"]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3]     # step 1 once, then on
    assert [e["at_step"] for e in events if e.get("at_step") is not None] == [0, 1]
    # the disk budget: step 3's checkpoint was refused before it was written, the run stopped there
    [refusal] = [e for e in events if e.get("stop") == "disk"]
    assert refusal["step"] == 3, refusal
    assert f"over its disk budget of {budget / 1e6:.0f} MB: not written" in refusal["message"], refusal
    assert refusal["bytes"] <= budget < refusal["bytes"] + refusal["need"]
    refused_file = refusal["message"].split(": ")[1].split(" (")[0]
    assert refused_file == "epoch_3.ckpt" and not list(folder.rglob(refused_file))      # never on disk
    assert g["metrics"]["stop_reason"] == "disk" and g["metrics"]["steps"] == 2          # step 2's model
    waste = sorted((r for r in T.list_checkpoints(db, gid) if r["kind"] == "waste"), key=lambda r: r["step"])
    assert [r["step"] for r in waste] == [1, 2], [(r["step"], r["path"]) for r in waste]
    files = [ws.resolve(r["path"]) for r in waste]
    assert all(f.is_file() for f in files) and len({f.name for f in files}) == 2
    assert all(0.9 * size < f.stat().st_size < 1.1 * size for f in files)       # the budget's premise
    assert sorted(p for p in (folder / "rave-runs").rglob("*.ckpt")) == sorted(files)     # nothing else left
    assert all((folder / "previews" / f"step-{s:06d}").is_dir() for s in (1, 2))
    played = T.checkpoint_for(db, g)
    assert played["kind"] == "final" and played["step"] == 2 and (folder / "model.ts").is_file()
    lineage = g["metrics"]["lineage"]
    assert lineage["steps"] == 2 and lineage["checkpoints_kept"] == 2 and lineage["mode"] == "one-shot"


# -- the plan, without running anything -------------------------------------------------------------

def _request(tmp_path, **kw):
    from rehearsal.training.dataset import DatasetInfo
    from rehearsal.training.spec import TrainRequest

    ds = DatasetInfo(tmp_path, "x", None, "h", ())
    return TrainRequest(dataset=ds, strategy="rave", **kw)


def test_the_plan_says_how_to_install_rave_when_it_is_missing(tmp_path):
    strategy = T.get_strategy("rave")
    with pytest.raises(SpecError, match="scripts/setup-rave"):
        strategy.plan(_request(tmp_path, params={"rave": str(tmp_path / "nowhere" / "rave")}))


def test_one_shot_keeps_every_checkpoint_that_fits_its_disk_budget(tmp_path):
    rave = rave_venv() / "bin" / "rave"
    [spec] = T.get_strategy("rave").plan(_request(tmp_path, max_steps=1000, params={
        "mode": "one-shot", "config": "v2", "rave": str(rave), "disk_budget": "1GB", "checkpoints": "4"}))
    assert spec.keep == "all" and not spec.validation
    # a v2 checkpoint is about 465 MB: two fit in 1 GB, so it saves every 500 steps
    assert spec.family_params["save_every"] == 500 and spec.family_params["disk_budget_bytes"] == 10**9
    with pytest.raises(SpecError, match="not RAVE"):
        T.get_strategy("rave").plan(_request(tmp_path, parent={"id": 1, "name": "g1", "family": "pitch"},
                                             params={"rave": str(rave)}))


def test_too_little_audio_for_raves_validation_is_refused_in_words():
    from rehearsal.training.rave_driver import choose_n_signal

    v2 = {"ratio": 2048, "latent_size": 128, "sampling_rate": 44100}
    assert choose_n_signal(200, 131072, v2)[0] == 131072                  # 4 validation chunks x 64 frames
    n, why = choose_n_signal(40, 131072, v2)                              # 1 chunk: needs 128 x 2048 samples
    assert n == 262144 and "131072 -> 262144" in why
    n, why = choose_n_signal(40, 131072, {**v2, "latent_size": 256})
    assert n is None and "the 256 its latent PCA needs" in why and "100 chunks (10 min) of audio" in why
    n, why = choose_n_signal(1, 131072, v2)
    assert n is None and "no validation chunk" in why



def test_the_gpu_path_changes_only_raves_own_gpu_flags():
    """What was run where: no GPU here. `--device cuda` and `-p gpus=` become acids-rave's own
    --gpu flags (one per device: its multi-GPU); everything else is the CPU run's code path."""
    from rehearsal.training.rave import gpu_flags

    assert gpu_flags("cpu", None) == ["--gpu", "-1"]
    assert gpu_flags("cuda", None) == ["--gpu", "0"]
    assert gpu_flags("cuda:1", None) == ["--gpu", "1"]
    assert gpu_flags("cpu", "0,1") == ["--gpu", "0", "--gpu", "1"] == gpu_flags("cuda", " 0, 1 ")
