"""Train RAVE (acids-rave 2.3.1) from a dataset version, as a separate program (no torch here).

The `rave` strategy (plugins/strategy_rave.py) plans a generation; the worker calls
`run_generation`, which, in the generation's folder models/g<N>/:

1. exports the dataset as joined files `rave preprocess` keeps whole (rehearsal.export.rave)
   and runs `rave preprocess` on them, once per dataset content: models/.cache/rave/<hash>/
   (export/, lmdb/), shared by every run (and resume) on the same dataset;
2. writes the probe clips (previews/input/) the run is heard through;
3. runs acids-rave's own `rave train` through rave_driver.py inside the acids-rave venv, with
   the named config(s) passed through (`--config v2 --config causal`), `--gpu -1` on CPU, one
   `--gpu N` per CUDA device asked (RAVE's multi-GPU), and the run's settings (--batch,
   --n_signal, --max_steps, --val_every, --save_every, --workers, --override); the driver
   checks the validation split's latent frames first (sets --n_signal or refuses in words),
   streams progress into progress.jsonl, renders previews at each checkpoint, transfers a
   parent's weights (convergent) and saves resume.ckpt when cancelled;
4. exports the newest checkpoint with `rave export --streaming` and makes the .ts this
   generation's model (rehearsal.training.imported.install_module: model.ts, kind `final`,
   the checkpoint play and render load), with a lineage of config, steps, n_signal, the
   checkpoint kept and the machine it ran on; renders previews/final through it; writes
   the lineage file beside the export (<name>_streaming.lineage.json, docs/training.md);
5. keeps one checkpoint (fresh, convergent: the one exported, kind `best`) or every one
   (one-shot, kind `waste`, within its disk budget).

So a RAVE run is one generation, like a run of our own families: its progress, previews,
RAVE's checkpoints (the one a convergent child transfers from) and the model it made,
played, compared and tagged like any other.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import generations as gens
from .progress import ProgressReader

RAVE_VERSION = "2.3.1"
DRIVER = Path(__file__).with_name("rave_driver.py")
REFUSED = 3                        # rave_driver.py's exit status for a refused run
INSTALL = ("build acids-rave's venv with scripts/setup-rave (acids-rave 2.3.1 in a venv of its own, a few "
           "minutes), or point the setting at one: -p rave=/path/to/venv/bin/rave (or $REHEARSAL_RAVE)")
# checkpoint sizes measured here (lightning .ckpt: weights, discriminator, both optimizers)
CKPT_BYTES = {"v2": 465_000_000, "v2_small": 121_000_000}
POLL_S = 0.5


class RaveError(RuntimeError):
    """A RAVE run that cannot go on; the message says why and what to do, in words."""


def default_venv() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("REHEARSAL_RAVE_VENV") or Path(base) / "rehearsal" / "rave-venv")


def find_rave(setting: str | None = None) -> Path:
    """The `rave` program: the setting (a `rave` file or a venv folder), $REHEARSAL_RAVE,
    scripts/setup-rave's venv, then PATH. Refuses in words, saying how to install it."""
    looked = []
    for raw in (setting, os.environ.get("REHEARSAL_RAVE")):
        if raw:
            p = Path(raw).expanduser()
            p = p / "bin" / "rave" if p.is_dir() else p
            if p.is_file() and os.access(p, os.X_OK):
                return p
            looked.append(str(p))
            raise RaveError(f"acids-rave's `rave` is not at {p}: {INSTALL}")
    p = default_venv() / "bin" / "rave"
    if p.is_file():
        return p
    looked.append(str(p))
    found = shutil.which("rave")
    if found:
        return Path(found)
    raise RaveError(f"acids-rave's `rave` program was not found (looked at {', '.join(looked)} and PATH): {INSTALL}")


def venv_python(rave: Path) -> Path:
    py = rave.parent / "python"
    if not py.exists():
        raise RaveError(f"{rave}: no python next to it ({py}); rehearsal's RAVE driver runs in the venv that holds "
                        f"acids-rave: {INSTALL}")
    return py


def config_names(raw) -> list[str]:
    names = [c.strip() for c in (raw if isinstance(raw, list) else str(raw).split(",")) if c.strip()]
    return names or ["v2"]


def check_configs(rave: Path, names: list[str]) -> None:
    """Every named config is one acids-rave ships (or a .gin file that exists)."""
    shipped = sorted({p.stem for p in rave.parent.parent.glob("lib/python*/site-packages/rave/configs/*.gin")})
    for n in names:
        if Path(n).suffix == ".gin" and Path(n).is_file():
            continue
        if shipped and n.removesuffix(".gin") not in shipped:
            raise RaveError(f"config {n!r} is not one acids-rave {RAVE_VERSION} ships: {', '.join(shipped)} "
                            "(or give a path to a .gin file)")


