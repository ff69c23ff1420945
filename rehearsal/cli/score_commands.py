"""`rehearsal score check|generate`: scores written in a notation (docs/scores.md)."""

from __future__ import annotations

import click

from ..notation.load import printable
from . import main
from .common import workspace


@main.group()
def score() -> None:
    """Scores: sequences of events in a notation, that drive recording and label takes."""


@score.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--notation", "notation_name", default=None,
              help="Check against this notation instead of the one the score names.")
@click.pass_context
def check(ctx, files, notation_name) -> None:
    """Validate score files: every error names the file, the line and the column."""
    from ..notation import NotationError, find_notation, load_notation
    from ..notation.score import ScoreError, load_score

    ws = workspace(ctx)
    notation = None
    if notation_name:
        try:
            notation = load_notation(find_notation(notation_name, ws.notations_dir))
        except NotationError as exc:
            raise click.ClickException(str(exc)) from None
    errors = 0
    for name in files:
        try:
            s = load_score(name, notation, ws.notations_dir)
        except ScoreError as exc:
            for e in exc.errors:
                click.echo(f"error: {printable(e.one_line())}", err=True)
            errors += 1
            continue
        markers = len(s.sounding)
        click.echo(printable(f"ok: {name}: {s.title!r} in {s.notation.name!r}, {len(s.events)} events "
                             f"({markers} to mark), {s.duration_s:.1f} s, {len(s.sections)} sections"))
    if errors:
        ctx.exit(1)
