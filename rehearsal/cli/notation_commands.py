"""`rehearsal notation check|list|learn`."""

from __future__ import annotations

import click

from ..notation import NotationError, find_notation, load_notation, shipped_notations
from . import main
from .common import fail, workspace


@main.group()
def notation() -> None:
    """Tag vocabularies (notations/*.toml)."""


@notation.command("check")
@click.argument("files", nargs=-1, required=True)
@click.pass_context
def check(ctx, files) -> None:
    """Validate notation files: errors name the file, the line and the field."""
    ws = workspace(ctx)
    errors = 0
    for name in files:
        try:
            n = load_notation(find_notation(name, ws.notations_dir))
        except NotationError as exc:
            click.echo(f"error: {exc}", err=True)
            errors += 1
            continue
        click.echo(f"ok: {n.source}: {n.name!r}, {len(n.symbols)} symbols, {len(n.actions)} actions")
    if errors:
        ctx.exit(1)


@notation.command("list")
@click.pass_context
def list_(ctx) -> None:
    """Shipped notations and the workspace's own."""
    ws = workspace(ctx)
    paths = dict(shipped_notations())
    if ws.notations_dir.is_dir():
        paths.update({p.stem: p for p in sorted(ws.notations_dir.glob("*.toml"))})
    for stem, path in sorted(paths.items()):
        try:
            n = load_notation(path)
            glyphs = " ".join(s.glyph for s in n.symbols)
            click.echo(f"{stem:28} {n.name}  {glyphs}")
        except NotationError as exc:
            click.echo(f"{stem:28} INVALID: {exc}")
