"""Resume after a kill: real `rehearsal train` processes and real worker processes (torch on one
thread, tiny budgets). SIGTERM to `rehearsal train` stops its worker too; a kill -9 of the
worker is told in words; `--resume` continues from the newest checkpoint on disk (last.pt may
be missing), honours `--steps`, and never replaces the best checkpoint with a worse one.

One run carries every check (each training worker pays for a torch import): the worker that
SIGTERM stops leaves the checkpoints, a second worker is killed with SIGKILL as soon as it
runs, and the resume after it must continue from what the first one saved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from rehearsal import training as T
from rehearsal.cli import main
from rehearsal.launch import process_alive
from rehearsal.store import Workspace, open_db
from rehearsal.training.checkpoints import best_val_on_disk
from rehearsal.training.progress import read_all
from tests.support.training import params, pluck_dataset

TIMEOUT = 120
SMALL = dict(noise_table=4096, width=32, hidden=32)    # a small pitch model: quick to build, step and save


def _cli_process(home: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rehearsal", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(what, predicate, timeout: float = TIMEOUT):
    """Poll a condition on real files (the worker's progress.jsonl, the database) until it holds."""
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


def test_sigterm_stops_the_worker_kill9_is_told_and_resume_continues_from_the_newest_checkpoint(tmp_path):
    home, ds = tmp_path / "ws", pluck_dataset(tmp_path / "plucks")
    ws = Workspace.at(home)

    # SIGTERM to `rehearsal train` while its worker trains: the worker stops too (not orphaned)
    cli = _cli_process(home, "train", "-d", str(ds), "--steps", "400", "--seed", "2", "--threads", "1",
                       *params(eval_every_steps=2, patience=0, **SMALL))
    _wait_for("a checkpoint at step 4", lambda: [e for e in _events(ws, 1)
                                                if e["event"] == "checkpoint" and e["step"] >= 4])
    db = open_db(ws.db_path)
    first = T.get_generation(db, 1)["pid"]
    cli.send_signal(signal.SIGTERM)
    out, err = cli.communicate(timeout=TIMEOUT)
    assert not process_alive(first), f"worker {first} still running after SIGTERM to rehearsal train"
    g = T.get_generation(db, 1)
    assert g["status"] == "cancelled" and "--resume g1" in out, (out, err)

    folder = ws.resolve(g["folder"])
    (folder / "last.pt").unlink()          # as if killed before its resume save: best/step files are left
    best_before = best_val_on_disk(folder)
    assert best_before is not None
    newest = max((e for e in _events(ws, 1) if e["event"] == "checkpoint"), key=lambda e: e["step"])
    saved_step = newest["step"]

    # kill -9 of the resumed worker: `rehearsal train` says so in words, and how to go on
    cli = _cli_process(home, "train", "--resume", "g1", "--steps", "400", "--threads", "1")
    second = _wait_for("the resumed worker", lambda: [g["pid"] for g in [T.get_generation(db, 1)]
                                                        if g["status"] == "running" and g["pid"] != first])[0]
    os.kill(second, signal.SIGKILL)
    out, err = cli.communicate(timeout=TIMEOUT)
    assert cli.returncode == 1
    assert "g1: the training process was killed by SIGKILL" in err and "--resume g1" in err, err

    # --resume with last.pt missing: from the newest checkpoint on disk, --steps honoured, best kept
    before = len(_events(ws, 1))
    result = CliRunner().invoke(main, ["--home", str(home), "train", "--resume", "g1", "--steps",
                                       str(saved_step + 4), "--threads", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = _events(ws, 1)[before:]
    steps = [e["step"] for e in events if e["event"] == "step"]
    source = Path(newest["path"]).name
    assert any(e["event"] == "notice" and f"resuming at step {saved_step} from {source}" in e["message"]
               for e in events), events
    assert steps[0] == saved_step + 1 and steps[-1] == saved_step + 4      # continued, and --steps honoured
    g = T.get_generation(db, 1)
    assert g["status"] == "complete" and g["metrics"]["steps"] == saved_step + 4
    assert best_val_on_disk(folder) <= best_before                       # the best so far never lost

    # nothing left on disk to continue from: refused in words, not a silent start at step 0
    for p in list(folder.glob("*.pt")):
        p.unlink()
    db.execute("UPDATE generations SET status = 'cancelled' WHERE id = 1")
    result = CliRunner().invoke(main, ["--home", str(home), "train", "--resume", "g1", "--steps", "500"])
    assert result.exit_code != 0
    assert "g1 cannot resume" in result.output and "no checkpoint is left" in result.output, result.output
