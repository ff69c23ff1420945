"""Events from a play process, waited on with a condition (no sleeps)."""

from __future__ import annotations

import threading


class Events:
    def __init__(self, player):
        self.items: list[tuple[str, dict]] = []
        self.cond = threading.Condition()
        player.on_event(self._on)

    def _on(self, event) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait(self, kind: str, timeout: float = 60.0, where=None, **match) -> dict:
        """The first `kind` event whose payload has `match`'s values (and `where(payload)`)."""
        def found():
            return next((p for k, p in self.items if k == kind and all(p.get(a) == b for a, b in match.items())
                         and (where is None or where(p))), None)

        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no {kind} {match} within {timeout} s; events: {self.items}")
            return found()
