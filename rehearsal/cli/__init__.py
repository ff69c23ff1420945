"""The `rehearsal` command. `rehearsal` alone opens the TUI; subcommands work headless.

Each command group lives in its own module and registers itself on `main`; heavy imports
(sounddevice, textual, torch) happen inside the commands so `rehearsal --help` is instant.
"""

from __future__ import annotations

import click

from .common import home_option
from .tui_command import tui_options


class _Group(click.Group):
    """Plugins may add commands (`register_commands`). Loading every plugin costs most of a
    second (training's pull in heavy modules), so it happens only when a command name is
    not a built-in one, or when the list of commands is asked for (--help)."""

    _plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if not self._plugin_commands_loaded:
            self._plugin_commands_loaded = True
            from ..plugins.manager import add_plugin_commands

            add_plugin_commands(self)

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None:
            self._load_plugin_commands()
            command = super().get_command(ctx, name)
        return command

    def list_commands(self, ctx):
        self._load_plugin_commands()
        return super().list_commands(ctx)


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@home_option
@tui_options
@click.version_option(package_name="rehearsal")
@click.pass_context
def main(ctx: click.Context, home, **tui) -> None:
    """Record rehearsals, tag moments live, curate datasets, train the next model.

    With no command: the rehearsal room in the terminal (the options above are its options)."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    if ctx.invoked_subcommand is None:
        from .tui_command import run_tui

        run_tui(home, **tui)


def _register() -> None:
    # one import per feature; each module adds its commands to `main`
    from . import notation_commands, session_commands  # noqa: F401
    from . import record_command  # noqa: F401
    from . import curation_commands  # noqa: F401
    from . import training_commands  # noqa: F401
    from . import play_command  # noqa: F401
    from . import score_commands  # noqa: F401


_register()
