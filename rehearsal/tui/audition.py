"""Listening from the curation and models screens: a region of a take, or a whole file.

Reuses the review screen's playback parts (`playback.py`: the output device, reading a
region, the `Player`) in a named thread worker that posts the same typed messages
(`PlaybackStarted` / `PlaybackPosition` / `PlaybackFinished` / `PlaybackFailed`); the
`marker_id` field carries the screen's own number for what is playing.

`WorkerStore` gives a screen a thread of its own with its own SQLite connection (SQLite
connections belong to the thread that opened them): long analyses must not hold up the
review screen's edits. (A curation run is held in a process of its own: curation/process.py.)
"""

from __future__ import annotations

from pathlib import Path

from textual import work

from .messages import PlaybackFailed, PlaybackFinished, PlaybackStarted
from .store_link import StoreLink

WorkerStore = StoreLink    # same machinery: one thread, one connection, `await call(fn, *args)`


class AuditionMixin:
    """Mixed into a Screen: `self.audition(key, path, start, end)` plays; `stop_audition()`."""

    player = None
    auditioned: list = []      # (key, frames) of finished playbacks (tests look here)
    audition_problem: str | None = None

    def audition(self, key: int, path: Path, start: int = 0, end: int | None = None) -> None:
        if self.player is not None:
            self.player.stop()
        self._audition(key, Path(path), start, end)

    def stop_audition(self) -> None:
        if self.player is not None:
            self.player.stop()

    @work(name="audition", group="playback", thread=True)
    def _audition(self, key: int, path: Path, start: int, end: int | None) -> None:
        from .playback import PlaybackError, Player, default_output, read_region

        try:
            output = default_output()
            audio, sr = read_region(path, start, end if end is not None else 1 << 40)
        except PlaybackError as exc:
            self.post_message(PlaybackFailed(key, str(exc)))
            return
        if len(audio) == 0:
            self.post_message(PlaybackFailed(key, "nothing to play: the region holds no audio"))
            return
        player = Player()
        self.player = player
        self.post_message(PlaybackStarted(key, start / sr, start / sr + len(audio) / sr, output.name))
        try:
            finished = player.play(audio, sr, output)
        except PlaybackError as exc:
            self.post_message(PlaybackFailed(key, str(exc)))
            return
        self.post_message(PlaybackFinished(key, player.position, stopped=not finished))

    # handlers: screens may override to say more
    def on_playback_started(self, msg: PlaybackStarted) -> None:
        self.say(f"▶ playing {msg.end_s - msg.start_s:.1f} s through {msg.device} (esc stops)")

    def on_playback_finished(self, msg: PlaybackFinished) -> None:
        self.auditioned = [*self.auditioned, (msg.marker_id, msg.frames)]
        self.say("■ stopped" if msg.stopped else "■ played to the end")

    def on_playback_failed(self, msg: PlaybackFailed) -> None:
        self.audition_problem = msg.error
        self.say(f"cannot play: {msg.error}")
        self.app.notify(f"cannot play: {msg.error}", severity="warning", timeout=8)

    def say(self, text: str) -> None:
        """The screen's status line (StoreScreen.say, after this mixin in the MRO): a no-op
        here used to shadow it, so Curation and Models never showed a word there."""
        shown = getattr(super(), "say", None)
        if shown is not None:
            shown(text)
