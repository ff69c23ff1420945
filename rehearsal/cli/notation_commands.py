"""`rehearsal notation check|list|learn`."""

from __future__ import annotations

import click

from ..notation import NotationError, find_notation, load_notation, shipped_notations
from ..notation.load import printable
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
            for e in exc.errors:   # every error in the file, each with file:line
                click.echo(f"error: {printable(e.one_line())}", err=True)
            errors += 1
            continue
        click.echo(f"ok: {printable(n.source)}: {printable(n.name)!r}, {len(n.symbols)} symbols, {len(n.actions)} actions")
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
            click.echo(printable(f"{stem:28} {n.name}  {glyphs}"))   # never a raw escape code to the terminal
        except NotationError as exc:
            click.echo(printable(f"{stem:28} INVALID: {exc.errors[0].one_line()}"))


@notation.command("learn")
@click.option("--midi", "midi_ports", multiple=True,
              help="Listen on this MIDI input port only (repeatable); default: every input port.")
@click.option("--midi-api", type=click.Choice(["auto", "alsa", "jack"]), default="auto", show_default=True,
              help="auto: ALSA when /dev/snd/seq opens, else JACK.")
@click.option("--no-midi", is_flag=True, help="Do not listen on MIDI.")
@click.option("--osc-port", type=click.IntRange(0, 65535), help="Also listen for OSC on this UDP port (127.0.0.1).")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              help="Seconds to wait for a press.")
@click.option("--gesture", type=click.Choice(["tap", "double-tap", "long-press"]), default="tap", show_default=True,
              help="The gesture written into the binding.")
def learn(midi_ports, midi_api, no_midi, osc_port, timeout, gesture) -> None:
    """Press your pedal: prints its binding as TOML, ready to paste into a notation.

    Listens on a virtual MIDI port `rehearsal` (connect a pedal or DAW to it) and on every
    MIDI input port, or on --midi ports only; with --osc-port, on OSC too. The prompt goes
    to stderr and the binding to stdout, so `rehearsal notation learn >> my.toml` works.
    """
    from ..markers.learn import Learner, OscListener, snippet

    learner = Learner()
    inputs = osc_thread = None
    try:
        if not no_midi:
            from ..markers.midi import MidiError, MidiInputs

            try:
                inputs = MidiInputs(learner.midi, ports=midi_ports, virtual="rehearsal",
                                    all_ports=not midi_ports, api=midi_api)
            except MidiError as exc:
                fail(f"MIDI: {exc}")
            click.echo(f"MIDI ({inputs.api}): listening on {', '.join(inputs.port_names)}", err=True)
        if osc_port is not None:
            try:
                osc_thread = OscListener(learner.osc, osc_port)
            except OSError as exc:
                fail(f"OSC: {exc}")
            click.echo(f"OSC: listening on 127.0.0.1:{osc_thread.port}", err=True)
        if inputs is None and osc_thread is None:
            fail("nothing to listen on: drop --no-midi or give --osc-port")
        click.echo("press your pedal now (and let go)", err=True)
        heard = learner.wait(timeout)
    finally:
        if inputs is not None:
            inputs.close()
        if osc_thread is not None:
            osc_thread.close()
    if heard is None:
        click.echo(f"nothing heard in {timeout:g} s. Is the pedal connected to one of the ports above"
                   " (with JACK: connect it to `RtMidiIn Client:rehearsal`)?", err=True)
        raise SystemExit(1)
    click.echo(snippet(heard, gesture), nl=False)
