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


def _of_link(name: str) -> property:
    """A read-only attribute of the current RoomLink (replaced when the input changes hands)."""
    return property(lambda self: getattr(self.link, name), doc=f"RoomLink.{name} of the current link")


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

    # -- the room interface screens read (read-only views of the current RoomLink) ------------
    ready = _of_link("ready")
    recording = _of_link("recording")
    room = _of_link("room")
    info = _of_link("info")
    keys = _of_link("keys")
    midi = _of_link("midi")
    midi_error = _of_link("midi_error")
    osc = _of_link("osc")
    osc_error = _of_link("osc_error")
    next_notation = _of_link("next_notation")

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
