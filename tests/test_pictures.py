"""Pictures of training drawn from progress files (the units; the CLI and the Models screen
draw them from real runs in test_training_runs.py and test_tui_curation_models.py)."""

from __future__ import annotations

import pytest

from rehearsal.training.plots import curves_from_events, plot_curves

ARTEFACTS = None


def _events(scale: float, steps: int = 20, eval_every: int = 5, with_time: bool = True):
    out = [{"event": "start", "step": 0}]
    for s in range(1, steps + 1):
        out.append({"event": "step", "step": s, "loss": scale * (1.0 + 4.0 / s), "elapsed_s": 0.5 * s})
        if s % eval_every == 0:
            e = {"event": "eval", "step": s, "val_loss": scale * (1.2 + 4.0 / s)}
            if with_time:
                e["elapsed_s"] = 0.5 * s
            out.append(e)
    return out


def test_curves_take_wall_time_from_eval_events_or_the_steps_around_them():
    gen = {"id": 3, "name": "g3", "parent_id": 2, "metrics": {"baseline_val_loss": 2.5}}
    c = curves_from_events(gen, _events(1.0, with_time=False) + [{"event": "eval", "step": 7, "val_loss": None}])
    assert [v[:2] for v in c.val] == [(5, 2.5), (10, 5.0), (15, 7.5), (20, 10.0)]   # interpolated
    assert c.baseline == 2.5 and c.parent_id == 2 and len(c.train) == 20


def test_plot_draws_both_axes_baselines_and_a_parent(tmp_path):
    child = curves_from_events({"id": 2, "name": "g2", "parent_id": 1, "metrics": {"baseline_val_loss": 3.0}},
                               _events(0.5))
    parent = curves_from_events({"id": 1, "name": "g1", "parent_id": None, "metrics": {"baseline_val_loss": 3.0}},
                                _events(1.0))
    drawn = plot_curves([child], tmp_path / "curves.png", parents={1: parent})
    assert drawn.labels == ["g2 training loss", "g2 validation loss", "g2 noise baseline 3", "g1 (parent) training loss",
                            "g1 (parent) validation loss"]
    assert drawn.path.stat().st_size > 20_000
    empty = plot_curves([curves_from_events({"id": 4, "name": "g4", "parent_id": None}, [])], tmp_path / "none.svg")
    assert empty.labels == [] and b"no loss recorded yet" in empty.path.read_bytes()
    with pytest.raises(ValueError, match="x.jpg.*png or .svg"):
        plot_curves([child], tmp_path / "x.jpg")
