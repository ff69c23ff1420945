"""A 2D map of a dataset's clips, as data and as a picture (PNG/SVG).

Where a clip sits comes from a feature row per clip, standardised, then projected:

- descriptors (default): loudness, pitch (MIDI number; the mean where a clip has none),
  pitched fraction, log centroid, flatness, onset rate and log duration;
- a generation's latent (`latent_rows`): any model with an `encode` method (the latent
  family, an imported RAVE model) encodes each clip's audio; its row is the mean and
  standard deviation of each latent channel over the clip's frames.

Two projections: PCA (instant, deterministic signs; the fallback) and UMAP (umap-learn,
seeded: the same data and seed give the same picture). UMAP's functions are compiled by
numba once per installation into its on-disk cache (`import_umap`; scripts/setup warms it);
importing umap-learn and loading them still takes 3-8 s in a new process, so the TUI fits in
a named worker, never on the UI thread.

Stable between dataset versions: `clip_map(db, "voice@2", method="umap", anchor=map_of_v1)`
standardises with v1's statistics, starts the fit from v1's positions for the clips both
share and from v1's `transform` for new ones, settles it gently (20 epochs at 1% of the learning rate: new clips find their neighbours, shared ones stay), then aligns
the result on v1 (least-squares affine map on the shared clips: UMAP rescales its start
positions axis by axis). `procrustes_displacement` measures how far shared clips moved (a share
of the map's extent; the tests hold it under 5%).

`ClipMap.points()` is what a TUI screen moves through (and plays); `write_png` draws it
coloured by symbol, person or take, with a legend.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlite_utils

from .versions import StoredClip, version_clips, version_info

FEATURES = ("loudness_db", "pitch_midi", "pitched_fraction", "log2_centroid", "flatness", "onset_rate",
            "log2_duration")
METHODS = ("pca", "umap")
COLOUR_KEYS = ("symbol", "person", "take")
UMAP_MIN_CLIPS = 5      # fewer clips than this: PCA (UMAP needs neighbours)


def feature_row(d: dict) -> list[float]:
    def num(x):
        return float(x) if x is not None else math.nan

    pitch = d.get("pitch_hz")
    centroid = d.get("centroid_hz")
    duration = d.get("duration_s") or 0.0
    return [num(d.get("loudness_db")),
            69 + 12 * math.log2(pitch / 440.0) if pitch else math.nan,
            num(d.get("pitched_fraction")),
            math.log2(centroid) if centroid and centroid > 0 else math.nan,
            num(d.get("flatness")),
            num(d.get("onset_rate")),
            math.log2(duration) if duration > 0 else math.nan]


def clip_key(sc: StoredClip) -> tuple[int, int, int]:
    """What makes "the same clip" in two versions: its take and audio range."""
    return (sc.clip.take_id, sc.clip.start, sc.clip.end)


def group_of(point: dict, key: str) -> str:
    """The colour group of a point: its symbols, its people, or its take."""
    if key == "symbol":
        return "+".join(point["symbols"]) or "untagged"
    if key == "person":
        return "+".join(point["who"]) or "nobody"
    if key == "take":
        return f"take {point['take_id']}"
    raise ValueError(f"colour by {', '.join(COLOUR_KEYS)}, not {key!r}")


@dataclass
class Standardiser:
    means: np.ndarray
    stds: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray) -> "Standardiser":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a column with no value at all: mean 0
            means = np.nanmean(rows, axis=0) if len(rows) else np.zeros(rows.shape[1])
        means = np.where(np.isnan(means), 0.0, means)
        filled = np.where(np.isnan(rows), means, rows)
        std = filled.std(axis=0) if len(rows) else np.ones(rows.shape[1])
        return cls(means, np.where(std > 1e-12, std, 1.0))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return (np.where(np.isnan(rows), self.means, rows) - self.means) / self.stds


@dataclass
class ClipMap:
    ref: str
    clips: list[StoredClip]
    xy: np.ndarray                   # (n, 2)
    explained: tuple[float, float]   # PCA: share of variance on each axis
    loadings: np.ndarray             # PCA: (2, features)
    method: str = "pca"
    source: str = "descriptors"      # or "g7 latent"
    feature_names: tuple[str, ...] = FEATURES
    rows: np.ndarray | None = None   # the standardised features
    standardiser: Standardiser | None = None
    reducer: object = None           # the fitted umap.UMAP (for transform)
    fit_s: float = 0.0
    placed_by_transform: int = 0     # new clips first placed by the anchor's transform
    notes: list[str] = field(default_factory=list)

    def axis_label(self, k: int) -> str:
        if self.method == "umap":
            return f"UMAP {k + 1} ({self.source})"
        top = np.argsort(-np.abs(self.loadings[k]))[:2]
        names = ", ".join(f"{'+' if self.loadings[k][i] >= 0 else '-'}{self.feature_names[i]}" for i in top)
        return f"PC{k + 1} ({self.explained[k] * 100:.0f}%: {names})"

    def keys(self) -> list[tuple[int, int, int]]:
        return [clip_key(sc) for sc in self.clips]

    def extent(self) -> float:
        """The diagonal of the map's bounding box (what "5% of the map" is a share of)."""
        if len(self.xy) < 2:
            return 0.0
        return float(np.linalg.norm(self.xy.max(0) - self.xy.min(0)))

    def points(self) -> list[dict]:
        """One dict per clip: where it sits on the map and what to play."""
        return [{"position": sc.position, "x": float(x), "y": float(y), "symbols": list(sc.clip.symbols),
                 "who": list(sc.clip.who), "take_id": sc.clip.take_id, "start_sample": sc.clip.start,
                 "end_sample": sc.clip.end, "start_s": round(sc.clip.start_s, 6), "end_s": round(sc.clip.end_s, 6)}
                for sc, (x, y) in zip(self.clips, self.xy)]


