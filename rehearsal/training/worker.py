"""The training process: `python -m rehearsal.training.worker --home H --generation N`.

One generation per process, so the recorder and the TUI never share an interpreter (or a
GIL) with torch. The worker reads its generation's spec from the store, trains, writes
checkpoints and previews into models/g<N>/, streams progress to progress.jsonl, and
records the outcome. SIGINT, SIGTERM or a `cancel` file in the run folder stop it at the
next step: it saves `last.pt` (weights, optimizer, loop state) so the run can resume, and
marks the generation cancelled. Nothing here ever changes which generation is current,
except `--set-current` after a complete run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from ..store import Workspace, open_db
from . import generations as gens
from .progress import ProgressWriter

RECORDING_CHECK_S = 5.0
LOW_PRIORITY_NICE = 10


def recording_now(db) -> bool:
    try:
        return bool(list(db.query("SELECT 1 FROM takes WHERE status = 'recording' LIMIT 1")))
    except Exception:
        return False


class Stop:
    """Set by a signal or by the `cancel` file another process writes."""

    def __init__(self, flag_file: Path):
        self.flag_file = flag_file
        self.signalled = False

    def __call__(self, *_):
        self.signalled = True

    def requested(self) -> bool:
        return self.signalled or self.flag_file.exists()


class Priority:
    """Threads and niceness: one thread and nice +10 while a take records (or when asked)."""

    def __init__(self, progress: ProgressWriter, threads: int | None, low: bool):
        import torch

        self.torch, self.progress, self.lowered = torch, progress, False
        # default: every core (on a quiet 2-core machine two threads trained 1.6x faster
        # than one, bench/training.py); the TUI asks for one thread, leaving the audio a core,
        # and a take that starts recording drops the run to one thread (`lower`)
        torch.set_num_threads(threads or os.cpu_count() or 1)
        if low:
            self.lower("low priority asked")

    def lower(self, why: str) -> None:
        if self.lowered:
            return
        self.torch.set_num_threads(1)
        try:
            os.nice(LOW_PRIORITY_NICE)
        except OSError:
            pass
        self.lowered = True
        self.progress.write({"event": "notice", "message": f"{why}: training on 1 thread, low priority"})


def _rel(ws: Workspace, path: Path) -> str:
    return ws.relative(path)


def run(ws: Workspace, db, gen: dict, args, progress: ProgressWriter, stop: Stop) -> str:
    import torch

    from .checkpoints import best_val_on_disk, load_checkpoint, save_checkpoint
    from .data import prepare
    from .dataset import open_folder
    from .descriptors import DescriptorCache
    from .evaluation import baseline_loss, write_previews, write_probe_originals
    from .family import get_family
    from .loop import Hooks, LoopState, make_optimizer, train

    if args.max_steps is not None:               # `rehearsal train --resume G --steps N`
        spec = gens.set_max_steps(db, gen["id"], args.max_steps)
        gen = gens.get_generation(db, gen["id"])
    external = _external_runner(gen)
    if external is not None:                     # a strategy that drives another tool (rave)
        from .strategy import RunContext

        return external(RunContext(ws, db, gen, gens.spec_of(gen), ws.resolve(gen["folder"]), progress, stop,
                                   resume=args.resume, device=args.device, threads=args.threads,
                                   low_priority=args.low_priority))
    priority = Priority(progress, args.threads, args.low_priority)
    if recording_now(db):
        priority.lower("a take is recording")
    device = torch.device(args.device)
    spec = gens.spec_of(gen)
    folder = ws.resolve(gen["folder"])
    family = get_family(spec.family)

    dataset = open_folder(ws.resolve(gen["dataset_folder"]), gen["dataset_ref"], gen["dataset_version_id"])
    if dataset.content_hash != gen["dataset_hash"]:
        raise RuntimeError(f"the dataset at {dataset.folder} changed since {gen['name']} was planned "
                           "(its content hash differs): plan a new run")
    clips = dataset.with_symbols(spec.symbols) if spec.symbols else list(dataset.clips)
    if family.trains_by_analysis:
        return analyse(ws, db, gen, spec, family, dataset, clips, folder, progress)

    # -- the model: resumed, from scratch, or from the parent ------------------------------------
    last = folder / "last.pt"
    state, optimizer_state = LoopState(), None
    source = resume_source(folder, gen, db, progress) if args.resume else None
    if source is not None:
        model, meta = load_checkpoint(source, with_optimizer=True)
        state = loop_state_of(meta)
        optimizer_state = meta.get("optimizer")
        kept = best_val_on_disk(folder)      # never let a resumed run replace a better best.pt
        if kept is not None and (state.best_val is None or kept < state.best_val):
            state.best_val = kept
        how = "" if source == last else f" from {source.name} (last.pt is missing; a fresh optimizer)"
        progress.write({"event": "notice", "message": f"resuming at step {state.step}{how}"})
    elif spec.init == "scratch":
        torch.manual_seed(spec.seed)
        model = family.build(spec.family_params)
    else:
        parent = gens.get_generation(db, spec.parent_id)
        ckpt = gens.checkpoint_for(db, parent)
        model, _ = load_checkpoint(ws.resolve(ckpt["path"]))
        if spec.init == "perturbed-parent" and spec.perturb > 0:
            g = torch.Generator().manual_seed(spec.seed)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn(p.shape, generator=g) * spec.perturb * (p.std() if p.numel() > 1 else 1.0))
    model.to(device)

    data = prepare(dataset, clips, hop=model.hop, conditioning=tuple(model.conditioning),
                   val_fraction=spec.val_fraction if spec.validation else 0.0, probe_count=spec.probe_count,
                   probe_seconds=spec.probe_seconds, cache=DescriptorCache(ws.folder("models") / ".cache"),
                   pitch_window=int(model.config.get("yin_window", 2048)),
                   vocabulary=tuple(getattr(model, "symbols", ())))
    if spec.init == "scratch" and state.step == 0:
        import numpy as np

        joined = np.concatenate([c.audio for c in data.train])[: 120 * 48000]
        n = len(joined) // model.hop * model.hop
        audio = torch.zeros(1, model.context + n, device=device)
        audio[0, model.context:] = torch.as_tensor(joined[:n], device=device)
        model.fit_normalisation(audio)
    write_probe_originals(data.probes, folder / "previews" / "input")
    baseline = baseline_loss(data.train, data.val) if data.val else None

    optimizer = make_optimizer(model, spec)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)

    def metrics_of(st: LoopState, reason: str | None = None) -> dict:
        m = {"steps": st.step, "elapsed_s": round(st.elapsed_s, 3), "audio_s": round(st.audio_s, 2),
             "train_loss": st.train_loss, "val_loss": st.best_val if spec.validation else None,
             "last_val_loss": st.val_loss, "best_step": st.best_step, "baseline_val_loss": baseline,
             "skipped_steps": st.skipped_steps, "train_audio_s": round(data.train_seconds, 2),
             "val_clips": len(data.val), "device": str(device), "curve": st.curve}
        if reason:
            m["stop_reason"] = reason
        return m

    class WorkerHooks(Hooks):
        last_check = 0.0

        def progress(self, event: dict) -> None:
            progress.write(event)
            if event["event"] == "eval":
                gens.update_metrics(db, gen["id"], metrics_of(state))

        def should_stop(self) -> bool:
            return stop.requested()

        def between_steps(self) -> None:
            now = time.monotonic()
            if now - self.last_check >= RECORDING_CHECK_S:
                self.last_check = now
                if recording_now(db):
                    priority.lower("a take is recording")

        def keep_checkpoint(self, kind: str, model, optimizer, st: LoopState) -> None:
            name = "best" if kind == "best" else f"step-{st.step:06d}"
            path = folder / f"{name}.pt"
            kept = best_val_on_disk(folder) if kind == "best" else None
            if kept is not None and st.val_loss is not None and st.val_loss >= kept:
                return                                   # the best so far stays the best
            save_checkpoint(path, model, spec.family, step=st.step, elapsed_s=st.elapsed_s, metrics=metrics_of(st))
            previews = folder / "previews" / name
            if previews.exists():
                shutil.rmtree(previews)
            written = write_previews(model, data.probes, previews, device)
            gens.record_checkpoint(db, gen["id"], kind=kind, step=st.step, elapsed_s=st.elapsed_s,
                                   path=_rel(ws, path), train_loss=st.train_loss,
                                   val_loss=st.val_loss if kind == "best" else None, previews=_rel(ws, previews))
            progress.write({"event": "checkpoint", "kind": kind, "step": st.step, "path": _rel(ws, path),
                            "previews": [_rel(ws, p) for p in written],
                            "audio_rendered_s": round(sum(len(c.audio) for c in data.probes) / 48000, 2)})

        def save_resume(self, model, optimizer, st: LoopState) -> None:
            save_checkpoint(last, model, spec.family, step=st.step, elapsed_s=st.elapsed_s,
                            metrics={**metrics_of(st), "loop": st.to_dict()}, optimizer=optimizer)

    if stop.requested():
        return "cancelled", metrics_of(state, "cancelled")
    reason = train(model, optimizer, data, spec, state, WorkerHooks(), device)
    return reason, metrics_of(state, reason)


def _external_runner(gen: dict):
    from .strategy import get_strategy

    try:
        return get_strategy(gen["strategy"]).run_generation
    except LookupError:
        return None


def analyse(ws: Workspace, db, gen: dict, spec, family, dataset, clips, folder: Path,
            progress: ProgressWriter) -> tuple[str, dict]:
    """A family that trains by analysis (corpus): no steps; the same split, previews,
    validation loss, baseline and one checkpoint (best.pt) as a trained generation."""
    from .checkpoints import load_checkpoint, save_checkpoint
    from .corpus import cached_onsets
    from .data import prepare
    from .descriptors import DescriptorCache
    from .evaluation import baseline_loss, validation_loss, write_previews, write_probe_originals

    started = time.monotonic()
    data = prepare(dataset, clips, hop=256, conditioning=(), val_fraction=spec.val_fraction if spec.validation else 0.0,
                   probe_count=spec.probe_count, probe_seconds=spec.probe_seconds,
                   cache=DescriptorCache(ws.folder("models") / ".cache"))
    parent = None
    if spec.init != "scratch":
        parent, _ = load_checkpoint(ws.resolve(gens.checkpoint_for(db, gens.get_generation(db, spec.parent_id))["path"]))
    progress.write({"event": "start", "step": 0, "budget_s": spec.budget_s, "max_steps": spec.max_steps,
                    "train_audio_s": round(data.train_seconds, 2), "val_clips": len(data.val)})
    onsets = cached_onsets(ws, db, clips, {c.name for c in data.train})
    model = family.analyse(data, spec, parent, onsets)
    analysis_s = time.monotonic() - started
    write_probe_originals(data.probes, folder / "previews" / "input")
    val = validation_loss(model, data.val) if data.val else None
    metrics = {"steps": 0, "elapsed_s": round(time.monotonic() - started, 3), "analysis_s": round(analysis_s, 3),
               "units": model.size, "bank_s": round(model.bank_audio.shape[0] / 48000, 2),
               "curation_cache_clips": len(onsets), "parent_bank": bool(parent is not None),
               "train_loss": None, "val_loss": val, "last_val_loss": val, "best_step": 0,
               "baseline_val_loss": baseline_loss(data.train, data.val) if data.val else None,
               "train_audio_s": round(data.train_seconds, 2), "val_clips": len(data.val), "device": "cpu",
               "curve": [], "stop_reason": "analysed"}
    path = folder / "best.pt"
    save_checkpoint(path, model, spec.family, step=0, elapsed_s=metrics["elapsed_s"], metrics=metrics)
    previews = folder / "previews" / "best"
    written = write_previews(model, data.probes, previews)
    gens.record_checkpoint(db, gen["id"], kind="best", step=0, elapsed_s=metrics["elapsed_s"], path=_rel(ws, path),
                           train_loss=None, val_loss=val, previews=_rel(ws, previews))
    progress.write({"event": "checkpoint", "kind": "best", "step": 0, "path": _rel(ws, path),
                    "previews": [_rel(ws, p) for p in written], "analysis_s": metrics["analysis_s"],
                    "units": model.size})
    return "analysed", metrics


class ResumeRefused(RuntimeError):
    pass


def resume_source(folder: Path, gen: dict, db, progress: ProgressWriter) -> Path | None:
    """The newest checkpoint on disk to continue from; None when the run never saved anything
    (it then starts from the beginning); refuses in words when it trained but left no file."""
    from .checkpoints import newest_checkpoint

    source, problems = newest_checkpoint(folder)
    for line in problems:
        progress.write({"event": "notice", "message": f"skipped unreadable checkpoint {line}"})
    if source is not None:
        return source
    if gens.list_checkpoints(db, gen["id"]) or (gen.get("metrics") or {}).get("steps"):
        raise ResumeRefused(f"{gen['name']} cannot resume: it trained, but no readable checkpoint is left in "
                            f"{folder} (last.pt, best.pt or step-*.pt); train a new generation instead")
    progress.write({"event": "notice", "message": "nothing was saved before it stopped: starting at step 0"})
    return None


def loop_state_of(meta: dict):
    """The loop's state from a checkpoint: last.pt keeps it whole; best/step checkpoints keep
    the metrics it is rebuilt from."""
    from .loop import LoopState

    m = meta.get("metrics") or {}
    if m.get("loop"):
        return LoopState.from_dict(m["loop"])
    return LoopState(step=int(meta.get("step") or m.get("steps") or 0), elapsed_s=float(meta.get("elapsed_s") or 0.0),
                     audio_s=float(m.get("audio_s") or 0.0), best_val=m.get("val_loss"), best_step=m.get("best_step"),
                     train_loss=m.get("train_loss"), val_loss=m.get("last_val_loss"),
                     skipped_steps=int(m.get("skipped_steps") or 0), curve=list(m.get("curve") or []))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.training.worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--generation", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--max-steps", type=int, help="a new step budget (with --resume)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--low-priority", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set-current", metavar="SCOPE", help="make the generation current if it completes")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return work(parse_args(argv))


def work(args: argparse.Namespace, *, handle_signals: bool = True) -> int:
    """Train (or analyse) the generation `args` names and record how it ended; the exit
    status. SIGINT and SIGTERM stop it when it owns the process (`handle_signals`); the
    `cancel` file always does."""
    ws = Workspace.at(args.home)
    db = open_db(ws.db_path)
    try:
        return _work(ws, db, args, handle_signals)
    finally:
        db.conn.close()


def _work(ws: Workspace, db, args: argparse.Namespace, handle_signals: bool) -> int:
    gen = gens.get_generation(db, args.generation)
    folder = ws.resolve(gen["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    progress = ProgressWriter(folder / "progress.jsonl", gen["id"])
    stop = Stop(folder / "cancel")
    if handle_signals:
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
    gens.mark_running(db, gen["id"], os.getpid())
    try:
        reason, metrics = run(ws, db, gen, args, progress, stop)
    except ResumeRefused as exc:
        gens.mark_finished(db, gen["id"], "failed", error=str(exc))
        progress.write({"event": "end", "status": "failed", "error": str(exc)})
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        gens.mark_finished(db, gen["id"], "failed", error=error)
        progress.write({"event": "end", "status": "failed", "error": error})
        return 1
    if reason == "cancelled":
        gens.mark_finished(db, gen["id"], "cancelled", metrics=metrics)
        progress.write({"event": "end", "status": "cancelled", "reason": reason, "metrics": _brief(metrics)})
        return 0
    rows = gens.list_checkpoints(db, gen["id"])
    # what it plays: a model another tool made (`final`: a RAVE run's export), else its best
    chosen = next((r for r in rows if r["kind"] == "final"), None) or next(
        (r for r in rows if r["kind"] == "best"), rows[-1] if rows else None)
    if chosen is None:
        why = {"time": "its time budget ran out", "steps": "its steps ran out"}.get(metrics.get("stop_reason"),
                                                                                  "it stopped")
        error = (f"{why} at step {metrics.get('steps', 0)}, before its first checkpoint: "
                 "give it a longer budget")
        gens.mark_finished(db, gen["id"], "failed", metrics=metrics, error=error)
        progress.write({"event": "end", "status": "failed", "error": error})
        return 1
    gens.mark_finished(db, gen["id"], "complete", metrics=metrics, checkpoint_id=chosen["id"])
    (folder / "cancel").unlink(missing_ok=True)
    if args.set_current is not None:
        gens.set_current(db, gen["id"], by="training", scope=args.set_current)
    progress.write({"event": "end", "status": "complete", "reason": reason, "checkpoint": chosen["path"],
                    "metrics": _brief(metrics)})
    return 0


def _brief(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "curve"}


if __name__ == "__main__":
    sys.exit(main())
