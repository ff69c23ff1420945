"""rehearsal's driver of acids-rave's own `rave train`, run by the acids-rave venv's python.

    <rave-venv>/bin/python rave_driver.py train --progress P --generation N [--transfer CKPT]
        [--probe a.wav ...] [--previews DIR] [--stop-file F] [--auto-n-signal] -- <rave train flags>

It imports nothing from rehearsal (it runs in the other venv, as a file) and changes nothing
in how RAVE trains: it runs acids-rave 2.3.1's scripts/train.py `main` with the flags given
after `--`, and adds one lightning callback that

- writes what lightning logs into progress.jsonl (the format of rehearsal.training.progress):
  `step` events (step, phase warmup/adversarial, elapsed), the losses lightning logs
  (every `log_every_n_steps` = 50 steps: a tiny run logs none), `eval` events with RAVE's
  `validation` loss and its `fidelity_*` figures, `checkpoint` events for each .ckpt RAVE
  saves, with previews rendered from the model as it is at that checkpoint;
- makes validation repeatable: each validation epoch runs under a fixed seed (RAVE's
  validation crops at random and adds random phase and noise), the training RNG restored
  after, so two validations of the same weights on the same data give the same loss;
- stops cleanly on SIGINT/SIGTERM or the stop file: saves `resume.ckpt` (weights, optimizer,
  loops: what `rave train --ckpt RUN` resumes from) and ends the fit.

--transfer CKPT: weights only from a parent run's checkpoint (the pattern of the IIL fork's
transfer: a fresh run with the parent's weights, every tensor whose name and shape match; no
optimizer state, no step count), then one validation pass before the first step, so the
child's first validation loss is measured on the parent's weights.

--disk-budget BYTES: every checkpoint written (RAVE's own, resume.ckpt) is refused before it
is written when it would take the run's .ckpt files past BYTES (its size: the last one this
process wrote, else the tensors it would hold): the run stops there in words (a notice with
`"stop": "disk"`), keeping what is on disk. A one-shot's poll could only see a 465 MB
checkpoint once written.

--auto-n-signal: before anything is built, the validation split's latent frames are counted
(RAVE's PCA of the latent space needs at least `LATENT_SIZE` of them): with the flags' n_signal
too small, a larger one (up to one LMDB entry) is chosen and said; where even that is too small
the run is refused in words (a `refused` event, exit status 3).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

# run as a file, its folder comes first on sys.path, where rehearsal's own rave.py would hide
# acids-rave's `rave` package
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

REFUSED = 3
ENTRY_SAMPLES = 2 * 131072          # what preprocess stores per LMDB entry (its --num_signal x 2)


def _progress_module():
    """rehearsal's progress.py (stdlib only), loaded as a file: one writer of progress.jsonl."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rehearsal_progress", os.path.join(_HERE, "progress.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def Progress(path: str, generation: int):
    return _progress_module().ProgressWriter(path, generation)


def _floats(metrics) -> dict:
    out = {}
    for k, v in dict(metrics).items():
        try:
            out[k] = round(float(v), 6)
        except (TypeError, ValueError):
            continue
    return out


def config_facts(configs: list[str], overrides: list[str]) -> dict:
    """What a RAVE config makes: sampling rate, samples per latent frame, latent size."""
    import gin

    import rave  # noqa: F401  (registers the configurables and the configs' search path)

    names = [c if c.endswith(".gin") else c + ".gin" for c in configs]
    gin.parse_config_files_and_bindings(names, overrides)
    try:
        ratios = list(gin.query_parameter("%RATIOS"))
        n_band = int(gin.query_parameter("%N_BAND"))
        latent = int(gin.query_parameter("%LATENT_SIZE"))
        sr = int(gin.query_parameter("%SAMPLING_RATE"))
    finally:
        gin.clear_config()
    return {"ratio": int(math.prod(ratios)) * n_band, "latent_size": latent, "sampling_rate": sr}


