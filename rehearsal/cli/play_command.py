"""`rehearsal play`: play a model generation live; both streams recorded, tags on both."""

from __future__ import annotations

import asyncio
import json
import math
import re
import signal
import sys
import time
from datetime import date

import click

from . import main
from .common import fail, score_and_notation, workspace, rejections_on_stderr
from ..scores.follow import no_score_to_cue
from .record_command import follow_score


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def parse_gain(text: str) -> float:
    """'2' or '2.0' (linear), '+6dB', '-3 db' (decibels) -> linear gain."""
    m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*(db)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise click.BadParameter(f"{text!r}: a number (linear) or decibels such as +6dB")
    value = float(m.group(1))
    gain = 10 ** (value / 20) if m.group(2) else value
    if not 0.0 <= gain <= 100.0:
        raise click.BadParameter(f"{text!r}: a gain between 0 and 100 (+40 dB)")
    return gain


def parse_host_port(text: str | None) -> tuple[str, int] | None:
    if text is None or text.lower() == "none":
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r}: HOST:PORT (or none)")
    return host.strip("[]"), int(port)


def _device(value):
    return int(value) if value is not None and value.isdigit() else value


@main.group(invoke_without_command=True)
@click.option("--model", "model_ref", default="current", show_default=True,
              help="Generation to play (g7, 7, current); `none` starts dry.")
@click.option("--session", "session_name", default=None, help="Session name (default: play-<today>).")
@click.option("--notation", "notation_name", default=None,
              help="Notation for tags (workspace notations/ or shipped, e.g. jam-reactions) or a .toml path. "
                   "Default: the session's, else good-bad-pedal (as record).")
@click.option("--device", help="Audio device for input and output (index or name). Default: the defaults.")
@click.option("--output-device", help="Output device if not --device; `none` with --input-file: render unheard.")
@click.option("--input-file", type=click.Path(exists=True, dir_okay=False),
              help="Play this file into the model instead of a live input (at its own rate: 44.1, 48, 96 kHz...).")
@click.option("--samplerate", type=click.IntRange(8000, 384000),
              help="The devices' rate. Default: 48000 where the device takes it, else its own (a JACK "
                   "server's). Models run at theirs, resampled.")
