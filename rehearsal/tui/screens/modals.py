"""Small dialogs: no input (offer the demo), help, pick one of a list, type a text, a region."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

KEY_PEDAL_NOTE = ("A key-type pedal (a USB page-turner: PageDown, arrows, space) is a keyboard: a terminal "
                  "reports its presses, never its releases, so it cannot long-press here. Tap and double-tap "
                  "work; a MIDI pedal can also long-press.")


class NoInputScreen(ModalScreen[str]):
    """The input could not be opened: say so plainly and offer the demo take."""

    BINDINGS = [Binding("d", "choose('demo')", "demo input"), Binding("c", "choose('none')", "continue"),
                Binding("escape", "choose('none')", show=False), Binding("q", "choose('quit')", "quit")]

    def __init__(self, error: str, wanted: str):
        super().__init__()
        self.error, self.wanted = error, wanted

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("No audio input", style="bold"), classes="dialog-title")
            yield Static(Text.assemble(
                (f"Cannot open {self.wanted}: ", "bold"), self.error, "\n\n",
                "This machine seems to have no sound card (or none that can be opened). You can still try "
                "everything with the demo input: a short musical take shipped with rehearsal, streamed as if "
                "it were live, looping. Takes recorded from it are real takes in this workspace."))
            with Horizontal(classes="buttons"):
                yield Button("Use the demo input (d)", id="demo", variant="primary")
                yield Button("Continue without input (c)", id="none")
                yield Button("Quit (q)", id="quit", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class HelpScreen(ModalScreen[None]):
    """Every binding there is: screens, app keys, the notation's keys, MIDI and OSC, this screen's."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], notes: list[str]):
        super().__init__()
        self.sections, self.notes = sections, notes

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static(Text("Keys and triggers  (esc closes)", style="bold"), classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for title, rows in self.sections:
                    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                                  box=None, padding=(0, 2), expand=True)
                    table.add_column(style="bold cyan", no_wrap=True, width=22)
                    table.add_column(ratio=1)
                    for key, what in rows:
                        table.add_row(Text(key), Text(what))
                    yield Static(table, classes="help-section")
                for note in self.notes:
                    yield Static(Text(note, style="italic"), classes="help-note")

    def action_close(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """Pick one of a list (a symbol, a notation, an export format). Esc cancels. Options in
    `disabled` are shown but cannot be picked (their label says why)."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, options: list[tuple[str, str | Text]], note: str = "", disabled=()):
        super().__init__()
        # not `self.disabled`: that is the Screen's own reactive, and a non-empty set disabled the whole
        # picker (nothing focused, enter and clicks did nothing)
        self.title_text, self.options, self.note, self.unpickable = title, options, note, set(disabled)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            if self.note:
                yield Static(Text(self.note, style="dim"))
            yield OptionList(*[Option(label, id=value, disabled=value in self.unpickable)
                               for value, label in self.options], id="pick")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPrompt(ModalScreen[str | None]):
    """One line of text (a session name, a note). Enter saves, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = ""):
        super().__init__()
        self.title_text, self.value, self.placeholder = title, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")
            yield Label(Text("Enter saves · Esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RegionPrompt(ModalScreen[tuple[float, float] | None]):
    """Trim a moment's region: start and end in seconds of the take."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, start_s: float, end_s: float, length_s: float | None):
        super().__init__()
        self.start_s, self.end_s, self.length_s = start_s, end_s, length_s

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Trim the region (seconds into the take)", style="bold"), classes="dialog-title")
            with Horizontal(classes="fields"):
                yield Label("start ")
                yield Input(value=f"{self.start_s:.2f}", id="start")
                yield Label(" end ")
                yield Input(value=f"{self.end_s:.2f}", id="end")
            yield Static(id="region-error")
            yield Label(Text("Enter saves · Esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#start", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            start = float(self.query_one("#start", Input).value)
            end = float(self.query_one("#end", Input).value)
        except ValueError:
            self.query_one("#region-error", Static).update(Text("start and end are numbers of seconds", style="red"))
            return
        if start < 0 or end < start or (self.length_s is not None and start > self.length_s):
            self.query_one("#region-error", Static).update(
                Text("the region must start at 0 s or later, inside the take, and end after it starts", style="red"))
            return
        self.dismiss((start, end))

    def action_cancel(self) -> None:
        self.dismiss(None)
