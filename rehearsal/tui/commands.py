"""The command palette (ctrl+p): every app command by name, every registered screen, and
every screen's own actions (train, commit, export, play...), which go to their screen first."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens.registry import screen_bindings
from .widgets.palette import key_label


async def run_on_screen(app, mode: str, action: str) -> None:
    """Switch to the screen of `mode`, then run one of its actions as its key would."""
    await app.switch_mode(mode)
    await app.screen.run_action(action)


class RoomCommands(Provider):
    def commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        out = [(f"Go to {spec.title}", partial(app.action_goto, spec.key), f"{spec.key.upper()}: {spec.help}")
               for spec in app.specs]
        out += [
            ("Record / stop", app.action_record_toggle, "ctrl+r: start a take (with its pre-roll) or stop it"),
            ("New take", app.action_new_take, "ctrl+n: stop this take and start the next at once"),
            ("Switch notation…", app.action_notation, "ctrl+t: the tag set for the next take"),
            ("Learn a trigger…", app.action_learn, "ctrl+l: press a pedal or key to bind it to a symbol"),
            ("Undo", app.action_undo, "ctrl+z: the last tag (Record) or the last edit (Review)"),
            ("Redo", app.action_redo, "ctrl+y"),
            ("Toggle ASCII glyphs", app.action_toggle_ascii, "for terminals that cannot draw a glyph"),
            ("Toggle click sound", app.action_toggle_click, "a click through the output on each tap"),
            ("Use the demo input", app.action_use_demo, "stream the shipped demo take as if live"),
            ("Score view", app.action_score_view, "the score being recorded, large (with --score)"),
            ("Help: every key", app.action_help, "?"),
        ]
        for spec in app.specs:
            out += [(f"{spec.title}: {b.description}", partial(run_on_screen, app, spec.name, b.action),
                     f"{b.key_display or key_label(b.key)} on {spec.title}")
                    for b in screen_bindings(spec) if b.key != "escape"]
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
