"""Pictures of training: loss and validation curves against steps and wall time, with the
filtered-noise baseline and the parent's curve on the same axes, or several generations
compared in one picture (`rehearsal model show GEN --plot out.png`, the Models screen's `P`).

The curves come from each generation's progress file (progress.jsonl, see progress.py):
"step" events carry the training loss and the elapsed training time, "eval" events the
validation loss (and, from this version on, the elapsed time; older files get it
interpolated from the step events around them). The baseline is the one the worker
measured (metrics "baseline_val_loss"). No torch here; matplotlib only while drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import generations as gens
from .progress import read_all


@dataclass
class TrainingCurves:
    gen_id: int
    name: str
    parent_id: int | None
    train: list[tuple[int, float, float]] = field(default_factory=list)   # (step, elapsed s, loss)
    val: list[tuple[int, float, float]] = field(default_factory=list)
    baseline: float | None = None


def curves_from_events(gen: dict, events: list[dict]) -> TrainingCurves:
    out = TrainingCurves(gen["id"], gen["name"], gen.get("parent_id"),
                         baseline=(gen.get("metrics") or {}).get("baseline_val_loss"))
    pending = []
    for e in events:
        if e.get("event") == "step" and e.get("loss") is not None:
            out.train.append((int(e["step"]), float(e.get("elapsed_s") or 0.0), float(e["loss"])))
        elif e.get("event") == "eval" and e.get("val_loss") is not None:
            pending.append((int(e["step"]), e.get("elapsed_s"), float(e["val_loss"])))
    steps = np.array([s for s, _, _ in out.train], dtype=float)
    times = np.array([t for _, t, _ in out.train], dtype=float)
    for step, elapsed, loss in pending:
        if elapsed is None:
            elapsed = float(np.interp(step, steps, times)) if len(steps) else 0.0
        out.val.append((step, float(elapsed), loss))
    return out


def training_curves(ws, db, ref) -> TrainingCurves:
    from .runner import progress_path

    gen = gens.get_generation(db, ref)
    return curves_from_events(gen, read_all(progress_path(ws, gen)))


@dataclass
class Plotted:
    path: Path
    labels: list[str]        # the legend, in order (what the picture shows)


def plot_curves(curves: list[TrainingCurves], path: str | Path, *, parents: dict[int, TrainingCurves] | None = None,
                title: str | None = None) -> Plotted:
    """Two panels (against steps, against wall time); one colour per generation: training
    loss thin, validation loss with dots, its noise baseline dashed; a parent dotted."""
    from ..pictures import figure

    path = Path(path)
    labels: list[str] = []
    parents = parents or {}
    with figure(path, size=(12, 5), ncols=2) as (fig, axes):
        import matplotlib.pyplot as plt

        colours = plt.get_cmap("tab10").colors
        series = [(c, False) for c in curves] + [(p, True) for p in parents.values()]
        values = []
        for i, (c, is_parent) in enumerate(series):
            colour = colours[i % len(colours)]
            who = f"{c.name} (parent)" if is_parent else c.name
            style = ":" if is_parent else "-"
            for ax, k in ((axes[0], 0), (axes[1], 1)):
                first = ax is axes[0]
                if c.train:
                    ax.plot([p[k] for p in c.train], [p[2] for p in c.train], style, color=colour, lw=0.8,
                            alpha=0.55, label=f"{who} training loss" if first else None)
                if c.val:
                    ax.plot([p[k] for p in c.val], [p[2] for p in c.val], style, color=colour, lw=1.8, marker="o",
                            ms=4, label=f"{who} validation loss" if first else None)
                if c.baseline is not None and not is_parent:
                    ax.axhline(c.baseline, color=colour, ls="--", lw=1.2,
                               label=f"{who} noise baseline {c.baseline:.3g}" if first else None)
            values += [p[2] for p in c.train + c.val] + ([c.baseline] if c.baseline is not None else [])
        positive = [v for v in values if v > 0]
        for ax, xlabel in ((axes[0], "step"), (axes[1], "wall time (s of training)")):
            ax.set_xlabel(xlabel)
            ax.set_ylabel("loss (log-spectral)")
            ax.grid(alpha=0.3)
            if positive and len(positive) == len(values) and max(positive) / min(positive) > 20:
                ax.set_yscale("log")
        handles, names = axes[0].get_legend_handles_labels()
        labels = list(names)
        if handles:
            axes[0].legend(loc="best", fontsize="small")
        if not values:
            axes[0].text(0.5, 0.5, "no loss recorded yet", ha="center", va="center", transform=axes[0].transAxes)
        fig.suptitle(title or ", ".join(c.name for c in curves) + ": loss against steps and wall time")
    return Plotted(path, labels)


def plot_generations(ws, db, refs, path: str | Path, *, with_parent: bool = True) -> Plotted:
    """One generation with its parent on the same axes, or several compared (no parents:
    each is a curve of its own)."""
    curves = [training_curves(ws, db, r) for r in refs]
    parents: dict[int, TrainingCurves] = {}
    if with_parent and len(curves) == 1 and curves[0].parent_id:
        try:
            parents[curves[0].parent_id] = training_curves(ws, db, curves[0].parent_id)
        except gens.GenerationNotFound:
            pass
    return plot_curves(curves, path, parents=parents)
