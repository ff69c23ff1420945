"""Datasets as training reads them: a folder with `metadata.jsonl` and audio clips.

The contract with curation (rehearsal.curation.materialise_dataset): one JSON object per
line with at least "path" (relative to the folder), "symbols" (list of symbol ids) and
"who"; "start_s", "end_s", "take_id", "descriptors" are provenance. The file at "path" is
the clip. Audio may be any format soundfile reads, any rate, any channel count: training
reads it as mono at 48 kHz.

Everything here is numpy and soundfile: no torch, so the CLI can plan a run cheaply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 48000


class DatasetError(ValueError):
    """A dataset that cannot be trained on; the message names the file (and line)."""


@dataclass(frozen=True)
class ClipInfo:
    index: int                 # line order in metadata.jsonl
    path: str                  # relative to the dataset folder
    symbols: tuple[str, ...]
    who: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return Path(self.path).stem


@dataclass(frozen=True)
class DatasetInfo:
    folder: Path
    ref: str                   # what the user named
    version_id: int | None     # curation's dataset version, when known
    content_hash: str          # sha256 over metadata.jsonl and every clip file
    clips: tuple[ClipInfo, ...]

    def symbols(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.clips:
            for s in c.symbols:
                seen.setdefault(s, None)
        return list(seen)

    def with_symbols(self, symbols) -> list[ClipInfo]:
        wanted = set(symbols)
        return [c for c in self.clips if wanted & set(c.symbols)]


def read_metadata(folder: Path) -> list[ClipInfo]:
    path = Path(folder) / "metadata.jsonl"
    if not path.is_file():
        raise DatasetError(f"{folder}: no metadata.jsonl (a dataset folder holds one JSON object per clip)")
    root = Path(folder).resolve()
    clips: list[ClipInfo] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DatasetError(f"{where}: expected a JSON object")
            rel = obj.get("path")
            if not isinstance(rel, str) or not rel:
                raise DatasetError(f"{where}: \"path\" must be a non-empty string")
            target = (root / rel).resolve()
            if Path(rel).is_absolute() or not target.is_relative_to(root):
                raise DatasetError(f"{where}: \"path\" {rel!r} must stay inside the dataset folder")
            if not target.is_file():
                raise DatasetError(f"{where}: clip {rel!r} is missing")
            symbols = obj.get("symbols", [])
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise DatasetError(f"{where}: \"symbols\" must be a list of strings")
            who = obj.get("who", "")
            if not isinstance(who, str):
                who = ", ".join(map(str, who)) if isinstance(who, list) else str(who)
            clips.append(ClipInfo(len(clips), rel, tuple(symbols), who, obj))
    if not clips:
        raise DatasetError(f"{path}: no clips")
    return clips


def content_hash(folder: Path, clips) -> str:
    h = hashlib.sha256()
    h.update((Path(folder) / "metadata.jsonl").read_bytes())
    for c in clips:
        h.update(c.path.encode())
        with open(Path(folder) / c.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def open_folder(folder: Path, ref: str | None = None, version_id: int | None = None) -> DatasetInfo:
    clips = read_metadata(folder)
    return DatasetInfo(Path(folder), ref or str(folder), version_id, content_hash(folder, clips), tuple(clips))


def resolve_dataset(ws, db, ref: str) -> DatasetInfo:
    """A folder path, or a dataset version (name, name@N, id) through rehearsal.curation."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return open_folder(path.resolve(), ref)
    try:
        from rehearsal import curation
    except ImportError:
        raise DatasetError(f"{ref!r} is not a dataset folder (with metadata.jsonl), and naming a dataset "
                           "version needs rehearsal.curation, which is not available") from None
    try:
        version_id = curation.dataset_version_id(db, ref)
        folder = curation.materialise_dataset(ws, db, ref)
    except LookupError as exc:
        raise DatasetError(f"{ref!r}: no such folder or dataset version ({exc})") from None
    except (RuntimeError, OSError) as exc:  # e.g. a take changed since the version was made
        raise DatasetError(f"dataset {ref!r} cannot be materialised: {exc}") from None
    return open_folder(Path(folder), ref, version_id)


# -- audio -------------------------------------------------------------------------------

def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Band-limited resampling through the FFT (exact for whole clips; no extra dependency)."""
    if sr_from == sr_to or len(x) == 0:
        return x.astype(np.float32, copy=False)
    n_out = int(round(len(x) * sr_to / sr_from))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = min(len(spec), n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out[:keep] = spec[:keep]
    return (np.fft.irfft(out, n_out) * (n_out / len(x))).astype(np.float32)


def load_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 at `sample_rate`; clear errors for what cannot be trained on."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read as audio ({exc})") from None
    if data.shape[0] == 0:
        raise DatasetError(f"{path}: the file holds no audio")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise DatasetError(f"{path}: the audio holds NaN or infinite samples")
    return resample(mono, sr, sample_rate)


def split_validation(clips, fraction: float) -> tuple[list, list]:
    """A stable train/validation split: clips sorted by a hash of their path, so the same
    dataset always holds out the same clips (and generations compare on the same audio).
    With fewer than 4 clips, nothing is held out whole (see `hold_out_tails`)."""
    clips = list(clips)
    if fraction <= 0 or len(clips) < 4:
        return clips, []
    ranked = sorted(clips, key=lambda c: hashlib.sha256(c.path.encode()).hexdigest())
    n_val = max(1, int(round(len(clips) * fraction)))
    val = set(id(c) for c in ranked[:n_val])
    return [c for c in clips if id(c) not in val], [c for c in ranked[:n_val]]
