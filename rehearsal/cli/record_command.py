"""`rehearsal record`: record without the TUI, print each marker as it lands, `rehearsal recover`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import click

from . import main
from .common import fail, open_workspace_db, session_notation, workspace


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # a line printed is a marker acknowledged: it must leave the process now


@main.command()
@click.option("--session", "session_name", required=True, help="Session name (created if new).")
@click.option("--notation", "notation_name", default=None,
              help="Notation name (workspace notations/ or shipped) or a .toml path. "
                   "Default: the session's, else good-bad-pedal.")
@click.option("--input-file", type=click.Path(exists=True, dir_okay=False),
              help="Stream this audio file at real-time pace instead of a device.")
@click.option("--device", help="Input device (index or name). Default: the default input.")
@click.option("--channels", type=click.IntRange(1, 64), help="Input channels (default: up to 2).")
@click.option("--samplerate", type=click.IntRange(8000, 384000), help="Sample rate (default: the device's).")
@click.option("--duration", type=click.FloatRange(min=0.1), help="Stop after this many seconds.")
@click.option("--preroll", type=click.FloatRange(0, 600), default=10.0, show_default=True,
              help="Seconds of input kept while not recording; a take starts with them.")
@click.option("--format", "fmt", type=click.Choice(["W64", "RF64", "CAF", "FLAC"]), default="W64", show_default=True)
@click.option("--midi", "midi_ports", multiple=True, help="Open this MIDI input port (repeatable).")
@click.option("--midi-virtual", is_flag=True, help="Offer a virtual MIDI input port named `rehearsal`.")
@click.option("--midi-api", type=click.Choice(["auto", "alsa", "jack"]), default="auto", show_default=True)
@click.option("--osc-port", type=click.IntRange(0, 65535), help="Listen for OSC on this UDP port.")
@click.option("--osc-host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --osc-allow.")
@click.option("--osc-allow", multiple=True, help="Sender address allowed when listening beyond loopback.")
@click.option("--speed", type=click.FloatRange(0.1, 100), default=1.0, hidden=True,
              help="--input-file pace (tests).")
@click.pass_context
def record(ctx, session_name, notation_name, input_file, device, channels, samplerate, duration, preroll, fmt,
           midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow, speed) -> None:
    """Record a take; tag from MIDI pedals and OSC; one JSON line per marker as it lands.

    Stops cleanly on Ctrl-C, SIGTERM, --duration or the end of --input-file.
    """
    from ..audio import RecorderConfig, RecorderError
    from ..room import Room

    ws = workspace(ctx)
    notation = session_notation(ws, session_name, notation_name)
    if device is not None and device.isdigit():
        device = int(device)
    config = RecorderConfig(device=device, channels=channels, samplerate=samplerate, input_file=input_file,
                            preroll_s=preroll, format=fmt, speed=speed)
    from ..room import RoomError

    try:
        room = Room(ws, session_name, notation, config)
    except RoomError as exc:
        fail(str(exc))
    for take in room.recovered:
        click.echo(f"recovered take {take['number']} of session {take['session_id']}: "
                   f"{take['frames']} frames ({take['status']})", err=True)
    try:
        room.open()
    except RecorderError as exc:
        room.db.conn.close()
        fail(f"cannot open the input: {exc}")
    try:
        asyncio.run(_record(room, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow))
    finally:
        room.close()


async def _record(room, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow) -> None:
    from ..export.markers import marker_json
    from ..markers import Committed, Redone, Rejected, Undone
    from ..room import InputEnded, TakeFailed

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failure: list[str] = []

    def on_message(msg) -> None:  # bus thread / recorder reader thread
        if isinstance(msg, Committed):
            _print_json({"event": "marker", **marker_json(msg.marker, room.take or {"sample_rate": room.recorder.samplerate})})
        elif isinstance(msg, (Undone, Redone)):
            kind = "undo" if isinstance(msg, Undone) else "redo"
            _print_json({"event": kind, "id": msg.marker.id, "symbol": msg.marker.symbol,
                         "deleted": msg.marker.deleted_at is not None})
        elif isinstance(msg, Rejected):
            click.echo(f"rejected ({msg.event.source}): {msg.reason}", err=True)
        elif isinstance(msg, InputEnded):
            if msg.nonfinite:
                click.echo(f"warning: {room.recorder.device}: {msg.nonfinite} samples were NaN or infinite;"
                           " they were recorded as silence (0)", err=True)
            loop.call_soon_threadsafe(stop.set)
        elif isinstance(msg, TakeFailed):
            failure.append(msg.error)
            loop.call_soon_threadsafe(stop.set)

    room.listen(on_message)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from ..markers.sources import SourceError

    sources: list = []
    try:
        try:
            await _open_sources(sources, room, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow)
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None
        if osc_port is not None:
            osc = sources[-1]
            click.echo(f"OSC: listening on {osc.host}:{osc.port}", err=True)
        take = room.start_take()
        click.echo(f"recording take {take['number']} of {room.session_name!r} from {room.recorder.device} "
                   f"({room.recorder.samplerate} Hz, {room.recorder.channels} ch) -> {take['path']}", err=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration)
        except asyncio.TimeoutError:
            pass
    finally:
        for s in sources:
            await _close_source(s)
            summary = getattr(s, "summary", None)
            line = summary() if summary else None
            if line:
                click.echo(line, err=True)
        if room.take is not None:
            finished = room.stop_take()
            click.echo(f"take {finished['number']}: {finished['frames'] / finished['sample_rate']:.2f} s, "
                       f"{finished['overflows']} overflows -> {finished['path']}", err=True)
    if failure:
        raise click.ClickException(f"recording stopped early: {failure[0]} (what was recorded is kept)")


async def _open_sources(sources, room, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow) -> None:
    """MIDI and OSC marker sources, wired to the room's bus; appended as they open so a
    failure of the second still closes the first."""
    from ..markers.sources import open_midi, start_osc

    if midi_ports or midi_virtual:
        sources.append(open_midi(room, ports=list(midi_ports), virtual=midi_virtual, api=midi_api))
    if osc_port is not None:
        sources.append(await start_osc(room, host=osc_host, port=osc_port, allow=list(osc_allow)))


async def _close_source(source) -> None:
    result = source.close()
    if asyncio.iscoroutine(result):
        await result


@main.command()
@click.pass_context
def recover(ctx) -> None:
    """Finish takes left open by a crash or kill; their audio and markers are kept."""
    from ..audio.recover import recover_takes

    ws, db = open_workspace_db(ctx)
    done = recover_takes(ws, db)
    if not done:
        click.echo("nothing to recover")
    for t in done:
        click.echo(f"take {t['number']} ({t['path']}): {t['frames']} frames, {t['status']}")
