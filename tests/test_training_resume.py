"""Resume after a kill: real `rehearsal train` processes and real worker processes (torch on one
thread, tiny budgets). A kill -9 of the worker is told in words; `--resume` continues from the
newest checkpoint on disk (last.pt may be missing), honours `--steps`, and never replaces the
best checkpoint with a worse one; SIGTERM to `rehearsal train` stops its worker too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearsal import training as T
from rehearsal.cli import main
from rehearsal.store import Workspace, open_db
from rehearsal.training.progress import read_all
from tests.support.training import params, pluck_dataset

TIMEOUT = 120
SMALL = dict(noise_table=4096, width=32, hidden=32)    # a small pitch model: quick to build, step and save


def _cli_process(home: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rehearsal", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(what, predicate, timeout: float = TIMEOUT):
    """Poll a condition on real files (the worker's progress.jsonl) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _events(ws: Workspace, gen_id: int) -> list[dict]:
    try:
        db = open_db(ws.db_path)
        folder = ws.resolve(T.get_generation(db, gen_id)["folder"])
        db.conn.close()
    except LookupError:
        return []
    path = folder / "progress.jsonl"
    return read_all(path) if path.exists() else []


def best_val_on_disk(folder: Path) -> float | None:
    """The validation loss best.pt was kept for, read from the file itself."""
    import json

    import torch

    payload = torch.load(str(folder / "best.pt"), map_location="cpu", weights_only=True)
    return json.loads(payload["metrics_json"])["last_val_loss"]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state          # a zombie has stopped running


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    return root / "ws", pluck_dataset(root / "plucks")


def test_kill9_is_told_and_resume_continues_from_the_newest_checkpoint_keeping_the_best(home):
    home, ds = home
    cli = _cli_process(home, "train", "-d", str(ds), "--steps", "400", "--seed", "2", "--threads", "1",
                       *params(eval_every_steps=2, patience=0, **SMALL))
    ws = Workspace.at(home)
    _wait_for("a best checkpoint", lambda: [e for e in _events(ws, 1)
                                           if e["event"] == "checkpoint" and e["step"] >= 4])
    db = open_db(ws.db_path)
    worker = T.get_generation(db, 1)["pid"]
    os.kill(worker, signal.SIGKILL)
    out, err = cli.communicate(timeout=TIMEOUT)
    assert cli.returncode == 1
    assert "g1: the training process was killed by SIGKILL" in err and "--resume g1" in err, err

    folder = ws.resolve(T.get_generation(db, 1)["folder"])
    (folder / "last.pt").unlink(missing_ok=True)          # killed before its first resume save
    best_before = best_val_on_disk(folder)
    assert best_before is not None
    saved_step = max(e["step"] for e in _events(ws, 1) if e["event"] == "checkpoint")
    before = len(_events(ws, 1))

    result = CliRunner().invoke(main, ["--home", str(home), "train", "--resume", "g1", "--steps",
                                       str(saved_step + 4), "--threads", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = _events(ws, 1)[before:]
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert any(e["event"] == "notice" and f"resuming at step {saved_step} from best.pt" in e["message"]
               for e in events), events
    assert steps[0] == saved_step + 1 and steps[-1] == saved_step + 4      # continued, and --steps honoured
    g = T.get_generation(db, 1)
    assert g["status"] == "complete" and g["metrics"]["steps"] == saved_step + 4
    assert best_val_on_disk(folder) <= best_before                       # the best so far never lost


def test_resume_without_any_checkpoint_refuses_in_words(home):
    home, ds = home
    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    folder = ws.resolve(T.get_generation(db, 1)["folder"])
    for p in list(folder.glob("*.pt")):
        p.unlink()
    db.execute("UPDATE generations SET status = 'cancelled' WHERE id = 1")
    result = CliRunner().invoke(main, ["--home", str(home), "train", "--resume", "g1", "--steps", "500"])
    assert result.exit_code != 0
    assert "g1 cannot resume" in result.output and "no checkpoint is left" in result.output, result.output


def test_sigterm_to_train_stops_its_worker(home):
    home, ds = home
    ws = Workspace.at(home)
    cli = _cli_process(home, "train", "-d", str(ds), "--scratch", "--steps", "5000", "--seed", "3",
                       "--threads", "1", *params(eval_every_steps=50, patience=0, **SMALL))
    db = open_db(ws.db_path)
    gen_id = max(g["id"] for g in _wait_for("the new generation", lambda: [
        g for g in T.list_generations(db) if g["id"] > 1 and g["pid"]]))
    _wait_for("a training step", lambda: [e for e in _events(ws, gen_id) if e["event"] == "step"])
    worker = T.get_generation(db, gen_id)["pid"]
    cli.send_signal(signal.SIGTERM)
    out, err = cli.communicate(timeout=TIMEOUT)
    assert _gone(worker), f"worker {worker} still running after SIGTERM to rehearsal train"
    g = T.get_generation(db, gen_id)
    assert g["status"] == "cancelled" and "--resume" in out, (out, err)
