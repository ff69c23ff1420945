"""What every feature screen shares: the top bar and the hooks the app calls.

The app owns the room (input, takes, sources) and the store; screens show it. The app
calls these hooks on every screen it has created, on the UI thread:

    room_opened()            the input is open (or re-opened on the demo)
    input_missing()          no input could be opened (app.input_problem says why)
    room_events(events)      bus and room events drained from the link (Committed, Undone, ...)
    take_started(take) / take_stopped(take)
    notation_changed()       the palette's notation or its triggers changed

`LIVE_KEYS = True` makes the notation's keys tag while the screen is shown (Record does;
Review and Sessions use letters for their own commands). MIDI and OSC tag on any screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

from ..moments import clock


class TopBar(Static):
    """Screens as tabs (with their keys), then the session, take and recording state."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, current: str, **kwargs):
        super().__init__(**kwargs)
        self.current = current
        self._last = ""

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self, seconds: float | None = None) -> None:
        app = self.app
        out = Text()
        for spec in app.specs:
            style = "bold reverse" if spec.name == self.current else "dim"
            out.append(f" {spec.key.upper()} {spec.title} ", style=style)
            out.append(" ")
        room = app.input.room
        if room is not None:
            out.append(f"  {room.session_name}", style="bold")
            take = room.take
            if take is not None:
                out.append(f"  take {take['number']}", style="bold")
                out.append("  ● REC", style="bold red")
                if seconds is not None:
                    out.append(f" {clock(seconds)}", style="bold red")
            else:
                out.append("  ○ not recording", style="dim")
            out.append(f"  {room.notation.name}", style="italic")
        elif app.input.playing:   # the input is the play's
            out.append(f"  {app.session_name}", style="bold")
            out.append("  ▶ playing (F6)", style="bold green")
        elif getattr(app, "input_problem", None) or not app.options.open_input:
            out.append("  no input (review only)", style="yellow")
        else:
            out.append("  opening the input…", style="dim")
        if out.markup != self._last:    # the clock moves ten times a second; the rest rarely
            self._last = out.markup
            self.update(out, layout=False)


class RoomScreen(Screen):
    LIVE_KEYS = False
    CAPTURES_KEYS = False     # True while a screen wants every key (learn mode listening)
    NAME = ""

    def top_bar(self) -> TopBar:
        return TopBar(self.NAME, id="topbar")

    def redraw_top(self, seconds: float | None = None) -> None:
        try:
            self.query_one(TopBar).redraw(seconds)
        except Exception:
            pass

    # hooks (see module docstring) ---------------------------------------------------------
    def room_opened(self) -> None:
        self.redraw_top()

    def input_missing(self) -> None:
        self.redraw_top()

    def room_events(self, events: list) -> None:
        pass

    def take_started(self, take: dict) -> None:
        self.redraw_top()

    def take_stopped(self, take: dict) -> None:
        self.redraw_top()

    def notation_changed(self) -> None:
        self.redraw_top()
