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


def edit_param(pipeline: Pipeline, step_index: int, key: str, value) -> Pipeline:
    """A new pipeline with `steps[step_index].key = value` (1-based, as in the file); checked."""
    data = tomllib.loads(pipeline.text)
    steps = data.get("steps", [])
    if not 1 <= step_index <= len(steps):
        raise ValueError(f"no step {step_index} in {pipeline.name!r}")
    if key == "use":
        raise ValueError("the step's plugin (use) cannot be changed here")
    steps[step_index - 1][key] = value
    source = pipeline.source if pipeline.source.endswith("(edited)") else f"{pipeline.source} (edited)"
    return parse_pipeline(dump(data), source)