def gpu_flags(device: str, gpus: str | None) -> list[str]:
    """RAVE's own device flags: --gpu -1 on CPU, one --gpu N per CUDA device (several: its multi-GPU)."""
    if gpus:
        ids = [g.strip() for g in str(gpus).split(",") if g.strip()]
    elif device.startswith("cuda"):
        ids = [d for d in device.partition(":")[2].split(",") if d] or ["0"]
    else:
        return ["--gpu", "-1"]
    out = []
    for g in ids:
        out += ["--gpu", g]
    return out


def _say(progress, message: str, **extra) -> None:
    progress.write({"event": "notice", "message": message, **extra})


def _tail(path: Path, n: int = 12) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip() and "Warning" not in x]
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n:])


def _run_tool(cmd: list[str], log: Path, what: str, timeout: float | None = None, cwd: Path | None = None) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                              timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise RaveError(f"{what} failed (exit status {done.returncode}); the end of {log.name}:\n{_tail(log)}")


def prepare_dataset(ctx, rave: Path) -> tuple[Path, Path, int, int]:
    """The joined export and `rave preprocess`'s LMDB of the run's dataset (and symbols):
    made once per dataset content in models/.cache/rave/<hash>/, shared by every run on it.
    Returns (export folder, lmdb folder, chunks, channels)."""
    from ..curation.materialise import read_metadata
    from ..export.rave import export_rave_folder

    key = ctx.gen["dataset_hash"][:16] + ("-" + "+".join(sorted(ctx.spec.symbols)) if ctx.spec.symbols else "")
    root = ctx.ws.folder("models") / ".cache" / "rave"
    dest = root / key
    if (dest / "facts.json").exists():
        facts = json.loads((dest / "facts.json").read_text())
        _say(ctx.progress, f"rave preprocess: reusing {ctx.ws.relative(dest)} ({facts['chunks']} chunks)")
        return dest / "export", dest / "lmdb", facts["chunks"], facts["channels"]
    part = root / f"{key}.part-{os.getpid()}"
    shutil.rmtree(part, ignore_errors=True)
    (part / "export").mkdir(parents=True)
    dataset = ctx.ws.resolve(ctx.gen["dataset_folder"])
    records = [_complete(dataset, i, r) for i, r in enumerate(read_metadata(dataset))]
    if ctx.spec.symbols:
        records = [r for r in records if set(r["symbols"]) & set(ctx.spec.symbols)]
    plan = export_rave_folder(dataset, records, part / "export")
    _say(ctx.progress, plan.report().splitlines()[0], phase="export", chunks=plan.chunks)
    if plan.chunks == 0:
        shutil.rmtree(part, ignore_errors=True)
        raise RaveError(f"the dataset gives RAVE no whole chunk of 5.94 s ({plan.dataset_seconds:.1f} s in groups "
                        "shorter than one chunk): RAVE cannot train on it")
    cmd = [str(rave), "preprocess", "--input_path", str(part / "export"), "--output_path", str(part / "lmdb"),
           "--channels", str(plan.channels)]
    _say(ctx.progress, "rave preprocess", phase="preprocess")
    try:
        _run_tool(cmd, ctx.folder / "rave.log", "rave preprocess", cwd=ctx.folder)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    (part / "facts.json").write_text(json.dumps({"chunks": plan.chunks, "channels": plan.channels}))
    try:
        os.replace(part, dest)            # whole or absent; another run may have made it meanwhile
    except OSError:
        shutil.rmtree(part, ignore_errors=True)
    return dest / "export", dest / "lmdb", plan.chunks, plan.channels


def _complete(folder: Path, index: int, r: dict) -> dict:
    """A clip record as the RAVE export reads it: a plain folder's metadata.jsonl (path and
    symbols) gets its place, length and format from the file; a curation version has them."""
    if all(k in r for k in ("position", "sample_rate", "channels", "start_sample", "end_sample", "take_id")):
        return r
    import soundfile as sf

    info = sf.info(str(folder / r["path"]))
    return {"position": index, "take_id": f"clip-{index}", "start_sample": 0, "end_sample": info.frames,
            "sample_rate": info.samplerate, "channels": info.channels, "symbols": [], **r}


