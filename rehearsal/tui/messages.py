"""Typed messages: how workers and other threads tell the UI what happened.

Workers never touch widgets; they post one of these. Messages that only carry "the latest
state" (meters, clock, playback position, source status) can replace a pending one of the
same kind, so a busy UI draws the newest reading once instead of falling behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


class _Latest(Message):
    """A reading superseded by the next one of the same type."""

    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


# -- the room (input, takes) ---------------------------------------------------------------
@dataclass
class InputInfo:
    device: str
    samplerate: int
    channels: int
    demo: bool
    preroll_s: float


class RoomOpened(Message):
    def __init__(self, info: InputInfo, recovered: list[dict]):
        super().__init__()
        self.info, self.recovered = info, recovered


class InputUnavailable(Message):
    """No input could be opened: the app says so and offers the demo input."""

    def __init__(self, error: str, wanted: str):
        super().__init__()
        self.error, self.wanted = error, wanted


class TakeStarted(Message):
    def __init__(self, take: dict):
        super().__init__()
        self.take = take


class TakeStopped(Message):
    def __init__(self, take: dict, reason: str = ""):
        super().__init__()
        self.take, self.reason = take, reason


class TransportFailed(Message):
    def __init__(self, error: str):
        super().__init__()
        self.error = error


# -- the notation (intent from the Notation screen; the app applies it) ---------------------
class NotationWanted(Message):
    """Intent (Notation screen -> app): the notation in use was saved to `path`; use the saved
    file, at once when nothing records, from the next take while a take runs (a take keeps
    the copy of the notation it was recorded with)."""

    def __init__(self, path):
        super().__init__()
        self.path = path


# -- who holds the input (intents from screens, answers from the app; see input.py) ---------
class PlayWanted(Message):
    """Intent (Play screen -> app): give the input to a play of `ref`. `close` is the screen's
    coroutine that stops its PlayRoom (the app awaits it when quitting); `reply` posts the
    answer (InputHanded or PlayRefused) back to the screen."""

    def __init__(self, ref: str, close, reply):
        super().__init__()
        self.ref, self.close, self.reply = ref, close, reply   # reply: the screen's post_message


class InputHanded(Message):
    """Answer (app -> Play screen): the recording room is closed, the input is the play's."""

    bubble = False

    def __init__(self, ref: str):
        super().__init__()
        self.ref = ref


class PlayRefused(Message):
    """Answer (app -> Play screen): the input cannot be given (a take is recording)."""

    bubble = False

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class PlayEnded(Message):
    """Intent (Play screen -> app): the PlayRoom is closed; the input is free again."""


class ReviewWanted(Message):
    """Intent (a screen -> app): show this take or session on the Review screen."""

    def __init__(self, take_id: int | None = None, session_id: int | None = None):
        super().__init__()
        self.take_id, self.session_id = take_id, session_id


class RoomEvents(_Latest):
    """Bus and room events are waiting in the link's inbox: drain it (one message for many)."""


class RecorderTick(_Latest):
    def __init__(self, frames: int, overflows: int, levels: tuple[float, ...], recording: bool,
                 take_frames: int, lost: int, samplerate: int):
        super().__init__()
        self.frames, self.overflows, self.levels, self.recording = frames, overflows, levels, recording
        self.take_frames, self.lost, self.samplerate = take_frames, lost, samplerate


class SourcesOpened(Message):
    def __init__(self, lines: list[str]):
        super().__init__()
        self.lines = lines


# -- the store -------------------------------------------------------------------------------
class MomentsLoaded(Message):
    def __init__(self, scope: dict, moments: list, takes: list[dict]):
        super().__init__()
        self.scope, self.moments, self.takes = scope, moments, takes


class MomentChanged(Message):
    """An edit was stored (or undone / redone): `verb` says which, for the status line."""

    def __init__(self, marker_id: int | None, verb: str):
        super().__init__()
        self.marker_id, self.verb = marker_id, verb


class StoreFailed(Message):
    """A screen's worker could not do something (read or edit the store, parse what was
    typed): `what` it was doing, and the error."""

    def __init__(self, what: str, error: str):
        super().__init__()
        self.what, self.error = what, error


class SessionsLoaded(Message):
    def __init__(self, sessions: list[dict], takes: dict[int, list[dict]]):
        super().__init__()
        self.sessions, self.takes = sessions, takes


# -- playback ----------------------------------------------------------------------------------
class PlaybackStarted(Message):
    def __init__(self, marker_id: int, start_s: float, end_s: float, device: str):
        super().__init__()
        self.marker_id, self.start_s, self.end_s, self.device = marker_id, start_s, end_s, device


class PlaybackPosition(_Latest):
    def __init__(self, marker_id: int, position_s: float):
        super().__init__()
        self.marker_id, self.position_s = marker_id, position_s


class PlaybackFinished(Message):
    def __init__(self, marker_id: int, frames: int, stopped: bool):
        super().__init__()
        self.marker_id, self.frames, self.stopped = marker_id, frames, stopped


class PlaybackFailed(Message):
    def __init__(self, marker_id: int | None, error: str):
        super().__init__()
        self.marker_id, self.error = marker_id, error
