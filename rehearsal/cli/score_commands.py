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


@score.command("generate")
@click.option("--dataset", "ref", required=True, help="The dataset version whose gaps the score asks for (name or name@v).")
@click.option("--minutes", type=click.FloatRange(0.1, 360), default=5.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same score, byte for byte.")
@click.option("--sections", type=click.IntRange(1, 26), default=2, show_default=True)
@click.option("--arc", type=click.Choice(["rise", "fall", "arch", "flat"]), default="arch", show_default=True,
              help="The shape of density and/or dynamics over the score.")
@click.option("--arc-of", type=click.Choice(["density", "dynamics", "both"]), default="both", show_default=True)
@click.option("--avoid", multiple=True, help="A symbol id the score must not ask for (repeatable).")
@click.option("--notation", "notation_name", default=None, help="Default: the notation of the dataset's takes.")
@click.option("--author", default="", help="Written as the score's author (its markers' who).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (default: stdout).")
@click.pass_context
def generate(ctx, ref, minutes, seed, sections, arc, arc_of, avoid, notation_name, author, output) -> None:
    """Write the next score: what the dataset lacks, within the composer's constraints."""
    from ..notation import NotationError, find_notation, load_notation
    from ..scores.generate import dataset_needs, generate_score
    from ..store import open_db
    from ..store.notations import load_stored_notation

    ws = workspace(ctx)
    if not ws.db_path.exists():
        raise click.ClickException(f"no workspace at {ws.home}: record and curate first")
    db = open_db(ws.db_path)
    try:
        try:
            seconds, pairs, notation_id = dataset_needs(db, ref)
        except LookupError as exc:
            raise click.ClickException(str(exc).strip("'\"")) from None
        try:
            if notation_name:
                notation = load_notation(find_notation(notation_name, ws.notations_dir))
            elif notation_id is not None:
                notation = load_stored_notation(db, notation_id)
            else:
                raise click.ClickException(f"dataset {ref!r} holds no clips: say --notation")
        except NotationError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        db.conn.close()
    ref_name = notation_name
    if ref_name is None:   # the stored notation: name the shipped or workspace file that holds it
        from ..notation import shipped_notations

        by_name = {}
        files = list(shipped_notations().items())
        if ws.notations_dir.is_dir():
            files += [(p.stem, p) for p in sorted(ws.notations_dir.glob("*.toml"))]
        for stem, path in files:
            try:
                by_name[load_notation(path).name] = stem
            except NotationError:
                pass
        ref_name = by_name.get(notation.name)
        if ref_name is None:
            ref_name = notation.name
            click.echo(f"note: notation {notation.name!r} is in no notation file here: put it in "
                       f"{ws.notations_dir}/ (or give --notation) so the score finds it", err=True)
    try:
        text = generate_score(notation, seconds, pairs, minutes, seed, sections, arc, arc_of, avoid,
                              author=author, notation_ref=ref_name, dataset=ref)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
