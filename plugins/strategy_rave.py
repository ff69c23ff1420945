"""Built-in strategy: rave. Train a RAVE model with acids-rave 2.3.1, as a separate program.

    rehearsal train -d voice@3 -s rave -p config=v2 --steps 500000 --device cuda
    rehearsal train -d voice@4 -s rave --from g12 --steps 20000        # convergent: g12's weights
    rehearsal train -d voice@4 -s rave -p mode=one-shot -p config=v2_small

Modes:
- fresh (default without --from): RAVE from scratch on the dataset; one checkpoint kept;
- convergent (default with --from GEN, a RAVE generation): the parent's weights only (not
  its optimizer or step count), validated before the first step; one checkpoint kept;
- one-shot: a fixed short budget (default 5000 steps), every checkpoint kept as "waste"
  (previews rendered at each), as many as fit in the disk budget (default 2 GB; a v2
  checkpoint is about 465 MB, v2_small about 121 MB); a checkpoint that would pass the
  budget is refused before it is written and the run stops there, keeping what is on disk
  (rave_driver.py's DiskBudget).

The run (see rehearsal/training/rave.py) exports the dataset, runs `rave preprocess`,
`rave train` and `rave export --streaming`, and makes the export the model of the run's own
generation (family `rave`, with its lineage): one generation, as our own families make. `rave` is found from -p rave=PATH, $REHEARSAL_RAVE, or
scripts/setup-rave's venv; when missing, the plan says how to install it.
"""

import re

from rehearsal.plugins import hookimpl
from rehearsal.training.spec import RunSpec, SpecError
from rehearsal.training.strategy import Strategy

MODES = ("fresh", "convergent", "one-shot")
ONE_SHOT_STEPS = 5000
DEFAULT_STEPS = 6_000_000            # rave train's own --max_steps default
INT_OPTIONS = ("batch", "n_signal", "val_every", "save_every", "workers")


def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise SpecError(f"disk_budget={text!r}: write a size such as 2GB or 800MB")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2)])


class Rave(Strategy):
    name = "rave"
    summary = "RAVE (acids-rave 2.3.1, its own venv): preprocess, train, export --streaming, import"
    options = {
        "config": "RAVE config(s), comma-separated, passed through: v2 (default), v2_small, causal, raspberry...",
        "mode": "fresh | convergent (from --from GEN's RAVE checkpoint, weights only) | one-shot",
        "rave": "the `rave` program (or its venv folder); default: scripts/setup-rave's venv",
        "batch": "rave train --batch (default 8)",
        "n_signal": "rave train --n_signal (default 131072; raised when validation needs it)",
        "val_every": "rave train --val_every (default 10000)",
        "save_every": "rave train --save_every (one-shot: max_steps / checkpoints)",
        "workers": "rave train --workers (default 8)",
        "gpus": "CUDA devices, comma-separated (several: RAVE's multi-GPU); default: --device",
        "override": "gin bindings for rave train --override, separated by ';'",
        "ckpt": "convergent: a RAVE .ckpt to take the weights from instead of the parent's",
        "checkpoints": "one-shot: how many checkpoints along the run (default 4)",
        "disk_budget": "one-shot: the most all its checkpoints may take (default 2GB)",
    }
    uses_current_as_parent = False
    family = "rave"

    def plan(self, request):
        from rehearsal.training.rave import CKPT_BYTES, RaveError, config_names, find_rave

        mode = request.take_param("mode", "convergent" if request.parent else "fresh")
        if mode not in MODES:
            raise SpecError(f"mode={mode!r}: choose {', '.join(MODES)}")
        settings = {"mode": mode, "config": config_names(request.take_param("config", "v2"))}
        rave_setting = request.take_param("rave")
        try:
            settings["rave"] = str(find_rave(rave_setting))
        except RaveError as exc:
            raise SpecError(str(exc)) from None
        for key in INT_OPTIONS:
            value = request.take_param(key, None, int)
            if value is not None:
                if value < (0 if key == "workers" else 1):
                    raise SpecError(f"{key}={value}: must be at least {0 if key == 'workers' else 1}")
                settings[key] = value
        gpus = request.take_param("gpus")
        if gpus:
            settings["gpus"] = gpus
        override = request.take_param("override")
        if override:
            settings["override"] = [o.strip() for o in override.split(";") if o.strip()]
        ckpt = request.take_param("ckpt")
        if ckpt:
            settings["ckpt"] = ckpt
        n_ckpt = max(1, request.take_param("checkpoints", 4, int))
        disk = parse_bytes(request.take_param("disk_budget", "2GB"))
        if request.params:
            raise SpecError(f"unknown setting(s) for rave: {', '.join(sorted(request.params))}; settings are: "
                            f"{', '.join(sorted(self.options))}")
        if request.count != 1:
            raise SpecError("rave trains one model a run")
        if mode == "convergent" and request.parent is None and not ckpt:
            raise SpecError("mode=convergent takes a parent's weights: --from GEN (a RAVE generation) or -p ckpt=PATH")
        if request.parent is not None and request.parent["family"] != "rave" and not ckpt:
            raise SpecError(f"{request.parent['name']} is a {request.parent['family']} model, not RAVE: its weights "
                            "cannot start a RAVE run (train from scratch without --from)")
        max_steps, budget = request.max_steps, request.budget_s
        keep, validation = "best", True
        if mode == "one-shot":
            if max_steps is None and budget is None:
                max_steps = ONE_SHOT_STEPS
            if max_steps is None:
                raise SpecError("one-shot keeps checkpoints along a budget in steps: give --steps N")
            size = max((CKPT_BYTES.get(c, 0) for c in settings["config"]), default=0)
            if size:
                # what else the run writes (resume.ckpt after a cancel, RAVE's own best and
                # rolling checkpoints at a validation) is held to the budget by the driver,
                # which refuses a checkpoint that would pass it before writing it
                n_ckpt = min(n_ckpt, max(1, disk // size))
            settings.setdefault("save_every", max(1, max_steps // n_ckpt))
            settings["disk_budget_bytes"] = disk
            keep, validation = "all", False
        elif max_steps is None and budget is None:
            max_steps = DEFAULT_STEPS
        parent_id = request.parent["id"] if request.parent and mode == "convergent" else None
        init = "parent" if parent_id else "scratch"
        label = {"fresh": "rave", "convergent": f"rave from g{parent_id}" if parent_id else "rave transfer",
                 "one-shot": "rave one-shot"}[mode] + f" {'+'.join(settings['config'])}"
        return [RunSpec(family=self.family, strategy=self.name, label=label, seed=self.seed_for(request),
                        family_params=settings, init=init, parent_id=parent_id, budget_s=budget,
                        max_steps=max_steps, keep=keep, validation=validation, probe_count=2, probe_seconds=4.0)]

    @staticmethod
    def run_generation(ctx):
        from rehearsal.training.rave import run_generation

        return run_generation(ctx)


@hookimpl
def register_training_strategies(register):
    register("rave", Rave())