def project(rows: np.ndarray) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    """PCA of a feature matrix with NaNs (filled with column means). Deterministic signs."""
    n, f = rows.shape
    if n == 0:
        return np.zeros((0, 2)), (0.0, 0.0), np.zeros((2, f))
    x = Standardiser.fit(rows)(rows)
    return _pca(x)


def _pca(x: np.ndarray) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    n, f = x.shape
    if n < 2:
        return np.zeros((n, 2)), (0.0, 0.0), np.zeros((2, f))
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    comps = np.zeros((2, f))
    k = min(2, vt.shape[0])
    comps[:k] = vt[:k]
    for i in range(k):  # sign: largest loading positive, so the same data gives the same picture
        if comps[i][np.argmax(np.abs(comps[i]))] < 0:
            comps[i] = -comps[i]
    var = s ** 2
    total = var.sum() or 1.0
    explained = tuple(float(var[i] / total) if i < len(var) else 0.0 for i in range(2))
    return x @ comps.T, explained, comps


def procrustes_align(reference: np.ndarray, moving: np.ndarray, apply_to: np.ndarray | None = None) -> np.ndarray:
    """The rotation/reflection, scale and shift that best put `moving` onto `reference`
    (least squares), applied to `apply_to` (default: `moving` itself)."""
    mu_r, mu_m = reference.mean(0), moving.mean(0)
    m = moving - mu_m
    u, s, vt = np.linalg.svd(m.T @ (reference - mu_r))
    scale = s.sum() / max((m ** 2).sum(), 1e-12)
    target = moving if apply_to is None else apply_to
    return (target - mu_m) @ (u @ vt) * scale + mu_r


def procrustes_displacement(a: "ClipMap", b: "ClipMap") -> dict:
    """How far the clips two maps share moved, after aligning b on a: the largest and the
    median distance as a share of a's extent."""
    index = {k: i for i, k in enumerate(a.keys())}
    pairs = [(index[k], j) for j, k in enumerate(b.keys()) if k in index]
    if len(pairs) < 3:
        raise ValueError(f"{a.ref} and {b.ref} share {len(pairs)} clips: too few to compare")
    ia, ib = (np.array(x) for x in zip(*pairs))
    aligned = procrustes_align(a.xy[ia], b.xy[ib])
    d = np.linalg.norm(aligned - a.xy[ia], axis=1) / (a.extent() or 1.0)
    return {"shared": len(pairs), "max": float(d.max()), "median": float(np.median(d))}


ANCHORED_EPOCHS = 20        # a fit started from the previous version's positions: a short, gentle settle
ANCHORED_LEARNING_RATE = 0.01


_umap_lock = threading.Lock()
_umap_module = None


