"""Built-in strategy: convergent. Make the model sound like us.

From the parent generation (by default the current one) or from scratch, with a held-out
validation split; stops at the budget or when the validation spectral loss stops improving,
and keeps the best checkpoint.
"""

from rehearsal.plugins import hookimpl
from rehearsal.training.spec import SpecError
from rehearsal.training.strategy import Strategy


class Convergent(Strategy):
    name = "convergent"
    summary = "fine-tune the parent (or start from scratch), validate, stop early, keep the best"
    uses_current_as_parent = True
    options = {
        "patience": "evaluations without improvement before stopping (default 6)",
        "eval_every_s": "seconds between evaluations (default: budget / 15, at least 5)",
        "val_fraction": "share of clips held out (default 0.15)",
    }

    def plan(self, request):
        if request.count != 1:
            raise SpecError("convergent trains one model: for a batch, use one-shot --count N")
        from_parent = request.parent is not None
        settings = {"init": "parent" if from_parent else "scratch", "lr": 1e-3 if from_parent else 2e-3,
                    "validation": True, "keep": "best"}
        budget = request.budget_s if request.budget_s is not None else (None if request.max_steps else 180.0)
        if budget:
            settings["eval_every_s"] = max(5.0, budget / 15)
        label = f"convergent from g{request.parent['id']}" if from_parent else "convergent"
        return [self.base_spec(request, label=label, **settings)]


@hookimpl
def register_training_strategies(register):
    register("convergent", Convergent())
