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


DEFAULT_NOTATION = "good-bad-pedal"   # record's and play's, when the session has none yet


def session_notation(ws: Workspace, session_name: str, notation_name: str | None):
    """The notation to tag with: the one asked for; else the session's (the one it was
    created with), so a phone sending `good` to a rehearsal's play is understood; else
    DEFAULT_NOTATION. One rule for record and play. Fails in words on a bad name."""
    from ..notation import NotationError, find_notation, load_notation

    if notation_name is None and ws.db_path.exists():
        from ..store.notations import load_stored_notation

        db = open_db(ws.db_path)
        try:
            row = db.execute("SELECT notation_id FROM sessions WHERE name = ?", [session_name.strip()]).fetchone()
            if row and row[0] is not None:
                return load_stored_notation(db, row[0])
        finally:
            db.conn.close()
    try:
        return load_notation(find_notation(notation_name or DEFAULT_NOTATION, ws.notations_dir))
    except NotationError as exc:
        fail(str(exc))


def score_and_notation(ws: Workspace, session_name: str, notation_name: str | None, score_path):
    """(score or None, the notation to tag with): a score brings its own notation (the one
    asked for, if any, must be the score's); else `session_notation`. One rule for record
    and play. Fails in words on a bad score."""
    if score_path is None:
        return None, session_notation(ws, session_name, notation_name)
    from ..notation.score import ScoreError, load_score

    forced = session_notation(ws, session_name, notation_name) if notation_name else None
    try:
        score = load_score(score_path, forced, ws.notations_dir)
    except ScoreError as exc:
        fail(str(exc))
    return score, score.notation


def rejections_on_stderr():
    """`note(rejected)` prints a rejected tag on stderr, summarised per reason (the bus's
    Summary: the first at once, then at most one line per reason every few seconds with how
    many more), so a flood is a few lines, not one per tag."""
    from ..markers.bus import Summary

    summary = Summary(lambda level, line: click.echo(line, err=True))
    return lambda msg: summary.note(msg.reason, f"rejected ({msg.event.source}): {msg.reason}")
