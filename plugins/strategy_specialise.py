"""Built-in strategy: specialise. One model per group of symbols, from one dataset version.

"One model on everything became a large cacophony": a group is a sound environment, a
technique, a section. Each group trains as a convergent run on the clips carrying one of
its symbols; each becomes its own generation (its symbols recorded), and can be made
current within its own scope (`rehearsal model set-current g9 --scope forest`).
"""

from rehearsal.plugins import hookimpl
from rehearsal.training.spec import SpecError
from rehearsal.training.strategy import Strategy


def parse_groups(text: str) -> list[list[str]]:
    groups = [[s.strip() for s in g.split(",") if s.strip()] for g in text.split(";")]
    return [g for g in groups if g]


class Specialise(Strategy):
    name = "specialise"
    summary = "one convergent model per group of symbols (default: one per symbol)"
    options = {
        "groups": "groups of symbols: 'wind,rain;voice' (default: one group per symbol in the dataset)",
        "min_clips": "skip groups with fewer clips than this (default 2)",
    }

    def plan(self, request):
        text = request.take_param("groups", None)
        min_clips = request.take_param("min_clips", 2, int)
        known = request.dataset.symbols()
        groups = parse_groups(text) if text else [[s] for s in known]
        unknown = sorted({s for g in groups for s in g} - set(known))
        if unknown:
            raise SpecError(f"symbols not in the dataset: {', '.join(unknown)} (it has: {', '.join(known)})")
        specs = []
        from_parent = request.parent is not None
        for i, group in enumerate(groups):
            if len(request.dataset.with_symbols(group)) < min_clips:
                continue
            label = "specialise " + "+".join(group)
            specs.append(self.base_spec(request, label=label, seed=self.seed_for(request, i), symbols=group,
                                        init="parent" if from_parent else "scratch",
                                        lr=1e-3 if from_parent else 2e-3, validation=True, keep="best"))
        if not specs:
            raise SpecError(f"no group has {min_clips} clips or more; lower min_clips or name groups")
        return specs


@hookimpl
def register_training_strategies(register):
    register("specialise", Specialise())
