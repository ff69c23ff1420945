"""What a run is asked to do: `TrainRequest` (one command) and `RunSpec` (one generation).

A strategy turns a request into run specs; the runner executes each spec in its own
process. Specs are plain JSON so a generation records exactly how it was made, a run can
be resumed from its spec alone, and a strategy plugin never touches torch.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .dataset import DatasetInfo


class SpecError(ValueError):
    pass


@dataclass
class RunSpec:
    family: str
    strategy: str
    label: str
    seed: int
    family_params: dict = field(default_factory=dict)
    init: str = "scratch"                 # scratch | parent | perturbed-parent
    parent_id: int | None = None
    perturb: float = 0.0                  # std of the noise added to the parent's weights, relative
    symbols: list[str] | None = None      # train only on clips carrying one of these
    budget_s: float | None = None         # wall-clock budget, evaluation and previews included
    max_steps: int | None = None
    batch_size: int = 8
    frames: int = 128                     # blocks per training window (128 x 256 = 0.68 s)
    lr: float = 2e-3
    lr_schedule: str = "constant"         # constant | cosine (over max_steps)
    warmup_steps: int = 20
    grad_clip: float = 1.0
    validation: bool = True
    val_fraction: float = 0.15
    eval_every_steps: int | None = None
    eval_every_s: float | None = 15.0
    patience: int = 6                     # evaluations without improvement before stopping
    min_delta: float = 0.002              # relative improvement that counts
    keep: str = "best"                    # best (one checkpoint) | all (every checkpoint: "waste")
    checkpoint_every_steps: int | None = None
    probe_count: int = 3
    probe_seconds: float = 4.0
    log_every: int = 5

    def __post_init__(self) -> None:
        if self.init not in ("scratch", "parent", "perturbed-parent"):
            raise SpecError(f"init must be scratch, parent or perturbed-parent, not {self.init!r}")
        if self.init != "scratch" and self.parent_id is None:
            raise SpecError(f"init={self.init} needs a parent generation")
        if self.keep not in ("best", "all"):
            raise SpecError(f"keep must be best or all, not {self.keep!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise SpecError(f"lr_schedule must be constant or cosine, not {self.lr_schedule!r}")
        if self.budget_s is None and self.max_steps is None:
            raise SpecError("a run needs a budget: a time (budget_s) or a number of steps (max_steps)")
        if self.budget_s is not None and not self.budget_s > 0:
            raise SpecError(f"budget_s={self.budget_s:g}: {NO_BUDGET}")
        if self.max_steps is not None and self.max_steps < 1:
            raise SpecError(f"max_steps={self.max_steps}: {NO_BUDGET}")
        if self.keep == "best" and not self.validation:
            raise SpecError("keep=best chooses by validation loss: it needs validation")
        if self.batch_size < 1 or self.frames < 1:
            raise SpecError("batch_size and frames must be at least 1")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown run settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)


SPEC_FIELDS = {f.name: f for f in dataclasses.fields(RunSpec)}


@dataclass
class TrainRequest:
    """One `rehearsal train` command, before a strategy plans it."""

    dataset: DatasetInfo
    strategy: str
    family: str | None = None
    parent: dict | None = None            # the generation row to start from, if any
    scratch: bool = False                 # refuse the default parent
    budget_s: float | None = None
    max_steps: int | None = None
    seed: int | None = None
    count: int = 1
    params: dict[str, str] = field(default_factory=dict)   # -p key=value, as typed

    def take_param(self, key: str, default: Any = None, kind=str) -> Any:
        """Read (and consume) a strategy option from -p key=value."""
        if key not in self.params:
            return default
        return parse_value(self.params.pop(key), kind, key)


BUDGET_WORDS = "a time (90s, 3m, 5 minutes, 1h30m) or a number of steps (500 steps)"
NO_BUDGET = f"a budget must be more than nothing: {BUDGET_WORDS}"

_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)\s*")
_STEPS = re.compile(r"^(\d+)\s*steps?$")


def parse_duration(text: str) -> float:
    """'90', '90s', '3m', '5 minutes', '1.5h', '1h30m', '1 hour 30 min' -> seconds."""
    low = str(text).strip().lower()
    total, pos, parts = 0.0, 0, 0
    while pos < len(low):
        m = _PART.match(low, pos)
        if not m or m.group(2) not in _UNITS and not (m.group(2) == "" and m.end() == len(low) and parts == 0):
            raise SpecError(f"{text!r} is not a duration: try 90s, 3m, 5 minutes or 1h30m")
        total += float(m.group(1)) * _UNITS.get(m.group(2), 1)
        pos, parts = m.end(), parts + 1
    if not parts:
        raise SpecError(f"{text!r} is not a duration: try 90s, 3m, 5 minutes or 1h30m")
    return total


def parse_budget(text: str) -> dict:
    """A budget as a person types it, for the CLI's --budget and the TUI's prompt alike.

    '' -> {} (the strategy's default); '500 steps' -> {"max_steps": 500}; '90s', '3m',
    '5 minutes', '1h30m' -> {"budget_s": seconds}: the keywords of `make_request`.
    Nothing ('0s', '0 steps') is refused here, before any generation is planned."""
    low = str(text).strip().lower()
    if not low:
        return {}
    m = _STEPS.match(low)
    if m:
        if int(m.group(1)) < 1:
            raise SpecError(f"{text!r}: {NO_BUDGET}")
        return {"max_steps": int(m.group(1))}
    try:
        seconds = parse_duration(low)
    except SpecError:
        raise SpecError(f"{text!r} is not a budget: {BUDGET_WORDS}") from None
    if seconds <= 0:
        raise SpecError(f"{text!r}: {NO_BUDGET}")
    return {"budget_s": seconds}


def parse_value(text: str, kind, key: str = "value"):
    try:
        if kind is bool:
            low = str(text).lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(text)
    except (TypeError, ValueError):
        raise SpecError(f"{key}={text!r}: expected {getattr(kind, '__name__', kind)}") from None


def field_kind(name: str):
    """The Python type of a RunSpec field, for parsing -p values."""
    t = str(SPEC_FIELDS[name].type)
    for k, typ in (("bool", bool), ("int", int), ("float", float)):
        if t.startswith(k):
            return typ
    if t.startswith("list"):
        return lambda s: [x for x in str(s).split(",") if x]
    return str


def apply_params(spec: RunSpec, params: dict[str, str], family_defaults: dict) -> RunSpec:
    """-p key=value onto a spec: run settings first, then the family's parameters."""
    changes: dict[str, Any] = {}
    family_params = dict(spec.family_params)
    for key, raw in params.items():
        if key in SPEC_FIELDS and key not in ("family", "strategy", "family_params"):
            changes[key] = None if str(raw).lower() == "none" else parse_value(raw, field_kind(key), key)
        elif key in family_defaults:
            family_params[key] = parse_value(raw, type(family_defaults[key]), key)
        else:
            options = sorted(set(SPEC_FIELDS) - {"family", "strategy", "family_params"}) + sorted(family_defaults)
            raise SpecError(f"unknown setting {key!r}; settings are: {', '.join(options)}")
    return spec.replace(family_params=family_params, **changes)
