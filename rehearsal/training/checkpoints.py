"""Model files: checkpoints (to resume and to play) and the weights-only export.

Everything is read with `torch.load(weights_only=True)`: tensors, numbers, strings, lists
and dicts only, never pickled code. The family's configuration travels as JSON text; a file
is checked (format, family, configuration, every tensor's name and shape) before a model is
built from it, and each problem is reported with the file's path.

    checkpoint .pt   {"format": "rehearsal-checkpoint", "version": 1, "family", "config_json",
                      "model": state_dict, "optimizer"?: state_dict, "step", "elapsed_s",
                      "metrics_json"}
    weights export   <name>.pt = the state_dict alone; <name>.json = family, configuration,
                      provenance and the sha256 of the .pt
"""

from __future__ import annotations

import re

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch

from .family import Family, get_family

FORMAT = "rehearsal-checkpoint"
WEIGHTS_FORMAT = "rehearsal-weights"
VERSION = 1


class ModelFileError(ValueError):
    pass


def _atomic_save(obj, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, model, family: str, *, step: int, elapsed_s: float, metrics: dict,
                    optimizer=None) -> None:
    payload = {
        "format": FORMAT, "version": VERSION, "family": family,
        "config_json": json.dumps(model.config, sort_keys=True),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": int(step), "elapsed_s": float(elapsed_s), "metrics_json": json.dumps(metrics),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    _atomic_save(payload, path)


def _torch_load(path: Path):
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such model file")
    if is_torchscript(path):
        raise ModelFileError(
            f"{path}: a TorchScript file (an nn~ export), not a rehearsal checkpoint or weights file; "
            f"rehearsal never loads TorchScript here (its code and pickles would run). Give the generation's "
            f"checkpoint (.pt) or a weights export (.json); to play an nn~ module as a generation, "
            f"`rehearsal model import {Path(path).name}`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # torch's warnings are library talk; its errors are translated
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, refused globals: all "not a model file"
        raise ModelFileError(f"{path}: not a readable model file ({_why_unreadable(exc)})") from None


def is_torchscript(path: Path) -> bool:
    """A zip holding TorchScript's records (code/, constants.pkl), read without unpickling."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


# torch's errors for damaged archives, in plain words (its own text blames its zip library)
_ARCHIVE_WORDS = (("failed finding central directory", "a zip archive cut short or damaged: no central directory"),
                  ("hasRecord", "an archive missing one of its records"),
                  ("invalid header or archive is corrupted", "a damaged zip archive"),
                  ("PytorchStreamReader failed", "a damaged zip archive"),
                  ("file in archive is not in a subdirectory", "a zip archive not laid out as torch writes one"))


def _why_unreadable(exc: Exception) -> str:
    """torch's reason in plain words, never its advice to load with weights_only=False
    (which would run whatever code the file holds)."""
    text = str(exc)
    if "Weights only load failed" in text:
        m = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        what = f"a Python object ({m.group(1)})" if m else "pickle instructions that are not plain data"
        return f"it holds {what}, not only tensors and numbers; refused, since loading it could run code"
    for clue, words in _ARCHIVE_WORDS:
        if clue in text:
            return words
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]



def _build_checked(path: Path, family_name: str, config: dict, state: dict, family: Family | None = None):
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ModelFileError(f"{path}: the weights are not a mapping of names to tensors")
    try:
        fam = family or get_family(family_name)
    except LookupError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    try:
        model = fam.build(config)
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot build a {family_name} model from its configuration ({exc})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{path}: weights do not fit a {family_name} model "
                             f"(missing: {', '.join(missing[:5]) or '-'}; unexpected: {', '.join(extra[:5]) or '-'})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ModelFileError(f"{path}: tensor {k} has shape {tuple(v.shape)}, "
                                 f"the configuration needs {tuple(expected[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ModelFileError(f"{path}: tensor {k} holds NaN or infinite values")
    model.load_state_dict(state, strict=True)
    return model


def _config_from(path: Path, text, what: str = "the configuration") -> dict:
    try:
        config = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: {what} is not JSON ({exc.msg})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: {what} must be a JSON object")
    return config


def load_checkpoint(path: Path, *, with_optimizer: bool = False) -> tuple[object, dict]:
    """(model in eval mode, the payload without the weights)."""
    payload = _torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a rehearsal checkpoint")
    if payload.get("version") != VERSION:
        raise ModelFileError(f"{path}: checkpoint version {payload.get('version')!r}; this rehearsal reads {VERSION}")
    family = payload.get("family")
    if not isinstance(family, str):
        raise ModelFileError(f"{path}: no model family named")
    config = _config_from(path, payload.get("config_json"))
    step, elapsed = payload.get("step"), payload.get("elapsed_s")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ModelFileError(f"{path}: step {step!r}; a checkpoint's step is a whole number from 0")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < float("inf"):
        raise ModelFileError(f"{path}: elapsed_s {elapsed!r}; a checkpoint's training time is seconds from 0")
    metrics = _config_from(path, payload.get("metrics_json") or "{}", "its metrics_json")
    model = _build_checked(path, family, config, payload.get("model"))
    model.eval()
    meta = {k: v for k, v in payload.items() if k != "model" and (with_optimizer or k != "optimizer")}
    meta["metrics"] = metrics
    return model, meta


def save_weights(base: Path, model, family: str, provenance: dict) -> tuple[Path, Path]:
    """<base>.pt (state_dict only) and <base>.json (how to rebuild it)."""
    base = Path(base)
    weights = base.with_suffix(".pt")
    _atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    from .dsp import count_parameters

    meta = {"format": WEIGHTS_FORMAT, "version": VERSION, "family": family, "config": model.config,
            "weights": weights.name, "sha256": digest, "parameters": count_parameters(model),
            "sample_rate": model.sample_rate, "block": model.hop, **provenance}
    sidecar = base.with_suffix(".json")
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, sidecar)
    return weights, sidecar


def load_weights(sidecar: Path):
    """Rebuild a model from a weights export (the .json next to its .pt)."""
    sidecar = Path(sidecar)
    if sidecar.suffix == ".pt":
        sidecar = sidecar.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFileError(f"{sidecar}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{sidecar}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise ModelFileError(f"{sidecar}: not a rehearsal weights file")
    name = meta.get("weights")
    if not isinstance(name, str) or Path(name).name != name:
        raise ModelFileError(f"{sidecar}: \"weights\" must name a file next to it")
    weights = sidecar.parent / name
    if not weights.is_file():
        raise ModelFileError(f"{weights}: missing (named by {sidecar})")
    if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("sha256"):
        raise ModelFileError(f"{weights}: its sha256 does not match {sidecar}: the file changed or is damaged")
    state = _torch_load(weights)
    model = _build_checked(weights, str(meta.get("family")), _config_from(sidecar, meta.get("config")), state)
    model.eval()
    return model, meta


RESUMABLE = ("last.pt", "best.pt", "step-*.pt")


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoints a run could resume from (last.pt, best.pt, step-NNNNNN.pt), no torch needed."""
    folder = Path(folder)
    found: list[Path] = []
    for pattern in RESUMABLE:
        found += sorted(p for p in folder.glob(pattern) if p.is_file())
    return found


def newest_checkpoint(folder: Path) -> tuple[Path | None, list[str]]:
    """The readable checkpoint with the highest step in a run folder (last.pt wins a tie: it
    also holds the optimizer and loop state), and a line for each file that could not be read."""
    best: tuple[int, int, Path] | None = None
    problems: list[str] = []
    for path in checkpoint_files(folder):
        try:
            payload = _torch_load(path)
            step = int(payload.get("step")) if isinstance(payload, dict) and payload.get("format") == FORMAT else None
        except (ModelFileError, TypeError, ValueError) as exc:
            problems.append(str(exc))
            continue
        if step is None:
            problems.append(f"{path}: not a rehearsal checkpoint")
            continue
        rank = (step, 1 if path.name == "last.pt" else 0, path)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return (best[2] if best else None), problems


def best_val_on_disk(folder: Path) -> float | None:
    """The validation loss best.pt was kept for (None when there is none or it is unreadable)."""
    path = Path(folder) / "best.pt"
    if not path.is_file():
        return None
    try:
        payload = _torch_load(path)
        value = json.loads(payload.get("metrics_json") or "{}").get("last_val_loss")
    except (ModelFileError, AttributeError, ValueError):
        return None
    return float(value) if isinstance(value, (int, float)) else None
