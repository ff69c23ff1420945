"""Options and helpers shared by the commands."""

from __future__ import annotations

import click

from ..store import Workspace, open_db


def home_option(f):
    return click.option(
        "--home", envvar="REHEARSAL_HOME", type=click.Path(file_okay=False),
        help="Workspace folder (default: ./sessions, or $REHEARSAL_HOME).",
    )(f)


def workspace(ctx: click.Context, home: str | None = None) -> Workspace:
    root = ctx.find_root()
    return Workspace.at(home or (root.obj or {}).get("home"))


def open_workspace_db(ctx: click.Context, home: str | None = None):
    ws = workspace(ctx, home)
    return ws, open_db(ws.db_path)


def fail(message: str) -> None:
    """A clear error for bad input: one line on stderr, exit status 2."""
    raise click.ClickException(message)