def import_umap():
    """umap-learn, its numba functions compiled once per installation, not once per process.

    umap-learn 0.5 declares its own jitted functions without `cache=True` (pynndescent's
    have it), so every new process compiled them again: 7-11 s quiet, 40-90 s on a loaded
    machine for the first fit, as much again for the first `transform`. Each of umap's
    dispatchers is switched to numba's on-disk cache before anything is compiled: the
    compiled code lands in umap's `__pycache__` (or NUMBA_CACHE_DIR where that is read-only)
    and later processes load it in well under a second. Numba keys each entry by the source
    file's timestamp and the signature, so an upgraded umap-learn compiles afresh."""
    global _umap_module
    with _umap_lock:
        if _umap_module is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import umap
                from numba.core.caching import NullCache
                from numba.core.registry import CPUDispatcher

            for name, module in list(sys.modules.items()):
                if name == "umap" or name.startswith("umap."):
                    for value in list(vars(module).values()):
                        if isinstance(value, CPUDispatcher) and isinstance(getattr(value, "_cache", None), NullCache):
                            value.enable_caching()
            _umap_module = umap
        return _umap_module


def warm_umap() -> float:
    """Compile (or load) umap's functions once: a fit and a `transform` of a few random
    points, as a map does. scripts/setup runs it, so neither the first map nor the suite
    pays the compilation. Returns the seconds it took."""
    started = time.monotonic()
    x = np.random.default_rng(0).standard_normal((UMAP_MIN_CLIPS * 3, len(FEATURES)))
    reducer, _ = _umap(x, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer.transform(x[:3])
    return time.monotonic() - started


def _umap(x: np.ndarray, seed: int, init=None):
    umap = import_umap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "n_jobs overridden by setting random_state": seeded on purpose
        settle = {} if init is None else {"n_epochs": ANCHORED_EPOCHS, "learning_rate": ANCHORED_LEARNING_RATE}
        reducer = umap.UMAP(n_neighbors=max(2, min(15, len(x) - 1)), min_dist=0.1, random_state=seed,
                            init=init if init is not None else "spectral", n_jobs=1, **settle)
        xy = reducer.fit_transform(x)
    return reducer, np.asarray(xy, dtype=np.float64)


def embed(ref: str, clips: list[StoredClip], rows: np.ndarray, *, method: str = "pca", seed: int = 0,
          anchor: ClipMap | None = None, source: str = "descriptors",
          feature_names: tuple[str, ...] = FEATURES) -> ClipMap:
    """Project feature rows (one per clip) to 2D with PCA or UMAP (see the module doc)."""
    if method not in METHODS:
        raise ValueError(f"a map is drawn with {' or '.join(METHODS)}, not {method!r}")
    started = time.monotonic()
    std = anchor.standardiser if anchor is not None and anchor.standardiser is not None else Standardiser.fit(rows)
    x = std(rows) if len(rows) else rows
    notes: list[str] = []
    if method == "umap" and len(clips) < UMAP_MIN_CLIPS:
        notes.append(f"{len(clips)} clips: too few for UMAP, drawn with PCA")
        method = "pca"
    if method == "pca":
        xy, explained, comps = _pca(x) if len(x) else (np.zeros((0, 2)), (0.0, 0.0), np.zeros((2, len(feature_names))))
        return ClipMap(ref, clips, xy, explained, comps, "pca", source, feature_names, x, std,
                       fit_s=time.monotonic() - started, notes=notes)
    init, placed = None, 0
    if anchor is not None and anchor.method == "umap" and anchor.reducer is not None:
        known = {k: anchor.xy[i] for i, k in enumerate(anchor.keys())}
        keys = [clip_key(sc) for sc in clips]
        new = [i for i, k in enumerate(keys) if k not in known]
        init = np.array([known.get(k, (0.0, 0.0)) for k in keys], dtype=np.float64)
        if new:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                init[new] = anchor.reducer.transform(x[new])
            placed = len(new)
    reducer, xy = _umap(x, seed, init)
    cmap = ClipMap(ref, clips, xy, (0.0, 0.0), np.zeros((2, len(feature_names))), "umap", source, feature_names,
                   x, std, reducer, notes=notes, placed_by_transform=placed)
    if init is not None:   # the same frame as the anchor: align on the shared clips
        index = {k: i for i, k in enumerate(anchor.keys())}
        shared = [i for i, k in enumerate(cmap.keys()) if k in index]
        if len(shared) >= 3:
            # affine, not only similarity: UMAP rescales its init to a 10 x 10 box axis by axis
            ref_xy = anchor.xy[[index[cmap.keys()[i]] for i in shared]]
            lift = np.hstack([xy, np.ones((len(xy), 1))])
            fit, *_ = np.linalg.lstsq(lift[shared], ref_xy, rcond=None)
            cmap.xy = lift @ fit
    cmap.fit_s = time.monotonic() - started
    return cmap


def clip_map(db: sqlite_utils.Database, ref, *, method: str = "pca", seed: int = 0, anchor: ClipMap | None = None,
             rows: np.ndarray | None = None, source: str = "descriptors",
             feature_names: tuple[str, ...] = FEATURES) -> ClipMap:
    """The map of a dataset version from its clips' descriptors (or the feature `rows` given,
    e.g. `latent_rows`)."""
    info = version_info(db, ref)
    clips = version_clips(db, info.id)
    if rows is None:
        rows = np.array([feature_row(sc.descriptors) for sc in clips], dtype=np.float64).reshape(len(clips), len(FEATURES))
    return embed(info.ref, clips, rows, method=method, seed=seed, anchor=anchor, source=source,
                 feature_names=feature_names)


# -- a generation's latent --------------------------------------------------------------------

def clip_audio(ws, db, clips: list[StoredClip]) -> list[np.ndarray]:
    """Each clip's audio (mono, 48 kHz) read from its take."""
    import soundfile as sf

    from ..training.dataset import resample

    paths: dict[int, Path] = {}
    out = []
    for sc in clips:
        tid = sc.clip.take_id
        if tid not in paths:
            row = db.execute("SELECT path FROM takes WHERE id = ?", [tid]).fetchone()
            if row is None:
                raise LookupError(f"clip {sc.position}: take {tid} is not in the store")
            paths[tid] = ws.resolve(row[0])
        try:
            with sf.SoundFile(str(paths[tid])) as f:
                sr = f.samplerate
                f.seek(sc.clip.start)
                data = f.read(sc.clip.end - sc.clip.start, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise LookupError(f"{paths[tid]}: cannot read clip {sc.position} ({exc})") from None
        out.append(resample(data.mean(axis=1), sr, 48000))
    return out


def encode_frames(model, audio: np.ndarray) -> np.ndarray:
    """A model's latent frames (n, channels) for one clip: `model.encode(context + audio)`."""
    import torch

    hop, context = int(model.hop), int(getattr(model, "context", 0))
    n = max(len(audio) // hop, 1) * hop
    x = torch.zeros(1, context + n)
    x[0, context:context + min(n, len(audio))] = torch.as_tensor(audio[:n])
    with torch.no_grad():
        z = model.encode(x)
    return z[0].float().cpu().numpy()


def latent_rows(ws, db, ref, gen_ref) -> tuple[np.ndarray, list[np.ndarray], tuple[str, ...], str]:
    """(rows, frames per clip, feature names, source label) of a version's clips through a
    generation's `encode`: each row the mean and std of each latent channel."""
    from ..training import generations as gens
    from ..training.imported import is_module_file, module_encoder
    from ..training.render import load_generation_model

    gen = gens.get_generation(db, gen_ref)
    ckpt = gens.checkpoint_for(db, gen)
    if is_module_file(ckpt["path"]):          # an imported nn~ module (a RAVE model): its own encode
        model = module_encoder(ws, gen, ckpt["path"])
    else:
        model, gen, _ = load_generation_model(ws, db, gen_ref)
    if not hasattr(model, "encode"):
        raise LookupError(f"{gen['name']} ({gen['family']}) has no encode method: map it from descriptors")
    model.eval()
    clips = version_clips(db, version_info(db, ref).id)
    frames = [encode_frames(model, a) for a in clip_audio(ws, db, clips)]
    rows = np.array([np.concatenate([f.mean(0), f.std(0)]) for f in frames], dtype=np.float64)
    k = frames[0].shape[1] if frames else 0
    names = tuple(f"z{i} mean" for i in range(k)) + tuple(f"z{i} std" for i in range(k))
    return rows, frames, names, f"{gen['name']} latent"


# -- pictures -----------------------------------------------------------------------------------

def write_png(cmap: ClipMap, path: str | Path, *, title: str | None = None, colour_by: str = "symbol") -> Path:
    """The map as a picture (.png or .svg by the file's suffix), one colour per group."""
    from ..pictures import figure

    path = Path(path)
    points = cmap.points()
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(group_of(p, colour_by), []).append(i)
    with figure(path) as (fig, ax):
        for label, idx in sorted(groups.items()):
            pts = cmap.xy[idx]
            ax.scatter(pts[:, 0], pts[:, 1], s=18, alpha=0.8, label=f"{label} ({len(idx)})")
        ax.set_xlabel(cmap.axis_label(0))
        ax.set_ylabel(cmap.axis_label(1))
        ax.set_title(title or f"{cmap.ref}: {len(cmap.clips)} clips, {cmap.method.upper()} of {cmap.source}, "
                              f"by {colour_by}")
        if groups:
            ax.legend(loc="best", fontsize="small", title=colour_by)
        ax.grid(alpha=0.3)
    return path
