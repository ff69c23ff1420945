"""Play in the rehearsal room: the play process, the marker bus and the store wired together.

Both `rehearsal play` and a TUI screen drive a PlayRoom. As `rehearsal.room.Room` does for
recording, it owns the order that keeps data safe: recover what a crash left, write the
take rows before audio starts, give the bus the takes' first frame so taps land on the
room's clock, flush the bus before the takes are finished. In addition it writes what the
play process reports (which generation was heard from which frame, failures, glitches)
and mirrors tags onto the model's take.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import soundfile as sf

from ..audio.writer import take_suffix
from ..markers.bus import Committed, Redone, Undone
from ..notation import Notation
from ..room import RoomBase
from ..store import Workspace, open_db, plays
from ..store.notations import store_notation
from ..store.sessions import session_folder
from ..store.takes import create_take, finish_take, get_take, take_numbering
from ..training import generations as gens
from ..training.family import symbols_refusal
from . import events as E
from .mirror import sync_mirrors
from .player import PlayConfig, Player, PlayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayStarted:
    play: dict


@dataclass(frozen=True)
class PlayFinished:
    play: dict
    input_take: dict
    output_take: dict


@dataclass(frozen=True)
class PlayEvent:
    """Something the play process reported, with its frame on the takes (as heard)."""
    kind: str                 # loaded, load-failed, warming, fading, switched, model-failed, ...
    generation: str | None    # "g7", or None (dry)
    frame: int | None
    detail: str = ""


@dataclass(frozen=True)
class InputEnded:
    pass


def resolve_model(ws: Workspace, db, ref) -> tuple[dict, str]:
    """(generation row, checkpoint path) for "g7", "7", "current"... (no torch)."""
    gen = gens.get_generation(db, ref)
    if gen["status"] != "complete":
        raise gens.GenerationNotFound(f"{gen['name']} is {gen['status']}: only a complete generation can play")
    ckpt = gens.checkpoint_for(db, gen)
    return gen, str(ws.resolve(ckpt["path"]))


def recover_plays(db) -> list[int]:
    """Plays a crash left open: their takes were finished by `recover_takes`; copy their
    tags to the model take and close the play row."""
    ids = [r[0] for r in db.execute("SELECT id FROM plays WHERE ended_at IS NULL")]
    for play_id in ids:
        sync_mirrors(db, play_id)
        plays.end_play(db, play_id)
    return ids


def create_play_takes(ws: Workspace, db, session_id: int, notation_id: int, fmt: str, subtype: str | None,
                      samplerate: int, channels: int, device: str, pid: int | None, play: dict):
    """The play's two takes (performer, model: consecutive numbers) and its row, in one
    `take_numbering` transaction, as recording numbers its takes: a play and a recording
    (or two plays) on one session never pick the same numbers. The folder is the
    session's own (`session_folder`). Returns (play_id, performer path, model path)."""
    folder = ws.session_audio_dir(session_folder(db, session_id))
    suffix = take_suffix(fmt)
    common = dict(session_id=session_id, format=fmt, subtype=subtype or "default", sample_rate=samplerate,
                  notation_id=notation_id, recorder_pid=pid)
    with take_numbering(db, session_id) as number:
        in_path = folder / f"take-{number:03d}-performer{suffix}"
        out_path = folder / f"take-{number + 1:03d}-model{suffix}"
        in_id = create_take(db, number=number, path=ws.relative(in_path), channels=channels, device=device, **common)
        out_id = create_take(db, number=number + 1, path=ws.relative(out_path), channels=1, device="model", **common)
        play_id = plays.create_play(db, session_id=session_id, input_take_id=in_id, output_take_id=out_id, **play)
    return play_id, in_path, out_path


