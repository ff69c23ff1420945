"""Learn mode: "press your pedal now" binds whatever arrives to a symbol.

A key (a USB page-turner's PageDown, an arrow, space...) or a MIDI message (a footswitch's
control change, a note, a program change) is taken as it comes. While listening, this
screen takes every key: the app's own keys (ctrl+r...) do nothing until it closes.
A control change read while listening also tells the pedal's polarity: a value below 64
on press means a pedal that sends 0 when pressed.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..learned import binding_from_message
from .modals import KEY_PEDAL_NOTE

from ...notation.model import RESERVED_KEYS  # noqa: F401 - app.py imports it from here


class ListenScreen(ModalScreen[tuple | None]):
    CAPTURES_KEYS = True

    def __init__(self, target_label: str, gesture: str):
        super().__init__()
        self.target_label, self.gesture = target_label, gesture
        self._heard: deque = deque(maxlen=256)
        self._original = None
        self.listening = False     # True once MIDI messages are being heard

    def compose(self) -> ComposeResult:
        link = self.app.input   # the room interface (input.py)
        if link.midi is not None:
            midi = f"MIDI is listening on {', '.join(link.midi.inputs.port_names) or 'no ports'}."
        else:
            midi = f"MIDI is not available ({link.midi_error or 'off'}): only a key can be learnt."
        with Vertical(id="dialog"):
            yield Static(Text(f"Learn: {self.target_label} ({self.gesture})", style="bold"), classes="dialog-title")
            yield Static(Text("Press your pedal now", style="bold reverse"), id="listen-prompt")
            yield Static(Text.assemble(
                "A MIDI pedal or controller, or a key such as PageDown from a page-turner pedal. Esc cancels.\n",
                (midi, "dim"), "\n\n", (KEY_PEDAL_NOTE, "italic")))
            yield Static(id="listen-error")

    def on_mount(self) -> None:
        midi = self.app.input.midi
        if midi is not None:
            # see every message, in order, from rtmidi's thread: a press and its release can
            # both arrive between two looks, and the press is the one that says the polarity
            inputs = midi.inputs
            self._original = inputs.handler

            def tap(port, msg, raw, t):
                self._heard.append((port, msg))
                self._original(port, msg, raw, t)

            inputs.handler = tap
        self._midi_timer = self.set_interval(0.02, self.check_midi, name="learn-midi")
        self.listening = True

    def on_unmount(self) -> None:
        midi = self.app.input.midi
        if midi is not None and self._original is not None:
            midi.inputs.handler = self._original

    def check_midi(self) -> None:
        if self.app.screen is not self:   # already answered (a key, Esc) or the app is closing
            return
        while self._heard:
            port, msg = self._heard.popleft()
            binding = binding_from_message(msg, self.gesture)
            if binding is not None:   # else a release, a clock tick, sysex: keep listening
                self._heard.clear()
                self._midi_timer.stop()    # one answer: a later tick must not dismiss again
                self.dismiss(("midi", binding, port))
                return

    def on_key(self, event: events.Key) -> None:
        why_not = (f"{event.key}: a key cannot long-press in a terminal (it never reports the release). "
                   "Press a MIDI pedal, or Esc.") if self.gesture == "long-press" else None
        key = heard_key(self, event, why_not)
        if key is not None:
            self.dismiss(("key", key, self.gesture))


def heard_key(screen: ModalScreen, event: events.Key, why_not: str | None = None) -> str | None:
    """A key pressed while a listening dialog has every key (this one, the Notation screen's):
    Esc cancels (dismisses with None); a key that cannot be learnt (`why_not`, or one of the
    app's own) is refused in words in its `#listen-error`; else the key to bind."""
    event.stop()
    event.prevent_default()
    if event.key == "escape":
        screen.dismiss(None)
        return None
    if why_not is None and event.key in RESERVED_KEYS:
        why_not = f"{event.key} is one of the app's own keys: choose another."
    if why_not is not None:
        screen.query_one("#listen-error", Static).update(Text(why_not, style="yellow"))
        return None
    return event.key