def write_probes(ctx, export: Path, count: int, seconds: float) -> list[Path]:
    """The first seconds of the first exported files: what every preview renders."""
    import soundfile as sf

    dest = ctx.folder / "previews" / "input"
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sorted(export.glob("*.wav"))[:count]:
        p = dest / f"probe{len(out) + 1}.wav"
        if not p.exists():
            info = sf.info(str(src))
            audio, sr = sf.read(str(src), frames=min(info.frames, int(seconds * info.samplerate)), dtype="float32")
            sf.write(str(p), audio, sr, subtype="FLOAT")
        out.append(p)
    return out


def parent_checkpoint(ws, db, spec) -> Path:
    """The RAVE checkpoint a convergent run takes its weights from."""
    p = spec.family_params
    if p.get("ckpt"):
        path = Path(p["ckpt"]).expanduser()
        if not path.is_file():
            raise RaveError(f"-p ckpt={p['ckpt']}: no such checkpoint file")
        return path
    parent = gens.get_generation(db, spec.parent_id)
    lineage = (parent.get("metrics") or {}).get("lineage") or {}
    if lineage.get("checkpoint"):
        path = ws.resolve(lineage["checkpoint"])
        if path.is_file():
            return path
        raise RaveError(f"{parent['name']}'s RAVE checkpoint {lineage['checkpoint']} is gone: its weights cannot be "
                        "transferred; train from scratch or give -p ckpt=PATH.ckpt")
    raise RaveError(f"{parent['name']} holds no RAVE training checkpoint (a model imported as a file keeps only its "
                    "export): give the run it came from with -p ckpt=PATH/TO/last.ckpt, or train from scratch")


def _ckpts(runs: Path) -> list[Path]:
    return sorted(runs.rglob("*.ckpt"), key=lambda q: q.stat().st_mtime) if runs.is_dir() else []


def train_command(ctx, rave: Path, lmdb: Path, channels: int, probes: list[Path], transfer: Path | None) -> list[str]:
    p = ctx.spec.family_params
    runs = ctx.folder / "rave-runs"
    driver = [str(venv_python(rave)), "-W", "ignore", str(DRIVER), "train", "--progress",
              str(ctx.folder / "progress.jsonl"), "--generation", str(ctx.gen["id"]),
              "--stop-file", str(ctx.folder / "cancel"), "--previews", str(ctx.folder / "previews")]
    for probe in probes:
        driver += ["--probe", str(probe)]
    if p.get("auto_n_signal", True):
        driver.append("--auto-n-signal")
    if transfer is not None:
        driver += ["--transfer", str(transfer)]
    if p.get("disk_budget_bytes"):
        driver += ["--disk-budget", str(int(p["disk_budget_bytes"]))]
    args = []
    for c in config_names(p.get("config")):
        args += ["--config", c]
    args += ["--db_path", str(lmdb), "--out_path", str(runs), "--name", ctx.gen["name"], "--channels", str(channels),
             "--batch", str(p.get("batch", 8)), "--n_signal", str(p.get("n_signal", 131072)),
             "--max_steps", str(ctx.spec.max_steps or 6_000_000), "--val_every", str(p.get("val_every", 10000)),
             "--workers", str(p.get("workers", 8))]
    if p.get("save_every"):
        args += ["--save_every", str(p["save_every"])]
    for o in p.get("override") or []:
        args += ["--override", o]
    args += gpu_flags(ctx.device, p.get("gpus"))
    if ctx.resume and _ckpts(runs):
        # upstream resume: the run folder (its config.gin) and its newest .ckpt (resume.ckpt
        # when cancelled): weights, optimizers, step
        newest = _ckpts(runs)[-1]
        run_dir = next(d for d in newest.parents if (d / "config.gin").exists())
        args += ["--ckpt", str(run_dir)]
    return driver + ["--", *args]


class _Watch:
    """What the driver's progress says (its disk budget's stop among it), and the stops
    rehearsal adds (time, cancel)."""

    def __init__(self, ctx, reader: ProgressReader):
        self.ctx, self.reader = ctx, reader
        self.step, self.evals, self.refused, self.stopped, self.disk = 0, [], None, False, None
        self.checkpoints: dict[str, dict] = {}
        self.train_loss = None

    def read(self) -> None:
        for e in self.reader.read():
            kind = e.get("event")
            if kind == "step":
                self.step = max(self.step, int(e.get("step") or 0))
                self.train_loss = e.get("loss", self.train_loss)
            elif kind == "eval":
                self.evals.append(e)
                gens.update_metrics(self.ctx.db, self.ctx.gen["id"], self.metrics())
            elif kind == "checkpoint":
                self.checkpoints[e["file"]] = e
            elif kind == "notice" and e.get("at_step") is not None:    # where a resumed run starts
                self.step = max(self.step, int(e["at_step"]))
            elif kind == "notice" and e.get("stop") == "disk":     # a checkpoint refused, not written
                self.disk = e["message"]
            elif kind == "refused":
                self.refused = e["message"]
            elif kind == "stopped":
                self.stopped = True

    def metrics(self, reason: str | None = None) -> dict:
        vals = [e for e in self.evals if not e.get("before_training")]
        first = self.evals[0] if self.evals else None
        m = {"steps": self.step, "train_loss": self.train_loss,
             "val_loss": min((e["val_loss"] for e in vals), default=None),
             "last_val_loss": vals[-1]["val_loss"] if vals else None,
             "first_val_loss": first["val_loss"] if first else None,
             "first_val_before_training": bool(first and first.get("before_training")),
             "device": self.ctx.device, "tool": f"acids-rave {RAVE_VERSION}",
             "curve": [[e["step"], e["val_loss"]] for e in self.evals]}
        if reason:
            m["stop_reason"] = reason
        return m