class PlayRoom(RoomBase):
    def __init__(self, ws: Workspace, session: str, notation: Notation, config: PlayConfig | None = None):
        self.config = config or PlayConfig()
        self.player = Player(self.config)
        super().__init__(ws, session, notation, self.player)
        self.recovered_plays = recover_plays(self.db)
        self.play: dict | None = None
        self._db_lock = threading.Lock()
        # stop (the app's thread) and _take_failed (the play reader's) each claim the running
        # play under this lock: a play whose take fails while it is being stopped is closed
        # once, as failed
        self._play_lock = threading.Lock()
        self._mirror = _MirrorThread(ws)
        self._warm: dict = {}
        self._models_started = 0
        self.heard: str | None = None    # the generation heard now ("g7"), None = dry
        self.model_latency: dict = {}    # generation id -> samples beyond the play's latency
        self.input_delay = 0             # the performer take's delay (the first model's latency)
        self._xy = None                  # the XY pad on the heard generation's terrain (set_xy)
        self._xy_for: str | None = None
        self._xy_lock = threading.Lock()
        self._replaying = threading.Event()   # set: the running replay of a walk stops (replay_xy)
        self.symbol: str | None = None   # the current symbol (set_symbol), None = no symbol
        self._symbols_told: set = set()  # (play, generation, why) already said (symbols_not_taken)
        self._rows: dict[str, dict] = {}  # generation rows by name, read once (symbols_not_taken)
        self._symbols_lock = threading.Lock()
        self.listen(self._bus_message)

    # -- lifecycle (the rest is RoomBase's) ------------------------------------------------
    def open(self) -> "PlayRoom":
        super().open()
        self._mirror.start()
        return self

    def _stop_running(self) -> None:
        if self.play is not None:
            self.stop()

    def _closed(self) -> None:
        self._replaying.set()
        self._mirror.close()
        if self._xy is not None:
            self._xy.close()

    # -- the play ---------------------------------------------------------------------------
    def start(self, model_ref="current", notation: Notation | None = None) -> dict:
        """Start recording both streams, then load `model_ref` (None: start dry)."""
        if self.play is not None:
            raise RuntimeError("a play is already running")
        model = resolve_model(self.ws, self.db, model_ref) if model_ref is not None else None
        if notation is not None:
            self.notation = notation
            self.notation_id = store_notation(self.db, notation)
            self.bus.set_notation(notation)
        p, cfg = self.player, self.config
        play_id, in_path, out_path = create_play_takes(
            self.ws, self.db, self.session_id, self.notation_id, cfg.format, cfg.subtype, p.samplerate,
            p.channels, p.device, p.pid,
            dict(latency_samples=p.latency, block_samples=p.blocksize, fade_ms=cfg.fade_ms, fade_curve=cfg.fade_curve,
                 dry_wet=cfg.mix, input_gain=cfg.gain, device=p.device, engine_pid=p.pid, coperform=cfg.coperform))
        in_id, out_id = plays.play_takes(self.db, play_id)
        try:
            start_frame = p.start_take(in_path, out_path, align=model is not None)
        except PlayError as exc:
            for take_id in (in_id, out_id):
                finish_take(self.db, take_id, frames=0, overflows=0, status="failed", error=str(exc))
            plays.end_play(self.db, play_id)
            raise
        t0 = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.db.execute("UPDATE takes SET started_at = ? WHERE id IN (?, ?)", [t0, in_id, out_id])
        plays.add_model(self.db, play_id, None, 0, reason="start")
        self.start_frame = start_frame
        self._models_started = 0
        self.play = self._play_row(self.db, play_id)
        self.bus.begin_take(in_id, start_frame, p.samplerate, self.notation)
        self._emit(PlayStarted(self.play))
        if model is not None:
            self.switch_to(model)
        else:
            self.player.release_input()   # a file waits for a model: none is coming
        return self.play

    def switch(self, model_ref, fade_ms: float | None = None) -> dict:
        """Load another generation in the background and fade it in. Returns its row."""
        gen, path = resolve_model(self.ws, self.db, model_ref)
        self.switch_to((gen, path), fade_ms)
        return gen

    def switch_to(self, model: tuple[dict, str], fade_ms: float | None = None) -> None:
        gen, path = model
        self.player.load(gen["id"], path, gen["name"], fade_ms)
        self._prepare_xy(gen["name"])     # while its host warms: the XY pad's terrain, if it has one

    def set_mix(self, mix: float) -> None:
        self.player.set_mix(mix)
        self._log_event("mix", None, f"{min(1.0, max(0.0, mix)):.3f}")

    def set_gain(self, gain: float) -> None:
        self.player.set_gain(gain)
        self._log_event("gain", None, f"{gain:.3f}")

    def set_follow(self, follow: float) -> None:
        """The co-performer's follow in accompaniment, live (OSC /rehearsal/play/follow): recorded
        as a `follow` event at the frame it is heard from, so tags after it count for it."""
        co = self.config.coperform or {}
        if co.get("mode") != "accompany":
            raise LookupError("follow is a control of accompaniment: this play's model "
                             + ("answers in call and response" if co else "transforms the input")
                             + " (rehearsal play --co-perform accompany)")
        self.player.set_follow(follow)

    def set_symbol(self, symbol: str | None) -> str | None:
        """The current symbol (OSC /rehearsal/symbol, a tag from a pedal or key, the score
        being performed, the TUI): it steers a model steered by symbols; recorded with the take.
        Returns, in words, why the generation heard now does not take it (None when it does):
        kept all the same, for a generation switched to later that does."""
        self.player.set_symbol(symbol)      # stored as a `symbol` event where it is heard from
        self.symbol = symbol
        return self.symbols_not_taken()

    def symbols_not_taken(self) -> str | None:
        """Why the generation heard now does not take the current symbol (None: it does, or
        there is no symbol or no model), rehearsal.training.family.symbols_refusal; said
        once per play, generation and reason as a `symbols-not-taken` event (the TUI, the
        CLI) instead of the symbol being silently ignored."""
        name, symbol, play = self.heard, self.symbol, self.play
        if not name or symbol is None:
            return None
        try:
            row = self._rows.get(name) or self._rows.setdefault(name, self._generation(name))
        except Exception:        # a generation gone from the store: nothing to say about it
            log.exception("could not read %s", name)
            return None
        why = symbols_refusal(row, symbol)
        if why is None:
            return None
        told = (play["id"] if play else None, name, why)
        with self._symbols_lock:
            first = told not in self._symbols_told
            self._symbols_told.add(told)
        if first:
            self._emit(PlayEvent("symbols-not-taken", name, None, why))
        return why

    def set_xy(self, x: float, y: float, glide_s: float | None = None, *, db=None) -> None:
        """The XY pad (OSC /rehearsal/xy, the TUI): glide to (x, y) of the playing
        generation's terrain (play/xy.py); recorded with the take as an `xy` event."""
        from .xy import XYPad

        XYPad.check(x, y, glide_s)
        if not self.heard:
            raise LookupError("no model is playing: the XY pad walks the playing generation's terrain")
        pad = self._xy_pad(self.heard)
        pad.set_target(x, y, glide_s)
        self._log_event("xy", None, f"{x:.4f} {y:.4f} {pad.glide_s:.3f}", db=db)

    def replay_xy(self, take_id: int) -> int:
        """Walk again what the XY pad walked in the play of `take_id` (either of its takes):
        each target at the frame of this take it was sent at in that one (once the model is
        heard; when the model is heard after the first target's frame, the whole walk follows
        as late, keeping its steps), recorded again with this take. Returns the number of targets."""
        _, walk = plays.recorded_walk(self.db, int(take_id))
        if self.play is None:
            raise LookupError("start playing first: a walk is replayed on a running play")
        play_id = self.play["id"]
        self._replaying.set()            # a replay already running stops
        stop = self._replaying = threading.Event()

        def run() -> None:
            db = open_db(self.ws.db_path, migrate_schema=False)   # this thread's own connection
            try:
                walk_on(db)
            finally:
                db.conn.close()

        def now() -> int | None:
            """This take's audio clock once the model is heard, else None."""
            return max(0, self.player.status().frames - self.start_frame) if self.heard else None

        def walk_on(db) -> None:
            late = None     # frames the first target came late by (a model heard late): all follow
            for frame, x, y, glide in walk:
                due = frame + (late or 0)
                # the audio clock of this take: poll it finely (a block is 5 ms)
                while not stop.is_set() and self.play is not None and self.play["id"] == play_id:
                    t = now()
                    if t is not None and t >= due:
                        break
                    stop.wait(0.002)
                if stop.is_set() or self.play is None or self.play["id"] != play_id:
                    return
                if late is None:    # the walk keeps its steps, not only its order
                    late = max(0, t - frame)
                try:
                    self.set_xy(x, y, glide, db=db)
                except Exception as exc:
                    log.warning("the walk's replay stops: %s", exc)
                    return

        threading.Thread(target=run, name="xy-replay", daemon=True).start()
        return len(walk)

    def xy_state(self) -> dict | None:
        """The XY pad of the heard generation as a display shows it: its clips' points,
        where the walk is and its target (0..1 of the map), the glide; None without a terrain."""
        pad = self._xy
        if pad is None or self._xy_for != self.heard:
            return None
        return {"generation": self._xy_for, **pad.state()}

    def _xy_pad(self, name: str):
        """The pad on `name`'s terrain, loaded once (torch and the TorchScript file)."""
        from ..training.generations import terrain_path
        from .xy import XYPad

        with self._xy_lock:
            if self._xy is None or self._xy_for != name:
                gen = self._generation(name)
                if self._xy is not None:
                    self._xy.close()
                    self._xy = None
                self._xy = XYPad(terrain_path(self.ws, gen), self.player.set_latent)
                self._xy_for = name
            return self._xy

    def _generation(self, name: str) -> dict:
        db = open_db(self.ws.db_path, migrate_schema=False)   # this thread's own connection
        try:
            return gens.get_generation(db, name)
        finally:
            db.conn.close()

    def _prepare_xy(self, name: str) -> None:
        """A generation is heard: load its terrain now (a thread), so the first XY move is instant."""
        from ..training.generations import terrain_path

        def load() -> None:
            try:
                if terrain_path(self.ws, self._generation(name)).exists():
                    self._xy_pad(name)
            except Exception:
                log.exception("could not load the terrain of %s", name)

        threading.Thread(target=load, name="xy-load", daemon=True).start()

    def stop(self) -> PlayFinished:
        running = self.play
        if running is None:
            raise RuntimeError("no play is running")
        play_id = running["id"]
        stopped = self.player.stop_take()
        with self._play_lock:
            # the play process says "take-failed" before it answers "stop", and the reader
            # thread closes the play before it reads the answer: if it failed, it is closed
            claimed = self.play is running
            if claimed:
                self.play = None
        if not claimed:
            row = self._play_row(self.db, play_id)
            finished = PlayFinished(row, get_take(self.db, row["input_take_id"]), get_take(self.db, row["output_take_id"]))
            self._emit(finished)
            return finished
        self._end_bus_take()
        with self._db_lock:
            for take_id in (self._row_takes(play_id)):
                finish_take(self.db, take_id, frames=stopped["frames"], overflows=stopped["overflows"],
                            gap_frames=stopped.get("gap_frames", 0))
            stats = stopped.get("stats", {})
            plays.end_play(self.db, play_id, glitches=stopped["glitches"], stats=stats)
            sync_mirrors(self.db, play_id)
            self._note_generations(play_id)
        row = self._play_row(self.db, play_id)
        finished = PlayFinished(row, get_take(self.db, row["input_take_id"]), get_take(self.db, row["output_take_id"]))
        self._emit(finished)
        return finished

    def _note_generations(self, play_id: int) -> None:
        """A note on each generation heard: the models screen shows how it was received
        (the tags themselves stay queryable through `reception`)."""
        from .reception import play_summary

        try:
            for gen_id, text in play_summary(self.db, play_id).items():
                gens.add_note(self.db, gen_id, text=text, who="play")
        except Exception:
            log.exception("could not note the play on its generations")

    def seconds(self) -> float:
        return self.player.status().take_frames / self.player.samplerate if self.play else 0.0

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _play_row(db, play_id: int) -> dict:
        return plays.get_play(db, play_id)

    def _row_takes(self, play_id: int) -> tuple[int, int]:
        return plays.play_takes(self.db, play_id)

    def _heard(self, input_frame: int | None) -> int | None:
        """A stream input frame -> the take frame at which its answer was heard."""
        if input_frame is None or self.play is None:
            return None
        return max(0, int(input_frame) + self.player.latency - self.start_frame)

    def _log_event(self, kind: str, generation_id, detail: str, frame: int | None = None, db=None) -> None:
        """A play event at the take's frame now; `db`: the calling thread's connection where
        it is not the room's thread."""
        if self.play is None:
            return
        if frame is None:
            frame = max(0, self.player.status().frames - self.start_frame)
        with self._db_lock:
            plays.add_event(db or self.db, self.play["id"], kind, frame=frame, generation_id=generation_id,
                            detail=detail)

    # -- the bus: mirror changes onto the model's take ----------------------------------------
    def _bus_message(self, msg) -> None:
        play = self.play
        if isinstance(msg, (Committed, Undone, Redone)) and play is not None:
            self._mirror.request(play["id"])
        if isinstance(msg, Committed) and play is not None:
            self.set_symbol(msg.marker.symbol)     # a pedal's tag steers too

    # -- the play process's events (its reader thread) ----------------------------------------------
    def _engine_event(self, message) -> None:
        kind, payload = message
        event = E.engine_event(kind, payload)
        try:
            db = open_db(self.ws.db_path, migrate_schema=False)   # this thread's own connection
            try:
                self._record(db, event)
            finally:
                db.conn.close()
        except Exception:
            log.exception("could not record play event %s", kind)
        if isinstance(event, E.InputEnded):
            self._emit(InputEnded())

    def _record(self, db, ev: E.EngineEvent) -> None:
        """Store what the event changes about the running play, then tell the listeners."""
        play = self.play
        if isinstance(ev, E.Gone):
            if play is None:
                return
            ev = self._died()
        gen_id = ev.generation_id
        name = gens.name_of(gen_id) if gen_id and gen_id > 0 else None
        frame, detail = self._heard(ev.input_frame), ev.error
        store = self._STORE.get(type(ev))
        if play is not None and store is not None:
            frame, detail = store(self, db, play["id"], ev, frame, detail)
        if isinstance(ev, E.LatentApplied):   # what the model host holds from this frame: say the values
            detail = "" if ev.values is None else " ".join(f"{v:.5g}" for v in ev.values)
        if isinstance(ev, E.Switched):
            self.heard = name
        elif isinstance(ev, E.ModelFailed):
            self.heard = None
        if isinstance(ev, E.TakeFailed) and play is not None:
            self._take_failed(db, play, ev)
        self._emit(PlayEvent(ev.label, name, frame, detail))
        if isinstance(ev, E.Switched):
            self.symbols_not_taken()      # a generation that does not take the current symbol says so

    # one method per event that changes the play's rows: (frame, detail) of the PlayEvent
    def _store_warming(self, db, play_id: int, ev: E.Warming, frame, detail):
        self._warm[ev.generation_id] = frame
        return frame, detail

    def _store_fading(self, db, play_id: int, ev: E.Fading, frame, detail):
        reason = "start" if self._models_started == 0 else "switch"
        self._models_started += 1
        plays.add_model(db, play_id, ev.generation_id, frame, reason=reason, fade_frames=ev.fade_frames,
                        warm_frame=self._warm.pop(ev.generation_id, None))
        return frame, detail

    def _store_model_failed(self, db, play_id: int, ev: E.ModelFailed | E.SwitchFailed, frame, detail):
        plays.add_event(db, play_id, ev.fault, frame=frame, generation_id=ev.generation_id, detail=ev.error)
        plays.count_model_error(db, play_id)
        if isinstance(ev, E.ModelFailed):          # the active model went: dry from here
            plays.add_model(db, play_id, None, frame, reason="bypass", fade_frames=0)
        elif ev.was == "fade":                     # half faded in: back to what played before
            plays.add_model(db, play_id, ev.back_to, frame, reason="bypass", fade_frames=0)
        return frame, detail

    def _store_load_failed(self, db, play_id: int, ev: E.LoadFailed, frame, detail):
        plays.add_event(db, play_id, "load-failed", generation_id=ev.generation_id, detail=ev.error)
        return frame, detail

    def _store_glitches(self, db, play_id: int, ev: E.Glitches, frame, detail):
        frame = max(0, int(ev.input_frame) - self.start_frame)
        detail = f"{ev.count} block(s) played dry: the model was late"
        plays.add_event(db, play_id, "glitches", frame=frame, detail=detail)
        return frame, detail

    def _store_loaded(self, db, play_id: int, ev: E.Loaded, frame, detail):
        """A model whose answer comes later than the play's latency (an imported module's
        buffer, resampling) says so, in the events and on the status line."""
        room = self.player.samplerate or 48000
        if not ev.latency_samples and ev.sample_rate == room:
            return frame, detail
        total = self.player.latency + ev.latency_samples
        detail = (f"{ev.name}: latency {total} samples = {1000 * total / room:.1f} ms ({ev.latency_samples} beyond "
                  f"the room's {self.player.latency}: buffers of {ev.buffer} at {ev.sample_rate} Hz"
                  + (f", resampled to and from {room} Hz" if ev.sample_rate != room else "") + ")")
        self.model_latency[ev.generation_id] = ev.latency_samples
        plays.add_event(db, play_id, "model-latency", generation_id=ev.generation_id, detail=detail)
        return frame, detail

    def _store_behind(self, db, play_id: int, ev: E.ModelBehind, frame, detail):
        detail = (f"{ev.name} cannot keep up with real time: {ev.count} block(s) played dry so far "
                  f"({ev.calls} calls); on this machine it needs a faster CPU, a GPU, or a smaller model")
        plays.add_event(db, play_id, "model-behind", frame=frame, generation_id=ev.generation_id, detail=detail)
        return frame, detail

    def _store_follow(self, db, play_id: int, ev: E.FollowApplied, frame, detail):
        detail = f"{ev.follow:g}"
        plays.add_event(db, play_id, "follow", frame=frame, detail=detail)
        return frame, detail

    def _store_aligned(self, db, play_id: int, ev: E.Aligned, frame, detail):
        plays.set_input_delay(db, play_id, ev.delay_samples)
        self.input_delay = ev.delay_samples
        detail = (f"the performer take is written {ev.delay_samples} samples "
                  f"({1000 * ev.delay_samples / (self.player.samplerate or 48000):.1f} ms) late, as late as the model answers"
                  if ev.delay_samples else "")
        return frame, detail

    def _store_symbol(self, db, play_id: int, ev: E.SymbolApplied, frame, detail):
        plays.add_event(db, play_id, "symbol", frame=frame, detail=ev.symbol)
        return frame, ev.symbol

    _STORE = {E.Aligned: _store_aligned, E.Warming: _store_warming, E.Fading: _store_fading,
              E.ModelFailed: _store_model_failed,
              E.SwitchFailed: _store_model_failed, E.LoadFailed: _store_load_failed, E.Glitches: _store_glitches,
              E.Loaded: _store_loaded, E.ModelBehind: _store_behind, E.FollowApplied: _store_follow,
              E.SymbolApplied: _store_symbol}

    def _died(self) -> E.TakeFailed:
        """The play process died (kill -9, crash): both takes close with what reached disk;
        the bus refuses every tap after its last frame (Player.ended)."""
        self.player.wait_gone()
        ended = self.player.ended()
        if ended is None:
            return E.TakeFailed(error="the play process ended unexpectedly")
        return E.TakeFailed(error=ended[1], frames=max(0, ended[0] - self.start_frame))

    def _take_failed(self, db, play: dict, ev: E.TakeFailed) -> None:
        with self._play_lock:
            if self.play is not play:      # stopped meanwhile: stop closed it
                return
            self.play = None
        self._end_bus_take()
        self.ws.release_reserve()
        for take_id in (play["input_take_id"], play["output_take_id"]):
            # what reached disk (the writer keeps the header current): the process died, or
            # the disk filled, and then each file holds what fitted, not what the process had
            frames = ev.frames
            try:
                frames = sf.info(str(self.ws.resolve(get_take(db, take_id)["path"]))).frames
            except (RuntimeError, OSError, sf.LibsndfileError):
                pass
            finish_take(db, take_id, frames=frames, overflows=0, status="failed",
                        error=f"recording stopped: {ev.error}; {frames} frames kept")
        plays.end_play(db, play["id"])
        sync_mirrors(db, play["id"])


class _MirrorThread:
    """Copies tags onto the model's take soon after they land, off the bus thread, at most
    every MIRROR_DELAY seconds (a flood of taps costs one pass, not one per tap)."""

    MIRROR_DELAY = 0.1

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._wanted: set[int] = set()
        self._cond = threading.Condition()
        self._closing = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="play-mirror", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, play_id: int) -> None:
        with self._cond:
            self._wanted.add(play_id)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._closed.set()
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        db = open_db(self.ws.db_path, migrate_schema=False)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._wanted or self._closing)
                    if self._closing and not self._wanted:
                        return
                self._cond_wait_a_little()
                with self._cond:
                    wanted, self._wanted = self._wanted, set()
                for play_id in wanted:
                    try:
                        sync_mirrors(db, play_id)
                    except Exception:   # repaired when the play ends, or on recovery
                        log.exception("could not mirror tags onto the model's take")
        finally:
            db.conn.close()

    def _cond_wait_a_little(self) -> None:
        self._closed.wait(self.MIRROR_DELAY)   # gather what else lands meanwhile (not when closing)
