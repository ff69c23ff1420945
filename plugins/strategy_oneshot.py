"""Built-in strategy: one-shot (divergent). Keep the artefacts; listen to the waste.

One run with a fixed short budget (steps and/or time), no validation and no selection:
every checkpoint is kept, rendered to audio, and can be exported. Reproducible from its
seed when the budget is in steps. `--count N` makes N of them with consecutive seeds.
"""

from rehearsal.plugins import hookimpl
from rehearsal.training.spec import SpecError
from rehearsal.training.strategy import Strategy

EXTREME = {"lr": 0.02, "batch_size": 2, "frames": 32, "warmup_steps": 0, "grad_clip": 100.0,
           "lr_schedule": "constant"}


class OneShot(Strategy):
    name = "one-shot"
    summary = "a short fixed budget, no validation, every checkpoint kept and rendered"
    options = {
        "init": "scratch | perturbed | parent (default: perturbed when --from is given, else scratch)",
        "perturb": "noise added to the parent's weights, relative to each tensor's spread (default 0.05)",
        "extreme": "true: deliberately extreme settings (learning rate 0.02, tiny batches)",
        "checkpoints": "how many checkpoints to keep along the run (default 4)",
    }

    def plan(self, request):
        init = request.take_param("init", "perturbed" if request.parent else "scratch")
        perturb = request.take_param("perturb", 0.05, float)
        extreme = request.take_param("extreme", False, bool)
        n_ckpt = max(1, request.take_param("checkpoints", 4, int))
        if init not in ("scratch", "perturbed", "parent"):
            raise SpecError(f"init={init!r}: choose scratch, perturbed or parent")
        if init != "scratch" and request.parent is None:
            raise SpecError(f"init={init} needs a parent: --from GEN")
        max_steps = request.max_steps
        budget = request.budget_s
        if max_steps is None and budget is None:
            max_steps, budget = 200, 45.0   # about a minute, start-up and previews included
        settings = dict(EXTREME) if extreme else {"lr": 3e-3, "lr_schedule": "cosine"}
        if extreme and init == "perturbed":
            perturb = max(perturb, 0.5)
        settings.update(init={"perturbed": "perturbed-parent"}.get(init, init), perturb=perturb if init == "perturbed" else 0.0,
                        validation=False, keep="all", patience=0, budget_s=budget, max_steps=max_steps,
                        checkpoint_every_steps=max(1, max_steps // n_ckpt) if max_steps else None)
        if init == "scratch":
            settings["parent_id"] = None
        specs = []
        for i in range(request.count):
            label = f"one-shot {i + 1}/{request.count}" if request.count > 1 else "one-shot"
            if extreme:
                label += " extreme"
            specs.append(self.base_spec(request, label=label, seed=self.seed_for(request, i), **settings))
        return specs


@hookimpl
def register_training_strategies(register):
    register("one-shot", OneShot())