@click.option("--channels", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Input channels recorded; the model hears --model-channel.")
@click.option("--model-channel", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--dry-wet", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="0 = the input alone, 1 = the model alone.")
@click.option("--gain", default="1", show_default=True, help="Input gain into the model: linear, or dB (+6dB).")
@click.option("--fade", "fade_ms", type=click.FloatRange(0, 10_000), default=50.0, show_default=True,
              help="Crossfade between generations, in ms.")
@click.option("--fade-curve", type=click.Choice(["equal-power", "linear"]), default="equal-power", show_default=True)
@click.option("--blocksize", type=click.Choice(["32", "64", "128", "256"]), default="256", show_default=True,
              help="Audio callback block in samples.")
@click.option("--lookahead", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Extra render blocks of latency, for a slow machine.")
@click.option("--duration", type=click.FloatRange(min=0.1), help="Stop after this many seconds.")
@click.option("--midi", "midi_ports", multiple=True, help="Open this MIDI input port for tags (repeatable).")
@click.option("--midi-virtual", is_flag=True, help="Offer a virtual MIDI input port named `rehearsal`.")
@click.option("--midi-api", type=click.Choice(["auto", "alsa", "jack"]), default="auto", show_default=True)
@click.option("--osc-port", type=click.IntRange(0, 65535),
              help="Listen for OSC (tags, /rehearsal/latent, /rehearsal/play/*) on this UDP port.")
@click.option("--osc-host", default="127.0.0.1", show_default=True)
@click.option("--osc-allow", multiple=True, help="Sender address allowed when listening beyond loopback.")
@click.option("--osc-out", default="127.0.0.1:9001", show_default=True,
              help="Where the model's latent goes (/rehearsal/latent/out), HOST:PORT or none.")
@click.option("--control-rate", type=click.FloatRange(0, 1000), default=0.0,
              help="Latent messages per second (0: one per block).")
@click.option("--score", "score_path", type=click.Path(dir_okay=False),
              help="Perform this score: its position is shown as it goes, and the symbol sounding now steers a "
                   "model steered by symbols (`train --condition symbols`). Its notation is the play's.")
@click.option("--speed", type=click.FloatRange(0.1, 100), default=1.0, hidden=True)
@click.option("--co-perform", "co_perform", type=click.Choice(["call-response", "accompany"]),
              help="The model answers instead of transforming (a model that can generate: corpus, autoregressive).")
@click.option("--follow", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="accompany: 0 ignores the performer, 1 mirrors them (live: OSC /rehearsal/play/follow).")
@click.option("--pause", "pause_s", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="call-response: seconds of silence the model answers.")
@click.option("--answer", "answer_s", type=click.FloatRange(min=0.01), default=4.0, show_default=True,
              help="call-response: seconds the model answers at most.")
@click.option("--replay-xy", "replay_take", type=int, metavar="TAKE",
              help="Walk the XY pad as it walked in the play of this take (its id, either stream), at the same times.")
@click.pass_context
def play(ctx, model_ref, session_name, notation_name, device, output_device, input_file, samplerate, channels,
         model_channel,
         dry_wet, gain, fade_ms, fade_curve, blocksize, lookahead, duration, midi_ports, midi_virtual, midi_api,
         osc_port, osc_host, osc_allow, osc_out, control_rate, score_path, speed, co_perform, follow, pause_s,
         answer_s, replay_take) -> None:
    """Play a generation live: input -> model -> output, in blocks of <= 256 samples (48 kHz, or the
    input's rate: models run at their own, resampled).

    Records a take of the performer and a take of the model, aligned to the sample; tags
    from MIDI, OSC and keys land on both and count for the generation heard. Type a
    generation (g7) and Enter to switch (it loads in the background and fades in), `mix X`,
    `gain X`, `stats`. Stops on Ctrl-C, SIGTERM, --duration or the end of --input-file.
    One JSON line per marker and per model change on stdout; a status line on stderr.
    `rehearsal play reception` shows how each generation was received.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..play import PlayConfig, PlayError
    from ..play.room import PlayRoom
    from ..training.generations import GenerationNotFound

    ws = workspace(ctx)
    session_name = session_name or f"play-{date.today().isoformat()}"
    score, notation = score_and_notation(ws, session_name, notation_name, score_path)
    if device is not None and output_device is None and input_file is None:
        output_device = device
    config = PlayConfig(
        device=_device(device), output_device=_device(output_device), channels=channels,
        model_channel=model_channel - 1, input_file=input_file, samplerate=samplerate, speed=speed,
        blocksize=int(blocksize),
        lookahead=lookahead, mix=dry_wet, gain=parse_gain(gain), fade_ms=fade_ms, fade_curve=fade_curve,
        osc_out=parse_host_port(osc_out), control_rate=control_rate,
        coperform={"mode": co_perform, "follow": follow, "pause_s": pause_s, "answer_s": answer_s}
        if co_perform else None)
    if model_channel > channels and input_file is None:
        fail(f"--model-channel {model_channel}: only {channels} input channel(s)")
    room = PlayRoom(ws, session_name, notation, config)
    try:
        model = None if model_ref == "none" else model_ref
        if model is not None:
            from ..play.room import resolve_model

            resolve_model(ws, room.db, model)   # fail before any audio opens
        if replay_take is not None:
            from ..store.plays import recorded_walk

            recorded_walk(room.db, replay_take)      # a take with no walk: say so before any audio opens
    except (GenerationNotFound, LookupError) as exc:
        room.db.conn.close()
        fail(f"{exc}")
    for take in room.recovered:
        click.echo(f"recovered take {take['number']} of session {take['session_id']}: "
                   f"{take['frames']} frames ({take['status']})", err=True)
    try:
        room.open()
    except PlayError as exc:
        room.db.conn.close()
        fail(f"cannot start playing: {exc}")
    finished: list = []      # (PlayFinished, ScoreFollower or None) once the play stops
    try:
        asyncio.run(_play(room, model, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host,
                          osc_allow, score, replay_take, finished))
    finally:
        room.close()
    if score is not None and finished:
        _label_play_from_score(ws, *finished[0])


def _label_play_from_score(ws, done, follower) -> None:
    """Both takes of a play from a score are labelled by it, as `record --score` labels its
    take: the performer's take aligned to the performance (its first event where the score
    asked for it, the performer take's input delay later), the model's take mirroring it."""
    from ..scores.label import attach_score
    from ..store import open_db
    from .record_command import label_from_score

    score = follower.score
    take = done.input_take
    origin = int(round(score.count_in_s * take["sample_rate"])) + int(done.play.get("input_delay_samples") or 0)
    db = open_db(ws.db_path)
    try:
        for t in (done.input_take, done.output_take):
            attach_score(db, t["id"], score, origin)
    finally:
        db.conn.close()
    label_from_score(ws, take, follower.performed(), play_id=done.play["id"])


async def _play(room, model, duration, midi_ports, midi_virtual, midi_api, osc_port, osc_host, osc_allow,
                score=None, replay_take=None, finished: list | None = None) -> None:
    from ..export.markers import marker_json
    from ..markers import Committed, Redone, Rejected, ScoreCue, Undone
    from ..markers.sources import SourceError
    from ..play.room import InputEnded, PlayEvent
    from ..store.takes import get_take

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failure: list[str] = []
    tty = sys.stderr.isatty()

    note_rejected = rejections_on_stderr()

    def on_message(msg) -> None:   # bus thread / play event thread
        if isinstance(msg, Committed):
            take = {"sample_rate": room.player.samplerate}
            _print_json({"event": "marker", "generation": room.heard, **marker_json(msg.marker, take)})
        elif isinstance(msg, (Undone, Redone)):
            _print_json({"event": "undo" if isinstance(msg, Undone) else "redo", "id": msg.marker.id,
                         "symbol": msg.marker.symbol, "deleted": msg.marker.deleted_at is not None})
        elif isinstance(msg, Rejected):
            _status_clear(tty)
            note_rejected(msg)
        elif isinstance(msg, ScoreCue) and score is None:
            _status_clear(tty)
            click.echo(no_score_to_cue(msg), err=True)
        elif isinstance(msg, PlayEvent):
            if msg.kind in ("fading", "switched", "model-failed", "switch-failed", "load-failed", "glitches",
                            "take-failed", "loaded", "mixer-error", "model-behind",
                            "latent-applied", "symbol-applied", "symbols-not-taken"):
                sr = room.player.samplerate or 48000
                _print_json({"event": msg.kind, "generation": msg.generation,
                             "frame": msg.frame, "t": None if msg.frame is None else round(msg.frame / sr, 3),
                             **({"detail": msg.detail} if msg.detail else {})})
            if msg.kind in ("model-failed", "switch-failed", "load-failed", "take-failed", "mixer-error"):
                _status_clear(tty)
                what = {"model-failed": "model failed, playing dry", "switch-failed": "switch failed",
                        "load-failed": "cannot load", "take-failed": "recording stopped",
                        "mixer-error": "internal error, playing dry"}[msg.kind]
                click.echo(f"{what}: {msg.detail}", err=True)
            if msg.kind in ("model-behind", "symbols-not-taken") or (msg.kind in ("loaded", "aligned") and msg.detail):
                _status_clear(tty)
                click.echo(msg.detail, err=True)
            if msg.kind == "take-failed":
                failure.append(msg.detail)
                loop.call_soon_threadsafe(stop.set)
        elif isinstance(msg, InputEnded):
            loop.call_soon_threadsafe(stop.set)

    room.listen(on_message)
    follower = None
    if score is not None:
        from ..scores.follow import ScoreFollower

        follower = ScoreFollower(score, room.seconds)     # the count-in starts with the takes
        room.listen(follower.on_bus)                      # the notation's score-advance / score-hold
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sources: list = []
    status_task = score_task = None
    try:
        try:
            if midi_ports or midi_virtual:
                from ..markers.sources import open_midi

                sources.append(open_midi(room, ports=list(midi_ports), virtual=midi_virtual, api=midi_api))
            if osc_port is not None:
                from ..markers.osc import OscError
                from ..play.osc import PlayOscSource

                try:
                    sources.append(await PlayOscSource(room, room.notation, host=osc_host, port=osc_port,
                                                       allow=list(osc_allow)).start())
                except OscError as exc:
                    raise SourceError(f"OSC: {exc}") from None
                click.echo(f"OSC: listening on {sources[-1].host}:{sources[-1].port}", err=True)
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None
        play = room.start(model)
        p = room.player
        # take numbers, as in the file names (take-003-performer.flac) and everywhere else, not row ids
        performer, answer = (get_take(room.db, play[k]) for k in ("input_take_id", "output_take_id"))
        click.echo(f"playing {model or 'dry'} from {p.device} ({p.samplerate} Hz, blocks of {p.blocksize}, model latency "
                   f"{p.latency} samples = {1000 * p.latency / p.samplerate:.1f} ms) -> session "
                   f"{room.session_name!r}, takes {performer['number']} (performer) and {answer['number']} "
                   f"(model)", err=True)
        if p.fallback:
            click.echo(p.fallback, err=True)
        if p.realtime:
            click.echo(p.realtime, err=True)
        if replay_take is not None:
            n = room.replay_xy(replay_take)
            click.echo(f"replaying the XY walk of take {replay_take}: {n} targets", err=True)
        _stdin_commands(loop, room, stop)
        status_task = asyncio.create_task(_status_line(room, tty))
        if follower is not None:
            score_task = asyncio.create_task(follow_score(follower, room.set_symbol))
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration)
        except asyncio.TimeoutError:
            pass
    finally:
        if status_task:
            status_task.cancel()
        if score_task:
            score_task.cancel()
        _status_clear(tty)
        try:
            loop.remove_reader(sys.stdin.fileno())
        except (ValueError, OSError):
            pass
        for s in sources:
            result = s.close()
            if asyncio.iscoroutine(result):
                await result
        if room.play is not None:
            done = room.stop()
            if finished is not None:
                finished.append((done, follower))
            stats = json.loads(done.play["stats_json"] or "{}")
            m = stats.get("model", {})
            t = done.input_take
            click.echo(f"played {t['frames'] / t['sample_rate']:.2f} s: {done.play['glitches']} glitches, "
                       f"{done.play['model_errors']} model errors; model time per block median "
                       f"{100 * m.get('median_share', 0):.1f}% p99 {100 * m.get('p99_share', 0):.1f}% of "
                       f"{m.get('budget_ms', 0):.2f} ms -> {t['path']} and {done.output_take['path']}", err=True)
    if failure:
        raise click.ClickException(f"playing stopped early: {failure[0]} (what was recorded is kept)")


@play.command("reception")
@click.argument("generation", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per generation.")
@click.pass_context
def play_reception(ctx, generation, as_json) -> None:
    """How each generation was received in play: time heard, tags made while it played."""
    from ..play import reception, reception_all
    from ..training.generations import GenerationNotFound, get_generation
    from .common import open_workspace_db

    ws, db = open_workspace_db(ctx)
    try:
        rows = [reception(db, get_generation(db, generation)["id"])] if generation else reception_all(db)
    except GenerationNotFound as exc:
        fail(str(exc))
    if not rows:
        click.echo("no generation has been played yet")
    for r in rows:
        if as_json:
            _print_json(r)
            continue
        tags = "  ".join(f"{t['glyph']} {symbol} x{t['count']}" for symbol, t in r["tags"].items()) or "no tags"
        click.echo(f"g{r['generation_id']}: {r['seconds']:.0f} s in {r['plays']} play(s)  {tags}")
        if set(r["settings"]) - {"transform"}:
            for setting, counts in r["settings"].items():
                click.echo(f"  {setting}: " + "  ".join(f"{s} x{n}" for s, n in counts.items()))


def _stdin_commands(loop, room, stop) -> None:
    """Lines on stdin: a generation (g7) switches; `mix X`, `gain X`, `symbol S` (steer a model
    steered by symbols; `symbol` alone: none), `stats`, `quit`."""
    try:
        fd = sys.stdin.fileno()
    except (ValueError, OSError):
        return

    def readable() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(fd)
            return
        words = line.split()
        if not words:
            return
        try:
            if words[0] in ("quit", "q"):
                stop.set()
            elif words[0] == "mix" and len(words) == 2:
                room.set_mix(float(words[1]))
            elif words[0] == "gain" and len(words) == 2:
                room.set_gain(parse_gain(words[1]))
            elif words[0] == "symbol" and len(words) <= 2:
                if len(words) == 2 and room.notation.symbol(words[1]) is None:
                    raise LookupError(f"no symbol {words[1]!r} in notation {room.notation.name!r}")
                room.set_symbol(words[1] if len(words) == 2 else None)
            elif words[0] == "stats":
                _print_json({"event": "stats", **room.player.stats()})
            else:
                gen = room.switch(words[0])
                click.echo(f"loading {gen['name']}…", err=True)
        except (LookupError, ValueError, click.BadParameter) as exc:
            click.echo(f"{line.strip()!r}: {exc}", err=True)

    try:
        loop.add_reader(fd, readable)
    except (ValueError, OSError, NotImplementedError):
        pass


async def _status_line(room, tty: bool) -> None:
    """Every half second on a terminal (every 10 s otherwise): what plays, levels, model
    time, glitches."""
    last = 0.0
    while True:
        await asyncio.sleep(0.5)
        if not tty and time.monotonic() - last < 10:
            continue
        last = time.monotonic()
        s = room.player.status()
        med, p99 = s.model_share
        heard = f"g{s.active_generation}" if s.active_generation else "dry"
        if s.incoming_generation:
            heard += f" → g{s.incoming_generation}"
        line = (f"{heard:>10}  {s.take_frames / (room.player.samplerate or 48000):7.1f} s  in {_db(s.input_level):>6}  model {_db(s.output_level):>6}"
                f"  model time {100 * med:4.1f}% (p99 {100 * p99:4.1f}%)  glitches {s.glitches}")
        if tty:
            sys.stderr.write("\r\033[K" + line)
            sys.stderr.flush()
        else:
            click.echo(line, err=True)


def _db(level: float) -> str:
    return "-inf" if level <= 0 else f"{20 * math.log10(level):.0f}dB"


def _status_clear(tty: bool) -> None:
    if tty:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
