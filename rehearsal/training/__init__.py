"""Training: dataset version -> strategy -> model generation, with lineage and export.

Importing this package never imports torch (the recorder and `rehearsal --help` stay light);
torch comes in with the modules that need it: dsp, families.pitch/latent, loop, worker,
checkpoints, evaluation, render, export.

Library API (the CLI and the TUI use these):

- datasets: `resolve_dataset(ws, db, ref) -> DatasetInfo` (a folder, or a curation version)
- planning: `make_request(db, dataset, strategy, family=, parent_ref=, scratch=, budget_s=,
  max_steps=, seed=, count=, params=)`, then `plan_generations(ws, db, request) -> [ids]`;
  `parse_budget("5 minutes" | "1h30m" | "500 steps")` -> those budget keywords (CLI and TUI)
- running: `start_run(ws, id, resume=, threads=, low_priority=, device=, set_current=)
  -> TrainingRun` (`.poll()`, `.events()`, `.wait()`, `.cancel()`); `cancel_run(ws, db, ref)`
- progress: `ProgressReader(path).read()`, `loss_curve(path)`, `progress_path(ws, gen)`
- generations: `list_generations`, `get_generation`, `lineage_tree`, `ancestry`, `list_checkpoints`,
  `checkpoint_for`, `set_current`, `current_generation`, `go_back`, `add_note`, `notes`,
  `reconcile`, `previews(ws, db, ref)`
- plugins: `model_families()`, `training_strategies()`; `rehearsal.training.render` and `.export` for models
"""

from .dataset import DatasetError, DatasetInfo, resolve_dataset
from .family import Family, get_family, model_families
from .generations import (GenerationNotFound, LineageNode, add_note, ancestry, checkpoint_for, list_checkpoints,
                          current_generation, current_history, delete_note, get_generation, go_back,
                          lineage_tree, list_generations, notes, reconcile, set_current)
from .progress import ProgressReader, loss_curve
from .runner import TrainingRun, cancel_run, describe_end, make_request, plan_generations, previews, progress_path, start_run
from .spec import RunSpec, SpecError, TrainRequest, parse_budget, parse_duration
from .strategy import Strategy, get_strategy, training_strategies

__all__ = [
    "DatasetError", "DatasetInfo", "resolve_dataset", "Family", "model_families", "get_family",
    "GenerationNotFound", "LineageNode", "add_note", "ancestry", "checkpoint_for", "list_checkpoints",
    "current_generation", "current_history", "delete_note", "get_generation", "go_back", "lineage_tree",
    "list_generations", "notes", "reconcile", "set_current", "ProgressReader", "loss_curve", "TrainingRun",
    "cancel_run", "describe_end", "make_request", "plan_generations", "previews", "progress_path", "start_run",
    "RunSpec", "SpecError", "TrainRequest", "parse_budget", "parse_duration", "Strategy", "get_strategy", "training_strategies",
]