def validation_entries(entries: int, max_residual: int = 1000) -> int:
    """rave.dataset.split_dataset(dataset, 98) as train.py calls it (v1.gin's max_residual)."""
    train = max((98 * entries) // 100, 1)
    val = min(max_residual, entries - train)
    return max(val, 0)


def choose_n_signal(entries: int, n_signal: int, facts: dict) -> tuple[int | None, str]:
    """(n_signal to use, what was decided in words); None refuses."""
    val = validation_entries(entries)
    need = facts["latent_size"]
    ratio = facts["ratio"]
    frames = val * (n_signal // ratio)
    if frames >= need:
        return n_signal, f"validation: {val} chunk(s) x {n_signal // ratio} latent frames = {frames} >= {need}"
    if val == 0:
        return None, (f"RAVE's 98/2 split leaves no validation chunk from {entries} chunk(s) of 5.94 s: "
                      f"its latent PCA needs {need} latent frames; give it more audio (at least 2 chunks)")
    wanted = math.ceil(need / val) * ratio
    if wanted <= ENTRY_SAMPLES:
        return wanted, (f"validation: {val} chunk(s) x {n_signal // ratio} latent frames = {frames}, fewer than "
                        f"the {need} RAVE's latent PCA needs: n_signal {n_signal} -> {wanted} "
                        f"({wanted / facts['sampling_rate']:.2f} s crops)")
    more = math.ceil(need / (ENTRY_SAMPLES // ratio))
    chunks = 100 * more // 2 if more > 1 else entries
    return None, (f"RAVE's validation split holds {val} chunk(s) of {entries}: at most "
                  f"{val * (ENTRY_SAMPLES // ratio)} latent frames even with n_signal {ENTRY_SAMPLES}, fewer than "
                  f"the {need} its latent PCA needs; give it about {chunks} chunks "
                  f"({chunks * ENTRY_SAMPLES / facts['sampling_rate'] / 60:.0f} min) of audio")


def lmdb_entries(db_path: str) -> int:
    import lmdb

    env = lmdb.open(db_path, readonly=True, lock=False)
    try:
        return int(env.stat()["entries"])
    finally:
        env.close()


def _flag(argv: list[str], name: str, default=None):
    """The value of --name V / --name=V in absl-style argv (the last one given)."""
    value = default
    for i, a in enumerate(argv):
        if a == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(f"--{name}="):
            value = a.split("=", 1)[1]
    return value


def _flags(argv: list[str], name: str) -> list[str]:
    out = []
    for i, a in enumerate(argv):
        if a == f"--{name}" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith(f"--{name}="):
            out.append(a.split("=", 1)[1])
    return out


def _set_flag(argv: list[str], name: str, value) -> list[str]:
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == f"--{name}":
            skip = True
            continue
        if a.startswith(f"--{name}="):
            continue
        out.append(a)
    return out + [f"--{name}", str(value)]


def render(model, probes: list[str], dest: Path) -> list[str]:
    """The probe clips through the model as it is now (encode, sample, decode), at its rate."""
    import numpy as np
    import soundfile as sf
    import torch
    import torchaudio

    dest.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    written = []
    try:
        with torch.no_grad():
            for p in probes:
                audio, sr = sf.read(p, dtype="float32", always_2d=True)
                x = torch.from_numpy(np.ascontiguousarray(audio[:, 0]))
                if sr != model.sr:
                    x = torchaudio.functional.resample(x, sr, model.sr)
                x = x.to(next(model.parameters()).device)
                n = x.shape[-1] // 2048 * 2048
                if n == 0:
                    continue
                x = x[:n].reshape(1, 1, n).repeat(1, model.n_channels, 1)
                z = model.encoder.reparametrize(model.encode(x))[0]
                y = model.decode(z)[0, 0].cpu().numpy()
                out = dest / Path(p).name
                sf.write(str(out), np.clip(y, -1, 1), int(model.sr), subtype="FLOAT")
                written.append(str(out))
    finally:
        model.train(was_training)
    return written


def make_callback(opts, progress: Progress, stop):
    import numpy as np
    import pytorch_lightning as pl
    import torch

    class RehearsalCallback(pl.Callback):
        def __init__(self):
            self.started = time.monotonic()
            self.batches = 0
            self.seen: dict[str, float] = {}
            self.rng = None
            self.seen_ckpt: dict[str, float] = {}
            self.best = None
            self.rendered: dict[int, list] = {}

        # validation under a fixed seed, the training RNG restored after -------------------
        def on_validation_epoch_start(self, trainer, pl_module):
            self.rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())
            torch.manual_seed(opts.val_seed)
            np.random.seed(opts.val_seed)
            random.seed(opts.val_seed)

        def on_validation_epoch_end(self, trainer, pl_module):
            if self.rng is not None:
                torch.set_rng_state(self.rng[0])
                np.random.set_state(self.rng[1])
                random.setstate(self.rng[2])
                self.rng = None

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            m = _floats(trainer.callback_metrics)
            if "validation" not in m:
                return
            before = trainer.state.fn.value == "validate"     # the transfer's check, before fit
            self.best = m["validation"] if self.best is None else min(self.best, m["validation"])
            progress.write({"event": "eval", "step": int(trainer.global_step), "val_loss": m["validation"],
                            "best_val": self.best,
                            "phase": "adversarial" if pl_module.warmed_up else "warmup",
                            "fidelity": {k: v for k, v in m.items() if k.startswith("fidelity_")},
                            **({"before_training": True} if before else {})})
            self._checkpoints(trainer, pl_module)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._checkpoints(trainer, pl_module)     # what was saved after the last step's validation

        def on_train_start(self, trainer, pl_module):
            # acids-rave's ModelCheckpoint counts batches since its process started and names
            # its periodic saves epoch_<count>.ckpt: on a resumed run it would start again at 0,
            # save off the --save_every grid and overwrite the first part's saves (one-shot keeps
            # every one). Start it at the step the run resumes from.
            for cb in trainer.callbacks:
                if hasattr(cb, "_ModelCheckpoint__counter"):
                    cb._ModelCheckpoint__counter = int(trainer.global_step)
            progress.write({"event": "notice", "message": f"rave train: step {trainer.global_step}, "
                                                          f"{trainer.num_training_batches} batch(es) an epoch",
                            "at_step": int(trainer.global_step)})

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.batches += 1
            step = int(trainer.global_step)
            event = {"event": "step", "step": step, "batches": self.batches,
                     "phase": "adversarial" if pl_module.warmed_up else "warmup",
                     "elapsed_s": round(time.monotonic() - self.started, 3)}
            if trainer.max_steps and trainer.max_steps > 0:
                event["fraction"] = round(min(1.0, step / trainer.max_steps), 4)
            logged = _floats(trainer.logged_metrics)
            if logged and logged != self.seen:      # what lightning handed its logger this step
                self.seen = logged
                event["losses"] = logged
                distances = [v for k, v in logged.items() if k.endswith("_distance")]
                if distances:
                    event["loss"] = round(sum(distances), 6)
            progress.write(event)
            self._checkpoints(trainer, pl_module)
            if stop.requested():
                path = Path(trainer.logger.log_dir) / "checkpoints" / "resume.ckpt"
                trainer.save_checkpoint(str(path))
                if path.exists():
                    progress.write({"event": "notice", "message": f"stopping at step {step}: saved {path.name}"})
                    stop.saved = True
                else:       # the disk budget refused it: a resume starts from the newest checkpoint kept
                    progress.write({"event": "notice", "message": f"stopping at step {step}: {path.name} not saved "
                                                                  "(disk budget); --resume continues from the "
                                                                  "newest checkpoint kept"})
                trainer.should_stop = True

        def on_train_end(self, trainer, pl_module):
            self._checkpoints(trainer, pl_module)

        def _checkpoints(self, trainer, pl_module):
            """Each .ckpt RAVE wrote since the last look: a checkpoint event, with previews."""
            folder = Path(trainer.logger.log_dir) / "checkpoints"
            if not folder.is_dir():
                return
            for p in sorted(folder.glob("*.ckpt"), key=lambda q: q.stat().st_mtime):
                key = str(p)
                mtime = p.stat().st_mtime
                if self.seen_ckpt.get(key) == mtime or p.name == "resume.ckpt":
                    continue
                self.seen_ckpt[key] = mtime
                step = int(trainer.global_step)
                if step not in self.rendered:
                    self.rendered[step] = (render(pl_module, opts.probe, Path(opts.previews) / f"step-{step:06d}")
                                           if opts.probe and opts.previews else [])
                previews = self.rendered[step]
                progress.write({"event": "checkpoint", "kind": "best" if p.stem == "best" else "step",
                                "step": step, "file": str(p), "bytes": p.stat().st_size, "previews": previews})

    return RehearsalCallback()


def _tensor_bytes(obj) -> int:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


class DiskBudget:
    """The most the run's .ckpt files (under `folder`) may take: a checkpoint that would pass it
    is not written, and the run stops after this step."""

    def __init__(self, budget: int, folder: str, progress):
        self.budget, self.folder, self.progress = int(budget), Path(folder), progress
        self.last_size: int | None = None
        self.refused: str | None = None

    def on_disk(self, leaving: Path) -> int:
        total = 0
        for p in self.folder.rglob("*.ckpt") if self.folder.is_dir() else ():
            if p != leaving:              # a file written again in place is replaced, not added
                try:
                    total += p.stat().st_size
                except FileNotFoundError:
                    pass
        return total

    def size_of_next(self, trainer, weights_only: bool) -> int:
        if self.last_size:
            return self.last_size
        # the tensors lightning is about to save (weights, optimizers' state) and 1 % for the rest
        return int(_tensor_bytes(trainer._checkpoint_connector.dump_checkpoint(weights_only)) * 1.01)

    def allows(self, trainer, path: Path, weights_only: bool = False) -> bool:
        if self.refused:
            return False
        need = self.size_of_next(trainer, weights_only)
        there = self.on_disk(path)
        if there + need <= self.budget:
            return True
        kept = sum(1 for p in self.folder.rglob("*.ckpt")) if self.folder.is_dir() else 0
        self.refused = (f"step {int(trainer.global_step)}: {path.name} ({need / 1e6:.0f} MB) would take the run's "
                        f"checkpoints from {there / 1e6:.0f} MB to {(there + need) / 1e6:.0f} MB, over its disk "
                        f"budget of {self.budget / 1e6:.0f} MB: not written; the run stops here, keeping the "
                        f"{kept} checkpoint file(s) on disk")
        self.progress.write({"event": "notice", "message": self.refused, "stop": "disk",
                             "step": int(trainer.global_step), "bytes": there, "need": need})
        trainer.should_stop = True
        return False

    def wrote(self, path: Path) -> None:
        try:
            self.last_size = path.stat().st_size
        except FileNotFoundError:
            pass


class Stop:
    def __init__(self, flag_file: str | None):
        self.flag_file = flag_file
        self.signalled = False
        self.saved = False

    def __call__(self, *_):
        self.signalled = True

    def requested(self) -> bool:
        return self.signalled or bool(self.flag_file and os.path.exists(self.flag_file))


def transfer_weights(model, ckpt: str, progress: Progress) -> None:
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matching, strict=False)
    skipped = sorted(set(state) - set(matching))
    progress.write({"event": "notice", "message": f"weights from {Path(ckpt).name}: {len(matching)} of {len(own)} "
                                                  f"tensors" + (f", {len(skipped)} skipped (name or shape differs)"
                                                                if skipped else "")})


def train(opts, rave_argv: list[str]) -> int:
    progress = Progress(opts.progress, opts.generation)
    stop = Stop(opts.stop_file)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    if opts.auto_n_signal:
        configs = _flags(rave_argv, "config") or ["v2"]
        facts = config_facts(configs, _flags(rave_argv, "override"))
        entries = lmdb_entries(_flag(rave_argv, "db_path"))
        n_signal = int(_flag(rave_argv, "n_signal", 131072))
        chosen, why = choose_n_signal(entries, n_signal, facts)
        if chosen is None:
            progress.write({"event": "refused", "message": why, "entries": entries, **facts})
            print(why, file=sys.stderr)
            return REFUSED
        progress.write({"event": "notice", "message": why, "n_signal": chosen, "entries": entries, **facts})
        if chosen != n_signal:
            rave_argv = _set_flag(rave_argv, "n_signal", chosen)

    import pytorch_lightning as pl
    from absl import app

    from scripts import train as rave_train

    callback = make_callback(opts, progress, stop)
    init, fit, save = pl.Trainer.__init__, pl.Trainer.fit, pl.Trainer.save_checkpoint
    budget = DiskBudget(opts.disk_budget, _flag(rave_argv, "out_path", "runs"), progress) if opts.disk_budget else None

    def patched_init(self, *a, **k):
        k["callbacks"] = list(k.get("callbacks") or []) + [callback]
        init(self, *a, **k)

    def patched_fit(self, model, train_dataloaders=None, val_dataloaders=None, *a, **k):
        if opts.transfer:
            transfer_weights(model, opts.transfer, progress)
            self.validate(model, val_dataloaders, verbose=False)
        return fit(self, model, train_dataloaders, val_dataloaders, *a, **k)

    def patched_save(self, filepath, weights_only=False, storage_options=None):
        # every checkpoint of the run passes here: RAVE's ModelCheckpoints and resume.ckpt
        if budget is not None and not budget.allows(self, Path(filepath), weights_only):
            return
        save(self, filepath, weights_only, storage_options)
        if budget is not None:
            budget.wrote(Path(filepath))

    pl.Trainer.__init__, pl.Trainer.fit, pl.Trainer.save_checkpoint = patched_init, patched_fit, patched_save
    sys.argv = ["train", *rave_argv]
    try:
        app.run(rave_train.main)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            return code
    if stop.saved:
        progress.write({"event": "stopped", "message": "cancelled: resume.ckpt saved"})
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, rave_argv = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="rave_driver.py")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--progress", required=True)
    t.add_argument("--generation", type=int, default=0)
    t.add_argument("--transfer")
    t.add_argument("--probe", action="append", default=[])
    t.add_argument("--previews")
    t.add_argument("--stop-file")
    t.add_argument("--val-seed", type=int, default=1234)
    t.add_argument("--auto-n-signal", action="store_true")
    t.add_argument("--disk-budget", type=int)
    opts = parser.parse_args(ours)
    return train(opts, rave_argv)


if __name__ == "__main__":
    sys.exit(main())
