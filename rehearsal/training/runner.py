"""Start, watch, cancel and resume training runs, each in its own process (no torch here).

    ids = plan_generations(ws, db, request, device="cpu")     # the strategy decides
    run = start_run(ws, ids[0], threads=2)                     # spawns the worker
    for event in run.events(): ...                             # progress, until it ends
    cancel_run(ws, db, "g7")                                   # from any process
    run = start_run(ws, 7, resume=True)                        # continue from last.pt

The TUI can call these from its event loop: `TrainingRun.poll()` never blocks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..launch import python_module
from ..store import Workspace
from . import generations as gens
from .dataset import DatasetInfo
from .progress import ProgressReader
from .spec import RunSpec, TrainRequest


def make_request(db, dataset: DatasetInfo, strategy: str, *, family: str | None = None, parent_ref=None,
                 scratch: bool = False, budget_s: float | None = None, max_steps: int | None = None,
                 seed: int | None = None, count: int = 1, params: dict | None = None) -> TrainRequest:
    """A request with its parent resolved. Strategies that follow the current model
    (`uses_current_as_parent`) start from it unless told --scratch or another --from."""
    from .strategy import get_strategy

    strat = get_strategy(strategy)
    parent = None
    if parent_ref is not None:
        parent = gens.get_generation(db, parent_ref)
        if parent["status"] != "complete":
            raise ValueError(f"{parent['name']} is {parent['status']}: only a complete generation can be a parent")
    elif not scratch and getattr(strat, "uses_current_as_parent", False):
        current = gens.current_generation(db)
        if current is not None and (family is None or current["family"] == family):
            parent = current
    return TrainRequest(dataset=dataset, strategy=strategy, family=family, parent=parent, scratch=scratch,
                        budget_s=budget_s, max_steps=max_steps, seed=seed, count=count, params=dict(params or {}))


def plan_generations(ws: Workspace, db, request: TrainRequest, *, device: str = "cpu") -> list[int]:
    """Ask the strategy for run specs and record one queued generation per spec."""
    from .strategy import get_strategy

    specs: list[RunSpec] = get_strategy(request.strategy).plan(request)
    if not specs:
        raise ValueError(f"strategy {request.strategy} planned no run for this dataset")
    batch = uuid.uuid4().hex[:12]
    ds = request.dataset
    return [gens.create_generation(db, spec, dataset_ref=ds.ref, dataset_version_id=ds.version_id,
                                   dataset_folder=ws.relative(ds.folder), dataset_hash=ds.content_hash,
                                   batch=batch, device=device) for spec in specs]


@dataclass
class TrainingRun:
    generation_id: int
    folder: Path
    process: subprocess.Popen
    reader: ProgressReader = field(init=False)
    ended: dict | None = None

    def __post_init__(self) -> None:
        self.reader = ProgressReader(self.folder / "progress.jsonl", _size(self.folder / "progress.jsonl"))

    def poll(self) -> list[dict]:
        """New progress events, without waiting."""
        events = self.reader.read()
        for e in events:
            if e.get("event") == "end":
                self.ended = e
        return events

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def events(self, interval: float = 0.2, timeout: float | None = None):
        """Yield events until the process exits (then the last ones), or `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            yield from self.poll()
            if not self.running:
                yield from self.poll()
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"g{self.generation_id} still running after {timeout} s")
            try:
                self.process.wait(interval)  # wakes at once when the process ends
            except subprocess.TimeoutExpired:
                pass

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(timeout)
        self.poll()
        return code

    def cancel(self) -> None:
        (self.folder / "cancel").touch()
        if self.running:
            self.process.send_signal(signal.SIGINT)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def start_run(ws: Workspace, generation_id: int, *, resume: bool = False, threads: int | None = None,
              low_priority: bool = False, device: str = "cpu", set_current: str | None = None,
              max_steps: int | None = None, db=None) -> TrainingRun:
    """Spawn the worker for a queued (or, with resume, a cancelled) generation."""
    from ..store import open_db

    own = db is None
    db = db or open_db(ws.db_path)
    try:
        gen = gens.get_generation(db, generation_id)
        if gen["status"] == "running" and gens._alive(gen["pid"]):
            raise RuntimeError(f"{gen['name']} is already running (pid {gen['pid']})")
        if gen["status"] == "complete":
            raise RuntimeError(f"{gen['name']} is complete: train a new generation from it (--from {gen['name']})")
        if gen["status"] in ("cancelled", "failed", "running") and not resume:
            raise RuntimeError(f"{gen['name']} is {gen['status']}: resume it (--resume {gen['name']})")
        if resume:
            _check_resumable(ws, db, gen)
    finally:
        if own:
            db.conn.close()
    folder = ws.resolve(gen["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cancel").unlink(missing_ok=True)
    cmd = python_module("rehearsal.training.worker", "--home", str(ws.home),
                        "--generation", str(generation_id), "--device", device)
    if resume:
        cmd.append("--resume")
    if max_steps is not None:
        cmd += ["--max-steps", str(max_steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    if low_priority:
        cmd.append("--low-priority")
    if set_current is not None:
        cmd += ["--set-current", set_current]
    log = open(folder / "worker.log", "ab")
    # its own session: a Ctrl-C in the terminal reaches the CLI, which cancels cleanly
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    return TrainingRun(generation_id, folder, proc)


# what a run leaves to resume from: rehearsal's loop, and acids-rave's (the rave strategy)
SAVES = ("last.pt", "best.pt", "step-*.pt", "rave-runs/**/*.ckpt")


def _check_resumable(ws: Workspace, db, gen: dict) -> None:
    """Refuse in words a resume that would silently start again: it trained, yet left no file."""
    folder = ws.resolve(gen["folder"])
    if any(next(folder.glob(p), None) for p in SAVES):
        return
    if gens.list_checkpoints(db, gen["id"]) or gen["metrics"].get("steps"):
        raise RuntimeError(f"{gen['name']} cannot resume: it trained to step {gen['metrics'].get('steps', '?')}, "
                           f"but no checkpoint is left in {folder} (last.pt, best.pt or step-*.pt); "
                           "train a new generation instead")


def describe_end(ws: Workspace, db, run: "TrainingRun") -> str | None:
    """A worker that ended without its `end` event (killed, crashed before it could say why),
    in words: how it ended, where it got to, and what is on disk to resume from."""
    if run.ended is not None or run.running:
        return None
    code = run.process.returncode
    if code is not None and code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with status {code}"
    gens.reconcile(db)
    gen = gens.get_generation(db, run.generation_id)
    steps = gen["metrics"].get("steps")
    saved = sorted((p for g in SAVES for p in run.folder.glob(g)),
                   key=lambda p: p.stat().st_mtime)
    tail = ""
    log = run.folder / "worker.log"
    if code and code > 0 and log.is_file():
        lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
        if lines:
            tail = f"; its log ends: {lines[-1][:200]}"
    where = f" after step {steps}" if steps else ""
    newest = f"; newest save on disk: {saved[-1].name}" if saved else "; no checkpoint on disk"
    return (f"{gen['name']}: the training process {how}{where} without finishing{newest}{tail}; "
            f"continue with `rehearsal train --resume {gen['name']}`")


def cancel_run(ws: Workspace, db, ref) -> dict:
    """Ask a run to stop (from any process): the cancel file, then SIGINT to its worker."""
    gen = gens.get_generation(db, ref)
    if gen["status"] not in ("queued", "running"):
        raise RuntimeError(f"{gen['name']} is {gen['status']}: nothing to cancel")
    folder = ws.resolve(gen["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cancel").touch()
    if gen["status"] == "queued":
        gens.mark_finished(db, gen["id"], "cancelled", error="cancelled before it started")
    elif gen["pid"]:
        try:
            os.kill(gen["pid"], signal.SIGINT)
        except ProcessLookupError:
            pass
    return gen


def progress_path(ws: Workspace, gen: dict) -> Path:
    return ws.resolve(gen["folder"]) / "progress.jsonl"


def previews(ws: Workspace, db, ref) -> dict[str, list[Path]]:
    """Preview WAVs of a generation by checkpoint ('input' holds the probe clips themselves)."""
    gen = gens.get_generation(db, ref)
    root = ws.resolve(gen["folder"]) / "previews"
    out: dict[str, list[Path]] = {}
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            out[sub.name] = sorted(sub.glob("*.wav"))
    return out
