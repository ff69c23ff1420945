"""What a curation step is, and what it can ask of the run.

A step is a dataclass whose fields are its parameters (what a pipeline file may set) and
whose `apply(clips, ctx)` returns the clips it keeps or makes. It says why it removed each
clip with `ctx.drop(clip, reason)`, or `ctx.replace(clip, new_clips, reason)` when it
changed one (trimmed, snapped, cut into chunks). Two helpers cover most steps:

- `Filter`: implement `reject(clip, ctx) -> reason or None`.
- `Transform`: implement `transform(clip, ctx) -> list of clips` (or a reason text to drop
  it); override `why(clip, new)` to say what changed.

Parameters are checked against the field types before a step runs (int, float, str, bool,
lists of those, `X | None`, `Literal[...]`); `__post_init__` may raise ValueError for the
rest. Errors then name the pipeline file, line and field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import numpy as np

from .clips import Clip, clip_descriptors


class StepParamError(ValueError):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}" if field else message)


class Step:
    """Base class of curation steps. Subclasses are dataclasses (parameters = fields)."""

    name: ClassVar[str] = ""          # filled in with the registered name

    def apply(self, clips: list[Clip], ctx: "StepContext") -> list[Clip]:
        raise NotImplementedError

    def params(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} if dataclasses.is_dataclass(self) else {}


class Filter(Step):
    """A step that keeps or drops each clip on its own."""

    def reject(self, clip: Clip, ctx: "StepContext") -> str | None:
        raise NotImplementedError

    def apply(self, clips, ctx):
        kept = []
        for clip in clips:
            reason = self.reject(clip, ctx)
            if reason:
                ctx.drop(clip, reason)
            else:
                kept.append(clip)
        return kept


class Transform(Step):
    """A step that turns each clip into zero, one or several clips.

    `transform` returns a list of clips (`[clip]` leaves it as it is), a `(clips, reason)`
    pair, or a reason text to drop the clip.
    """

    def transform(self, clip: Clip, ctx: "StepContext"):
        raise NotImplementedError

    def why(self, clip: Clip, new: list[Clip]) -> str:
        return f"changed into {len(new)} clip(s)"

    def apply(self, clips, ctx):
        out = []
        for clip in clips:
            result = self.transform(clip, ctx)
            if isinstance(result, str):
                ctx.drop(clip, result)
                continue
            reason = None
            if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
                result, reason = result
            result = list(result)
            if len(result) == 1 and result[0] == clip:
                out.append(clip)
                continue
            if not result:
                ctx.drop(clip, f"{self.name or type(self).__name__} left nothing of it")
                continue
            ctx.replace(clip, result, reason or self.why(clip, result))
            out.extend(result)
        return out


@dataclasses.dataclass
class Record:
    """One clip a step removed or replaced."""

    clip: Clip
    reason: str
    replaced_by: tuple[Clip, ...] | None = None


class StepContext:
    """What a step may use: descriptors, takes, notations, audio, and the removal log."""

    def __init__(self, run, step_name: str):
        self._run = run
        self.step_name = step_name
        self.records: list[Record] = []

    # -- data ---------------------------------------------------------------------------
    @property
    def db(self):
        """The workspace database (read it; writing from a step is not allowed)."""
        return self._run.db

    def take(self, take_id: int) -> dict:
        """The takes row (path, sample_rate, frames, session_id, number, notation_id...)."""
        return self._run.store.take(take_id)

    def frames(self, take_id: int):
        """The take's FrameDescriptors (cached, computed once per take and parameters)."""
        return self._run.store.frames(take_id)

    def descriptors(self, clip: Clip) -> dict:
        """Clip descriptors (see clips.clip_descriptors), memoised per region."""
        return self._run.clip_descriptors(clip)

    def notation(self, take_id: int):
        """The notation the take was recorded with (its stored copy)."""
        return self._run.notation_of(take_id)

    def audio(self, clip: Clip) -> np.ndarray:
        """The clip's samples as float32, shape (frames, channels)."""
        return self._run.read_audio(clip)

    # -- reporting ------------------------------------------------------------------------
    def drop(self, clip: Clip, reason: str) -> None:
        self.records.append(Record(clip, str(reason)))

    def replace(self, clip: Clip, new: list[Clip], reason: str) -> None:
        self.records.append(Record(clip, str(reason), tuple(new)))


# -- parameters ---------------------------------------------------------------------------

_TYPE_NAMES = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


def _describe(tp) -> str:
    origin = get_origin(tp)
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0]) if args else 'values'}"
    if origin in (Union, types.UnionType):
        return " or ".join("nothing" if a is type(None) else _describe(a) for a in get_args(tp))
    if tp is Any or tp is object:
        return "any value"
    return getattr(tp, "__name__", str(tp))


def coerce(value, tp, field: str):
    """Check `value` (from TOML) against type `tp`; return it converted (int -> float, list -> tuple)."""
    origin = get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, field)
            except StepParamError:
                pass
        raise StepParamError(field, f"expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in get_args(tp)):
            return value
        raise StepParamError(field, f"expected {_describe(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise StepParamError(field, f"expected {_describe(tp)}, got {value!r}")
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        return tuple(coerce(v, inner, f"{field}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value or value in (float("inf"), float("-inf")):
                raise StepParamError(field, f"expected a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        if isinstance(value, tp):
            return value
    raise StepParamError(field, f"expected {_describe(tp)}, got {value!r}")


def step_fields(cls) -> list[tuple[str, Any, Any, str]]:
    """(name, type, default, help) for each parameter of a step class."""
    if not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        out.append((f.name, hints.get(f.name, Any), default, f.metadata.get("help", "")))
    return out


def build_step(cls, params: dict) -> Step:
    """Instantiate a step class from pipeline parameters; StepParamError names the field."""
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise StepParamError("", f"{cls!r} is not a curation step class (subclass rehearsal.curation.Step)")
    fields = {name: (tp, default) for name, tp, default, _ in step_fields(cls)}
    unknown = [k for k in params if k not in fields]
    if unknown:
        known = ", ".join(fields) or "none"
        raise StepParamError(unknown[0], f"unknown parameter (this step takes: {known})")
    values = {}
    for name, (tp, default) in fields.items():
        if name in params:
            values[name] = coerce(params[name], tp, name)
        elif default is dataclasses.MISSING:
            raise StepParamError(name, "required parameter is missing")
    try:
        return cls(**values)
    except StepParamError:
        raise
    except (ValueError, TypeError) as exc:
        message = str(exc)
        field = getattr(exc, "field", "") or next(
            (n for n in sorted(fields, key=len, reverse=True) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", message)), "")
        raise StepParamError(field, message) from None


__all__ = ["Step", "Filter", "Transform", "StepContext", "Record", "StepParamError", "build_step",
           "step_fields", "coerce", "clip_descriptors"]
