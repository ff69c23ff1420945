"""`rehearsal record`: record without the TUI, print each marker as it lands, `rehearsal recover`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import click

from . import main
from ..scores.follow import no_score_to_cue
from .common import fail, open_workspace_db, score_and_notation, workspace, rejections_on_stderr


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
@click.option("--score", "score_path", type=click.Path(dir_okay=False),
              help="Record from this score: its position is shown as it goes, and its events become "
                   "the take's markers (source `score`), aligned to the performance. Its notation is the take's.")
@click.option("--speed", type=click.FloatRange(0.1, 100), default=1.0, hidden=True,
              help="--input-file pace (tests).")
@click.pass_context
def record(ctx, session_name, notation_name, input_file, device, channels, samplerate, duration, preroll, fmt,
           midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow, score_path, speed) -> None:
    """Record a take; tag from MIDI pedals and OSC; one JSON line per marker as it lands.

    Stops cleanly on Ctrl-C, SIGTERM, --duration or the end of --input-file.
    """
    from ..audio import RecorderConfig, RecorderError
    from ..room import Room

    ws = workspace(ctx)
    score, notation = score_and_notation(ws, session_name, notation_name, score_path)
    if device is not None and device.isdigit():
        device = int(device)
    config = RecorderConfig(device=device, channels=channels, samplerate=samplerate, input_file=input_file,
                            preroll_s=preroll, format=fmt, speed=speed, hold_file=input_file is not None)
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
    followed: list = []      # the ScoreFollower of the take, once it runs
    try:
        asyncio.run(_record(room, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow, score,
                            followed))
    finally:
        room.close()
    if score is not None and room.last_take is not None:
        label_from_score(room.ws, room.last_take, followed[0].performed() if followed else score)


def label_from_score(ws, take, performed, play_id: int | None = None) -> None:
    """The score's events as markers of the finished take, where the clock showed them (holds
    and advances applied: `ScoreFollower.performed()`), aligned to the take, printed like the
    tapped ones. `play_id`: a play's performer take, whose markers the model take mirrors."""
    from ..export.markers import marker_json
    from ..scores.label import label_take
    from ..store import open_db
    from ..store.markers import get_marker

    db = open_db(ws.db_path)
    try:
        ids = label_take(ws, db, take["id"], performed)
        if play_id is not None:
            from ..play.mirror import sync_mirrors

            sync_mirrors(db, play_id)
        for i in ids:
            _print_json({"event": "marker", **marker_json(get_marker(db, i), take)})
        click.echo(f"score {performed.title!r}: {len(ids)} of {len(performed.sounding)} events marked, aligned to "
                   f"the take", err=True)
    finally:
        db.conn.close()


async def _record(room, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow,
                  score=None, followed: list | None = None) -> None:
    from ..export.markers import marker_json
    from ..markers import Committed, Redone, Rejected, ScoreCue, Undone
    from ..room import InputEnded, TakeFailed

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failure: list[str] = []

    note_rejected = rejections_on_stderr()

    def on_message(msg) -> None:  # bus thread / recorder reader thread
        if isinstance(msg, Committed):
            _print_json({"event": "marker", **marker_json(msg.marker, room.take or {"sample_rate": room.recorder.samplerate})})
        elif isinstance(msg, (Undone, Redone)):
            kind = "undo" if isinstance(msg, Undone) else "redo"
            _print_json({"event": kind, "id": msg.marker.id, "symbol": msg.marker.symbol,
                         "deleted": msg.marker.deleted_at is not None})
        elif isinstance(msg, Rejected):
            note_rejected(msg)
        elif isinstance(msg, ScoreCue) and score is None:
            click.echo(no_score_to_cue(msg), err=True)
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
        follow = None
        if score is not None:
            from ..scores.follow import ScoreFollower
            from ..scores.label import attach_score

            origin = take["preroll_frames"] + int(round(score.count_in_s * room.recorder.samplerate))
            attach_score(room.db, take["id"], score, origin)
            preroll_s = take["preroll_frames"] / room.recorder.samplerate
            follower = ScoreFollower(score, lambda: room.take_seconds() - preroll_s if room.take else 0.0)
            followed.append(follower)
            room.listen(follower.on_bus)          # the notation's score-advance / score-hold
            follow = asyncio.create_task(follow_score(follower))
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration)
        except asyncio.TimeoutError:
            pass
        if follow is not None:
            follow.cancel()
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


async def follow_score(follower, on_symbol=None) -> None:
    """Where the performer is in the score (a `ScoreFollower`: pedals move it), on stderr, as
    it changes (the TUI's Score view shows the same large). `on_symbol` hears the symbol
    sounding now (None in a rest, the count-in and after the end) each time it changes:
    `rehearsal play --score` steers the model with it."""
    last = None
    symbol: object = ()
    while True:
        line, now = follower.now()
        if line != last:
            click.echo(line, err=True)
            last = line
        if on_symbol is not None and now != symbol:
            symbol = now
            on_symbol(now)
        await asyncio.sleep(0.02 if on_symbol is not None else 0.05)


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
