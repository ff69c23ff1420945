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


def _event(name: str):
    """A frozen dataclass for the engine's `name` messages, registered in KINDS."""
    def register(cls):
        cls = dataclass(frozen=True)(cls)
        cls.kind = name
        KINDS[name] = cls
        return cls
    return register


@_event("spare-ready")
class SpareReady(EngineEvent):
    pid: int | None = None


@_event("loaded")
class Loaded(EngineEvent):
    name: str = ""
    pid: int | None = None
    latency_samples: int = 0        # beyond the play's own latency (an imported module's buffer...)
    sample_rate: int = 48000        # the model's rate (resampled to and from the room's)
    buffer: int = 0                 # samples it is called with, at its rate


@_event("aligned")
class Aligned(EngineEvent):
    """The performer take's input delay, decided once per take (the first model's latency)."""
    delay_samples: int = 0


@_event("model-behind")
class ModelBehind(EngineEvent):
    """An imported module slower than real time: blocks it could not answer played dry."""
    name: str = ""
    count: int = 0                  # blocks, since it was loaded
    calls: int = 0


@_event("load-failed")
class LoadFailed(EngineEvent):
    """(no fields of its own)"""


@_event("warming")
class Warming(EngineEvent):
    name: str = ""


@_event("fading")
class Fading(EngineEvent):
    name: str = ""
    fade_frames: int = 0
    from_generation_id: int | None = None


@_event("switched")
class Switched(EngineEvent):
    """(no fields of its own)"""


@_event("switch-abandoned")
class SwitchAbandoned(EngineEvent):
    replaced_by: int | None = None


@_event("model-failed")
class ModelFailed(EngineEvent):
    fault: str = ""                 # what went wrong: crashed, late, nan...


@_event("switch-failed")
class SwitchFailed(EngineEvent):
    fault: str = ""
    was: str = ""                   # the incoming model's phase: loading, warm, fade
    back_to: int | None = None      # what plays instead


@_event("glitches")
class Glitches(EngineEvent):
    count: int = 0
    total: int = 0


@_event("latent-applied")
class LatentApplied(EngineEvent):
    earliest_frame: int | None = None
    values: list | None = None


@_event("follow-applied")
class FollowApplied(EngineEvent):
    earliest_frame: int | None = None
    follow: float = 0.0


@_event("symbol-applied")
class SymbolApplied(EngineEvent):
    earliest_frame: int | None = None
    symbol: str = ""              # "" is no symbol


@_event("mixer-error")
class MixerError(EngineEvent):
    """(no fields of its own)"""


@_event("take-failed")
class TakeFailed(EngineEvent):
    frames: int = 0                 # frames written, as the engine counted them (the files may hold fewer: a full disk)


@_event("input-ended")
class InputEnded(EngineEvent):
    """(no fields of its own)"""


@_event("gone")
class Gone(EngineEvent):
    """(no fields of its own)"""


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