def _stop_driver(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def run_generation(ctx) -> tuple[str, dict]:
    """The whole RAVE run of one generation (called by the worker); returns (reason, metrics)."""
    from .dataset import open_folder

    p = ctx.spec.family_params
    started = time.monotonic()
    dataset = open_folder(ctx.ws.resolve(ctx.gen["dataset_folder"]), ctx.gen["dataset_ref"],
                          ctx.gen["dataset_version_id"])
    if dataset.content_hash != ctx.gen["dataset_hash"]:
        raise RaveError(f"the dataset at {dataset.folder} changed since {ctx.gen['name']} was planned "
                        "(its content hash differs): plan a new run")
    rave = find_rave(p.get("rave"))
    configs = config_names(p.get("config"))
    check_configs(rave, configs)
    ctx.progress.write({"event": "start", "step": 0, "max_steps": ctx.spec.max_steps, "budget_s": ctx.spec.budget_s,
                        "tool": f"acids-rave {RAVE_VERSION}", "rave": str(rave), "config": configs,
                        "mode": p.get("mode")})
    export, lmdb, chunks, channels = prepare_dataset(ctx, rave)
    probes = write_probes(ctx, export, ctx.spec.probe_count, ctx.spec.probe_seconds)
    transfer = None
    runs = ctx.folder / "rave-runs"
    if p.get("mode") == "convergent" and not (ctx.resume and _ckpts(runs)):
        transfer = parent_checkpoint(ctx.ws, ctx.db, ctx.spec)
    cmd = train_command(ctx, rave, lmdb, channels, probes, transfer)
    log = ctx.folder / "rave.log"
    (ctx.folder / "rave-train.json").write_text(json.dumps(cmd, indent=1))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
    if ctx.threads:
        env.update(OMP_NUM_THREADS=str(ctx.threads), MKL_NUM_THREADS=str(ctx.threads))
    reader = ProgressReader(ctx.folder / "progress.jsonl", _size(ctx.folder / "progress.jsonl"))
    watch = _Watch(ctx, reader)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ctx.folder,
                                env=env, start_new_session=True,
                                preexec_fn=(lambda: os.nice(10)) if ctx.low_priority else None)
    reason, asked = None, False
    try:
        while proc.poll() is None:
            try:
                proc.wait(POLL_S)
            except subprocess.TimeoutExpired:
                pass
            watch.read()
            if asked:
                continue
            if ctx.stop.requested():
                reason = "cancelled"
            elif ctx.spec.budget_s is not None and time.monotonic() - started > ctx.spec.budget_s:
                reason = "time"
            if reason:
                asked = True
                _stop_driver(proc)
    except BaseException:
        _stop_driver(proc)
        proc.wait()
        raise
    watch.read()
    code = proc.returncode
    if code == REFUSED and watch.refused:
        raise RaveError(watch.refused)
    if code != 0:
        raise RaveError(f"rave train failed (exit status {code}); the end of {log.name}:\n{_tail(log)}")
    if reason is None and watch.disk:
        reason = "disk"          # the driver refused a checkpoint that would pass the disk budget
    metrics = watch.metrics(reason or "steps")
    metrics["elapsed_s"] = round(time.monotonic() - started, 3)
    if reason == "cancelled":
        return "cancelled", metrics
    return finish(ctx, rave, configs, runs, watch, metrics)


