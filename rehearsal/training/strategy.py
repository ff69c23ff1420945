"""What a training strategy plugin provides (no torch here).

A strategy is a planner: it reads a `TrainRequest` (dataset, parent, budget, -p options)
and returns one `RunSpec` per generation to train. The runner does the training; the spec
says how (validation or not, keep the best or every checkpoint, from scratch or from a
perturbed parent...). See docs/training.md, "Writing a strategy".

    class Gentle(Strategy):
        name = "gentle"
        summary = "fine-tune the current model with a small learning rate"
        options = {"lr": "learning rate (default 3e-4)"}

        def plan(self, request):
            spec = self.base_spec(request, init="parent", lr=request.take_param("lr", 3e-4, float))
            return [spec]
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import RunSpec, SpecError, TrainRequest, apply_params

DEFAULT_FAMILY = "pitch"


@dataclass
class RunContext:
    """What the worker hands a strategy that runs its generations itself (`run_generation`)."""

    ws: Any                       # the Workspace
    db: Any                       # the store (sqlite_utils.Database)
    gen: dict                     # the generation row
    spec: RunSpec
    folder: Path                  # models/g<N>/
    progress: Any                 # ProgressWriter of progress.jsonl
    stop: Any                     # .requested(): a signal or the cancel file
    resume: bool = False
    device: str = "cpu"
    threads: int | None = None
    low_priority: bool = False


class Strategy:
    name: str = ""
    summary: str = ""
    options: dict[str, str] = {}
    # A strategy that drives another tool (acids-rave) sets this to a callable
    # `run_generation(ctx: RunContext) -> (stop_reason, metrics)`: the worker then calls it
    # instead of rehearsal's own training loop, and records checkpoints and the outcome the
    # same way (it records its checkpoints with generations.record_checkpoint).
    run_generation = None
    family: str | None = None    # the family every run of it makes (rave); None: the request's

    def plan(self, request: TrainRequest) -> list[RunSpec]:
        raise NotImplementedError

    # helpers for plan() ---------------------------------------------------------------
    def family_for(self, request: TrainRequest) -> str:
        if self.family:
            return self.family
        if request.family:
            return request.family
        if request.parent:
            return request.parent["family"]
        return DEFAULT_FAMILY

    def seed_for(self, request: TrainRequest, offset: int = 0) -> int:
        base = request.seed if request.seed is not None else random.SystemRandom().randrange(1, 2**31 - 1)
        return (base + offset) % (2**31 - 1)

    def base_spec(self, request: TrainRequest, *, label: str | None = None, seed: int | None = None,
                  **settings) -> RunSpec:
        """A spec with the request's family, parent, budget and -p settings applied.

        Strategy options must be taken (request.take_param) before this is called: what is
        left in request.params must be run settings or family parameters.
        """
        from .family import get_family, model_families

        family = self.family_for(request)
        fam = get_family(family)
        if request.parent and request.parent["family"] != family and settings.get("init", "scratch") != "scratch":
            raise SpecError(f"the parent g{request.parent['id']} is a {request.parent['family']} model, "
                            f"not {family}: train from scratch (--scratch) or pick another parent")
        settings.setdefault("parent_id", request.parent["id"] if request.parent else None)
        if request.budget_s is not None:
            settings["budget_s"] = request.budget_s
        if request.max_steps is not None:
            settings["max_steps"] = request.max_steps
        if settings.get("budget_s") is None and settings.get("max_steps") is None:
            settings["budget_s"] = 180.0
        spec = RunSpec(family=family, strategy=self.name, label=label or self.name,
                       seed=seed if seed is not None else self.seed_for(request), **settings)
        condition = request.params.get("condition", "none")
        if condition == "none" and "condition" not in fam.defaults():
            request.params.pop("condition", None)       # nothing to say to a family that is never steered
        if condition not in fam.conditions:
            can = sorted(n for n, f in model_families().items() if condition in f.conditions)
            raise SpecError(f"--condition {condition}: the {family} family cannot be steered by {condition}"
                            + (f" (families that can: {', '.join(can)})" if can else ""))
        spec = apply_params(spec, request.params, fam.defaults())
        if spec.init == "scratch":
            try:
                spec = spec.replace(family_params=fam.plan_params(dict(spec.family_params), request.dataset,
                                                                  spec.symbols))
            except ValueError as exc:
                raise SpecError(str(exc)) from None
        fixed = sorted(set(spec.family_params) - set(getattr(fam, "free_with_parent", ())))
        if spec.init != "scratch" and fixed:
            raise SpecError(f"{', '.join(fixed)}: a model started from a parent keeps the "
                            "parent's architecture; train from scratch (--scratch) to change it")
        return spec


def training_strategies() -> dict[str, Strategy]:
    from ..plugins import registry

    return registry("training_strategies")


def get_strategy(name: str) -> Strategy:
    found = training_strategies()
    if name not in found:
        raise LookupError(f"no training strategy {name!r}; installed: {', '.join(sorted(found)) or 'none'}")
    return found[name]
