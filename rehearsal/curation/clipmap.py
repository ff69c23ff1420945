"""A 2D map of a dataset's clips from their descriptors (PCA), as data and as a PNG.

Features: loudness, pitch (MIDI number; the mean where a clip has none), pitched
fraction, log centroid, flatness, onset rate and log duration, each standardised, then
projected on the two principal axes. `ClipMap.points()` is what a TUI screen moves
through (and plays); `write_png` draws it for sharing (matplotlib, imported when drawing).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from .versions import StoredClip, version_clips, version_info

FEATURES = ("loudness_db", "pitch_midi", "pitched_fraction", "log2_centroid", "flatness", "onset_rate",
            "log2_duration")


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


@dataclass
class ClipMap:
    ref: str
    clips: list[StoredClip]
    xy: np.ndarray                # (n, 2)
    explained: tuple[float, float]   # share of variance on each axis
    loadings: np.ndarray          # (2, len(FEATURES))

    def axis_label(self, k: int) -> str:
        top = np.argsort(-np.abs(self.loadings[k]))[:2]
        names = ", ".join(f"{'+' if self.loadings[k][i] >= 0 else '-'}{FEATURES[i]}" for i in top)
        return f"PC{k + 1} ({self.explained[k] * 100:.0f}%: {names})"

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
    x = rows.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a column with no value at all: mean 0
        means = np.nanmean(x, axis=0)
    means = np.where(np.isnan(means), 0.0, means)
    x = np.where(np.isnan(x), means, x)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)
    if n < 2:
        return np.zeros((n, 2)), (0.0, 0.0), np.zeros((2, f))
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


def clip_map(db: sqlite_utils.Database, ref) -> ClipMap:
    info = version_info(db, ref)
    clips = version_clips(db, info.id)
    rows = np.array([feature_row(sc.descriptors) for sc in clips], dtype=np.float64).reshape(len(clips), len(FEATURES))
    xy, explained, loadings = project(rows)
    return ClipMap(info.ref, clips, xy, explained, loadings)


def write_png(cmap: ClipMap, path: str | Path, *, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    try:
        groups: dict[str, list[int]] = {}
        for i, sc in enumerate(cmap.clips):
            groups.setdefault("+".join(sc.clip.symbols), []).append(i)
        for label, idx in sorted(groups.items()):
            pts = cmap.xy[idx]
            ax.scatter(pts[:, 0], pts[:, 1], s=18, alpha=0.8, label=f"{label} ({len(idx)})")
        ax.set_xlabel(cmap.axis_label(0))
        ax.set_ylabel(cmap.axis_label(1))
        ax.set_title(title or f"{cmap.ref}: {len(cmap.clips)} clips")
        if groups:
            ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
