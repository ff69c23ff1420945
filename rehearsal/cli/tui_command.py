"""`rehearsal` with no subcommand: the rehearsal room in the terminal."""

from __future__ import annotations

import click


def run_tui(home: str | None) -> None:
    try:
        from ..tui.app import run
    except ImportError as exc:  # pragma: no cover - the TUI ships with the package
        raise click.ClickException(f"the TUI is not available: {exc}")
    run(home)
