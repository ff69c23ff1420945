"""A feature screen that reads and edits the store on a thread of its own (Curation, Models).

The UI never waits on SQLite: the screen's `WorkerStore` runs functions on one thread (a
SQLite connection belongs to the thread that opened it), named workers await them and
post typed messages. What such a screen lists is read again when the screen is shown
again (a dialog closed, an F-key) and when a take ends; failures reach the status line
and a notification as a `StoreFailed` message (the one Review and Sessions post).

Textual calls a message handler (`on_unmount`, `on_screen_resume`) on every class of the
screen that defines it, the screen's own first, then its bases': a subclass adds its own
without calling super(). A subclass's `on_mount` calls `open_store()` before its first load.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..audition import WorkerStore
from ..messages import StoreFailed
from .base import RoomScreen


class StoreScreen(RoomScreen):
    STATUS_ID = ""     # the id of the Static that shows `say`

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.store: WorkerStore | None = None
        self.status = ""

    def open_store(self) -> WorkerStore:
        self.store = WorkerStore(self.app.ws)
        return self.store

    def load(self) -> None:
        """Read what the screen lists (a worker): the subclass's."""
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        """Back on this screen (F-key, or a dialog closed): new sessions, versions, generations."""
        if self.is_mounted:
            self.load()

    def take_stopped(self, take: dict) -> None:
        super().take_stopped(take)
        self.load()

    def on_unmount(self) -> None:
        # runs after the subclass's own on_unmount (Textual walks the classes): its
        # workers may still use the store there
        if self.store is not None:
            self.store.close()

    def action_reload(self) -> None:
        self.load()

    def say(self, text: str) -> None:
        self.status = text
        self.query_one(f"#{self.STATUS_ID}", Static).update(Text(text))

    def on_store_failed(self, msg: StoreFailed) -> None:
        self.say(f"cannot {msg.what}: {msg.error}")
        self.app.notify(f"cannot {msg.what}: {msg.error}", severity="error", timeout=10)
