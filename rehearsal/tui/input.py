"""The one owner of the audio input in the TUI.

The input (a sound card, the demo take, a file) is held by one process at a time: the
recording room (RoomLink) or a PlayRoom. The app owns that choice here, with an explicit
state, and screens never reach past it:

- `state` is IDLE (a recording room is open or none is), RECORDING (a take runs) or PLAYING
  (the Play screen's PlayRoom has the input);
- screens read the room through this object (`app.input.ready`, `.info`, `.room`, ...) and
  ask for changes with intents: the Play screen posts `PlayWanted` (messages.py), the app
  closes the recording room and answers `InputHanded`; when the play ends the screen posts
  `PlayEnded` and the app gives the input back to a recording room.

No screen closes or replaces the link, rebuilds its executor or cancels another screen's
workers: that is the app's, through this object.
"""

from __future__ import annotations

from enum import Enum
from typing import Awaitable, Callable

from .link import RoomLink


class InputState(str, Enum):
    IDLE = "idle"
    RECORDING = "recording"
    PLAYING = "playing"


class Input:
    def __init__(self, ws, post: Callable, *, who: str | None = None):
        self.ws, self.post, self.who = ws, post, who
        self.link = RoomLink(ws, post, who=who)
        self.play_close: Callable[[], Awaitable[None]] | None = None   # set while PLAYING
        self.reopen_after_play = False

    @property
    def state(self) -> InputState:
        if self.play_close is not None:
            return InputState.PLAYING
        return InputState.RECORDING if self.link.recording else InputState.IDLE

    @property
    def playing(self) -> bool:
        return self.state is InputState.PLAYING

    # -- the room interface screens read ------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.link.ready

    @property
    def recording(self) -> bool:
        return self.link.recording

    @property
    def room(self):
        return self.link.room

    @property
    def info(self):
        return self.link.info

    @property
    def keys(self):
        return self.link.keys

    @property
    def midi(self):
        return self.link.midi

    @property
    def midi_error(self):
        return self.link.midi_error

    @property
    def osc(self):
        return self.link.osc

    @property
    def osc_error(self):
        return self.link.osc_error

    @property
    def next_notation(self):
        return self.link.next_notation

    def press(self, key: str, t=None) -> bool:
        return self.link.press(key, t)

    def status(self):
        return self.link.status()

    def preroll_frames_available(self, frames: int) -> int:
        return self.link.preroll_frames_available(frames)

    async def set_session(self, name: str):
        return await self.link.set_session(name)

    # -- changes of owner (the app's) -----------------------------------------------------------
    async def renew(self) -> None:
        """Close the recording room (if open) and start a fresh, closed link."""
        if self.link.ready:
            await self.link.close()
            self.link = RoomLink(self.ws, self.post, who=self.who)

    async def close(self) -> None:
        await self.link.close()
