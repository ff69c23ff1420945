"""`rehearsal sessions`, `rehearsal markers`, `rehearsal people`."""

from __future__ import annotations

import dataclasses

import click

from ..export import EXTENSIONS, FORMATS, ONE_TAKE, OutputError, output_paths, take_markers_text
from ..export.markers import write_text
from ..store.people import SOURCE_KINDS, map_source
from ..store.sessions import find_session, list_sessions
from ..store.takes import takes_of_session
from . import main
from .common import fail, open_workspace_db


@main.command()
@click.pass_context
def sessions(ctx) -> None:
    """List sessions with their takes, length and markers."""
    _, db = open_workspace_db(ctx)
    rows = list_sessions(db)
    if not rows:
        click.echo("no sessions yet: `rehearsal record --session NAME` makes one")
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['name']:<24} {r['takes']:>3} takes {r['seconds']:>9.1f} s "
                   f"{r['markers']:>5} markers  {r['notation'] or ''}")


@main.command()
@click.argument("session")
@click.option("--take", "take_number", type=int, help="Only this take (number within the session).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--output", "-o",
              help="Write to files instead of standard output: a folder (existing, or ending in /) gets "
                   "take-NNN.<ext> per take; a name with {take} is filled in per take (gig-{take}.txt); "
                   "a plain file name holds one take.")
@click.option("--regions", "regions_of", metavar="PIPELINE",
              help="Show the regions this pipeline's region-from-taps step will use (e.g. good-takes).")
@click.pass_context
def markers(ctx, session, take_number, fmt, output, regions_of) -> None:
    """Export the markers of a session's takes, one file per take (an Audacity, Sonic
    Visualiser, REAPER, ELAN or Praat file describes one audio file).

    With `--regions good-takes`, each marker's region is the one curation will use (the
    phrase its tap refers to); a region someone trimmed stays as trimmed."""
    ws, db = open_workspace_db(ctx)
    try:
        s = find_session(db, session)
    except LookupError as exc:
        fail(str(exc))
    takes = takes_of_session(db, s["id"])
    if take_number is not None:
        takes = [t for t in takes if t["number"] == take_number]
        if not takes:
            fail(f"session {s['name']!r} has no take {take_number}")
    curated = _curated_regions(ctx, ws, db, s["name"], regions_of) if regions_of else {}

    def shown(m):
        if m.id not in curated:
            return m
        return dataclasses.replace(m, start_sample=curated[m.id][0], end_sample=curated[m.id][1])

    if output is None:
        if fmt in ONE_TAKE and len(takes) > 1:
            fail(f"{fmt} files describe one audio file and {s['name']!r} has {len(takes)} takes: choose one "
                 f"with --take N, or write one file per take with -o FOLDER/ or -o 'name-{{take}}.{EXTENSIONS[fmt]}'")
        click.echo("".join(take_markers_text(db, ws, t, fmt, shown) for t in takes), nl=False)
        return
    try:
        paths = output_paths(output, takes, fmt)
    except OutputError as exc:
        fail(str(exc))
    for t, path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, take_markers_text(db, ws, t, fmt, shown))
        click.echo(f"take {t['number']}: {path}")


def _curated_regions(ctx, ws, db, session: str, pipeline: str) -> dict[int, tuple[int, int]]:
    """marker id -> (start, end) after the pipeline's first region-from-taps step (steps
    before it run too, as curation runs them)."""
    from ..curation import CurationError, PipelineError
    from ..curation.review import review

    try:
        return review(ws, db, session, pipeline).regions
    except (CurationError, PipelineError, FileNotFoundError, LookupError) as exc:
        fail(str(exc))


@main.command()
@click.argument("source")
@click.argument("person")
@click.option("--undo", is_flag=True, help="with `withdraw`: undo a withdrawal")
@click.option("--by", default="", help="with `withdraw`: who records it (default: the person)")
@click.pass_context
def person(ctx, source, person, undo, by) -> None:
    """Map a source to a person: SOURCE is midi:<port>[/ch<N>], osc:<ip>, who:<name> or key
    (who tags), or audio:<device>[/ch<N>], take:<session>/<number>[/ch<N>] (who played).

    `rehearsal person withdraw NAME [--undo]`: NAME withdraws (or comes back); the tags they
    made and the takes and input channels they played leave every future dataset version;
    recorded with who and when."""
    _, db = open_workspace_db(ctx)
    if source == "withdraw":
        from ..store.people import withdrawal_text, toggle_withdrawal

        try:
            toggle_withdrawal(db, person, by or person, undo=undo)
        except ValueError as e:
            fail(str(e))
        click.echo(withdrawal_text(db, person, undo))
        return
    kind = source.split(":")[0]
    if kind not in SOURCE_KINDS or (kind != "key" and ":" not in source):
        fail(f"{source!r}: a source is midi:<port>, midi:<port>/ch<N>, osc:<ip>, who:<name> or key (who tags), "
             "audio:<device>[/ch<N>] or take:<session>/<number>[/ch<N>] (who played)")
    map_source(db, source, person)
    click.echo(f"{source} -> {person}")
