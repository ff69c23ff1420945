"""Editing a pipeline's step parameters from the TUI, as text the store can keep.

A dataset version stores the exact pipeline text it was made with, so an edit is not a
change to an object in memory: the pipeline's TOML is parsed, the one value changed, the
whole written back out as TOML and parsed again by `parse_pipeline`, which checks it as it
checks any file (a bad value is a `PipelineError` naming the field). Comments of the
original are not kept in the edited text.
"""

from __future__ import annotations

import json
import math
import re
import tomllib

from ..curation import Pipeline, parse_pipeline

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_value(text: str):
    """One TOML value as typed: `-35`, `0.5`, `"good"`, `["good", "ok"]`, `true`."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{text.strip()!r} is not a TOML value ({exc}); strings need quotes") from None


def literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {literal(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v), ensure_ascii=False)    # dates and times: as text


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def dump(data: dict) -> str:
    """The pipeline's shape of TOML: top-level values, tables, then arrays of tables."""
    lines, tables, arrays = [], [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {literal(v)}")
    for k, v in tables:
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {literal(b)}" for a, b in v.items()]
    for k, items in arrays:
        for item in items:
            lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {literal(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


def step_parameters(pipeline: Pipeline, registry: dict | None = None) -> dict[int, list[tuple[str, object, bool, str]]]:
    """Per step index: (name, value, set in the file?, help) for every parameter the step takes
    (those not in the file at their defaults, so they can be edited too)."""
    import dataclasses

    from ..curation.steps import step_fields

    registry = _registry() if registry is None else registry
    out = {}
    for spec in pipeline.steps:
        rows = [(k, v, True, "") for k, v in spec.params.items()]
        cls = registry.get(spec.use)
        if cls is not None:
            helps = {}
            for name, _tp, default, help_ in step_fields(cls):
                helps[name] = help_
                if name not in spec.params and default is not dataclasses.MISSING:
                    rows.append((name, default, False, help_))
            rows = [(k, v, inf, h or helps.get(k, "")) for k, v, inf, h in rows]
        out[spec.index] = rows
    return out


def _registry() -> dict:
    from ..plugins import manager

    return manager.registry("curation_steps")


def edit_param(pipeline: Pipeline, step_index: int, key: str, value, registry: dict | None = None) -> Pipeline:
    """A new pipeline with `steps[step_index].key = value` (1-based, as in the file), checked as
    a file is: its syntax, then the step's parameters against its plugin (even when disabled)."""
    data = tomllib.loads(pipeline.text)
    steps = data.get("steps", [])
    if not 1 <= step_index <= len(steps):
        raise ValueError(f"no step {step_index} in {pipeline.name!r}")
    if key == "use":
        raise ValueError("the step's plugin (use) cannot be changed here")
    steps[step_index - 1][key] = value
    source = pipeline.source if pipeline.source.endswith("(edited)") else f"{pipeline.source} (edited)"
    edited = parse_pipeline(dump(data), source)
    edited.instantiate(edited.steps[step_index - 1], _registry() if registry is None else registry)
    return edited
