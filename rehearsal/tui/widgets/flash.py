"""The flash: a tap is confirmed on screen the moment the key is pressed.

It shows what the press will become (the bound symbol's glyph and label), before the
store has committed it: the log then shows it is on disk.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

FLASH_SECONDS = 0.6


class Flash(Static):
    DEFAULT_CSS = """
    Flash { width: 100%; height: 3; content-align: center middle; text-style: bold; }
    Flash.-idle { color: $text-muted; }
    """

    def on_mount(self) -> None:
        self._timer = None
        self.shown: str = ""
        self.count = 0
        self.idle()

    def idle(self) -> None:
        self.shown = ""
        self.styles.background = None
        self.add_class("-idle")
        self.update(Text("tap a key, a pedal or a phone: the tag lands where you tapped", style="dim"))

    def flash(self, glyph: str, label: str, colour: str) -> None:
        self.count += 1
        self.shown = glyph
        self.remove_class("-idle")
        self.styles.background = colour
        self.update(Text(f"{glyph}  {label}", style="bold black"))
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(FLASH_SECONDS, self.idle)