def finish(ctx, rave: Path, configs: list[str], runs: Path, watch: _Watch, metrics: dict) -> tuple[str, dict]:
    """Export the newest checkpoint, keep what the mode keeps, and make the export this
    generation's model (one generation: the run and the model it made)."""
    from .imported import install_module, previews_of_module, validate_nn_module, write_lineage_file

    p = ctx.spec.family_params
    saved = [c for c in _ckpts(runs) if c.name != "resume.ckpt"] or _ckpts(runs)
    if not saved:
        raise RaveError(f"rave train stopped at step {watch.step} before saving a checkpoint: give it more steps "
                        "(or a smaller --save_every)")
    newest = saved[-1]
    out = ctx.folder / "export"
    shutil.rmtree(out, ignore_errors=True)
    _say(ctx.progress, f"rave export --streaming {newest.name}", phase="export")
    _run_tool([str(rave), "export", "--run", str(newest), "--streaming", "--output", str(out),
               "--name", ctx.gen["name"]], ctx.folder / "rave.log", "rave export --streaming", cwd=ctx.folder)
    ts = out / f"{ctx.gen['name']}_streaming.ts"
    if not ts.exists():
        raise RaveError(f"rave export --streaming wrote no {ts.name} into {out}")
    keep_all = ctx.spec.keep == "all"

    # every checkpoint event of the run, its earlier parts' too (a resumed run's watch reads
    # only its own): the step each file was saved at
    from .progress import read_all

    saved_at = {e["file"]: e for e in read_all(ctx.folder / "progress.jsonl") if e.get("event") == "checkpoint"}
    saved_at.update(watch.checkpoints)

    def step_of(c: Path) -> int:
        return int(saved_at.get(str(c), {}).get("step", watch.step))

    # one-shot: one file per step (RAVE may write best.ckpt, epoch-NNNN.ckpt and epoch_N.ckpt
    # at the same step), the newest; every other mode: the one exported
    kept = list({step_of(c): c for c in saved}.values()) if keep_all else [newest]
    for c in _ckpts(runs):
        if c not in kept:
            c.unlink()
    last_val = metrics.get("last_val_loss")
    for c in kept:
        step = step_of(c)
        previews = ctx.folder / "previews" / f"step-{step:06d}"
        gens.record_checkpoint(ctx.db, ctx.gen["id"], kind="waste" if keep_all else "best", step=step,
                               elapsed_s=metrics["elapsed_s"], path=ctx.ws.relative(c), train_loss=watch.train_loss,
                               val_loss=None if keep_all else last_val,
                               previews=ctx.ws.relative(previews) if previews.is_dir() else None)
    # the step of the weights exported: the run's last, unless the disk budget refused its last save
    exported = step_of(newest)
    lineage = {"strategy": "rave", "mode": p.get("mode"), "config": configs, "steps": exported,
               "n_signal": _n_signal(ctx, p), "checkpoint": ctx.ws.relative(newest),
               "checkpoints_kept": len(kept), "parent": f"g{ctx.spec.parent_id}" if ctx.spec.parent_id else None,
               "device": ctx.device, "host": socket.gethostname(), "tool": f"acids-rave {RAVE_VERSION}",
               "val_loss": last_val, "first_val_loss": metrics.get("first_val_loss")}
    try:
        info = validate_nn_module(ts, family="rave")
        model, ckpt = install_module(ctx.db, ctx.ws, ctx.gen["id"], ts, info, lineage, step=exported)
    except ValueError as exc:       # ModuleError: what rave export wrote is no nn~ module
        raise RaveError(f"rave export --streaming wrote a module rehearsal cannot play: {exc}") from None
    metrics.update(model)
    gens.update_metrics(ctx.db, ctx.gen["id"], metrics)
    # the exported model heard through the play host's stream, from the run's own probe clips
    previews_of_module(ctx.ws, ctx.db, ctx.gen["id"], ckpt, info=info, inputs=ctx.folder / "previews" / "input")
    # what travels home with the .ts when the run was made on another machine
    write_lineage_file(ctx.ws, ctx.db, ctx.gen["id"], ts)
    _say(ctx.progress, f"{ctx.gen['name']} plays its export {ctx.ws.relative(ctx.folder / 'model.ts')} "
                       f"({info.sample_rate} Hz, latency {info.latency_samples} samples)",
         model=ctx.ws.relative(ctx.folder / "model.ts"))
    return metrics.get("stop_reason", "steps"), metrics


def _n_signal(ctx, p: dict) -> int:
    """The --n_signal the run used (the driver may have raised it)."""
    from .progress import read_all

    chosen = [e["n_signal"] for e in read_all(ctx.folder / "progress.jsonl") if e.get("n_signal")]
    return int(chosen[-1]) if chosen else int(p.get("n_signal", 131072))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


if __name__ == "__main__":      # pragma: no cover
    print(find_rave(sys.argv[1] if len(sys.argv) > 1 else None))
