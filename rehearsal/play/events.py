"""The play process's events, typed: what the engine and its mixer report on their own.

The engine sends `(kind, payload)` over its pipe (plain data); `engine_event` turns each
into one of these on the app's side, so the play room handles types, not strings. Frames
are stream input frames (`input_frame`); `generation_id` is None for dry and may be
negative for a model file that is no generation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class EngineEvent:
    kind: ClassVar[str] = ""
    generation_id: int | None = None
    input_frame: int | None = None
    error: str = ""

    @property
    def label(self) -> str:
        """The event's name, as the play room's PlayEvent says it."""
        return self.kind


KINDS: dict[str, type[EngineEvent]] = {}


def _kind(name: str):
    def register(cls):
        cls.kind = name
        KINDS[name] = cls
        return cls
    return register


@_kind("spare-ready")
@dataclass(frozen=True)
class SpareReady(EngineEvent):
    pid: int | None = None


@_kind("loaded")
@dataclass(frozen=True)
class Loaded(EngineEvent):
    name: str = ""
    pid: int | None = None


@_kind("load-failed")
@dataclass(frozen=True)
class LoadFailed(EngineEvent):
    pass


@_kind("warming")
@dataclass(frozen=True)
class Warming(EngineEvent):
    name: str = ""


@_kind("fading")
@dataclass(frozen=True)
class Fading(EngineEvent):
    name: str = ""
    fade_frames: int = 0
    from_generation_id: int | None = None


@_kind("switched")
@dataclass(frozen=True)
class Switched(EngineEvent):
    pass


@_kind("switch-abandoned")
@dataclass(frozen=True)
class SwitchAbandoned(EngineEvent):
    replaced_by: int | None = None


@_kind("model-failed")
@dataclass(frozen=True)
class ModelFailed(EngineEvent):
    fault: str = ""                 # what went wrong: crashed, late, nan...


@_kind("switch-failed")
@dataclass(frozen=True)
class SwitchFailed(EngineEvent):
    fault: str = ""
    was: str = ""                   # the incoming model's phase: loading, warm, fade
    back_to: int | None = None      # what plays instead


@_kind("glitches")
@dataclass(frozen=True)
class Glitches(EngineEvent):
    count: int = 0
    total: int = 0


@_kind("latent-applied")
@dataclass(frozen=True)
class LatentApplied(EngineEvent):
    earliest_frame: int | None = None
    values: list | None = None


@_kind("mixer-error")
@dataclass(frozen=True)
class MixerError(EngineEvent):
    pass


@_kind("take-failed")
@dataclass(frozen=True)
class TakeFailed(EngineEvent):
    frames: int = 0                 # frames written, as the engine counted them
    from_disk: bool = False         # True: the process died; count what the files hold


@_kind("input-ended")
@dataclass(frozen=True)
class InputEnded(EngineEvent):
    pass


@_kind("gone")
@dataclass(frozen=True)
class Gone(EngineEvent):
    pass


@dataclass(frozen=True)
class Unknown(EngineEvent):
    name: str = ""

    @property
    def label(self) -> str:
        return self.name


RENAMED = {"kind": "fault"}         # the payload's "kind" is the fault's kind


def engine_event(kind: str, payload) -> EngineEvent:
    """The typed event for a message from the play process."""
    cls = KINDS.get(kind)
    if cls is None:
        return Unknown(name=kind)
    names = {f.name for f in fields(cls)}
    p = payload if isinstance(payload, dict) else {}
    return cls(**{RENAMED.get(k, k): v for k, v in p.items() if RENAMED.get(k, k) in names})
