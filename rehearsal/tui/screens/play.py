"""Play: a trained generation answers the performer live, and the room tags how it lands.

One sound card, two users: the recording room and the play process cannot both hold the
input, and the app owns which does (tui/input.py). So `p` asks the app (`PlayWanted`): it
refuses while a take is recording (`PlayRefused`); otherwise it closes the recording room
and answers `InputHanded`, and this screen opens a PlayRoom on the same workspace, session,
notation and input (device, input file or demo) and starts the chosen generation; `p` again
stops the play and posts `PlayEnded`, and the app reopens the recording room.

Nothing here blocks the UI thread: every PlayRoom call runs on one thread of its own
("play-room": its SQLite connection belongs to the thread that opened it), awaited from
named workers. A thread worker reads the play process's shared-memory status ten times
a second and posts a coalescing `PlayTick`; room events (tags committed, models loaded,
switched, failed) arrive on other threads, go into an inbox and one coalescing
`PlayEvents` tells the screen to drain it. torch stays in the play process's hosts.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ...markers import Committed, Redone, Rejected, Undone
from ..messages import InputHanded, PlayEnded, PlayRefused, PlayWanted, _Latest
from ..moments import clock
from ..widgets import TagLog
from .base import RoomScreen
from .registry import ScreenSpec, register_screen

STATUS_HZ = 10
MIX_STEP = 0.1
GAIN_STEP_DB = 1.5
XY_STEP = 0.05          # the XY pad: one shift+arrow press, in map boxes
XY_GLIDE_S = 0.15
EVENT_LINES = 8
QUIET_EVENTS = {"spare-ready", "latent-applied", "symbol-applied"}
FAILURES = {"model-failed", "switch-failed", "load-failed", "take-failed", "mixer-error"}    # housekeeping of the play process, not news for the room


class PlayTick(_Latest):
    def __init__(self, status):
        super().__init__()
        self.status = status


class PlayEvents(_Latest):
    """Room events are waiting in the screen's inbox."""


class GenerationsLoaded(_Latest):
    def __init__(self, generations: list[dict], current: str | None):
        super().__init__()
        self.generations, self.current = generations, current


def _bar(level: float, width: int = 20) -> str:
    n = max(0, min(width, int(round(min(1.0, level) * width))))
    return "█" * n + "·" * (width - n)


class PlayScreen(RoomScreen):
    NAME = "play"
    DEFAULT_CSS = """
    #play-top { height: 9; }
    #play-state-box { width: 3fr; }
    #play-gens-box { width: 2fr; }
    #play-bottom { height: 1fr; min-height: 8; }
    #play-events-box { width: 3fr; }
    #play-log-box { width: 2fr; }
    #play-state { height: 1; }
    #play-levels { height: 3; }
    #play-counters { height: auto; }
    """
    BINDINGS = [
        Binding("p", "toggle_play", "play/stop", priority=True),
        Binding("s", "switch", "switch (crossfade)", priority=True),
        Binding("up", "select(-1)", "previous", priority=True),
        Binding("down", "select(1)", "next", priority=True),
        Binding("left_square_bracket", f"mix({-MIX_STEP})", "drier", priority=True),
        Binding("right_square_bracket", f"mix({MIX_STEP})", "wetter", priority=True),
        Binding("minus", f"gain({-GAIN_STEP_DB})", "gain -", priority=True),
        Binding("equals_sign", f"gain({GAIN_STEP_DB})", "gain +", priority=True),
        # the XY pad on the playing generation's terrain (play/xy.py; OSC /rehearsal/xy does the same)
        Binding("shift+left", f"xy({-XY_STEP}, 0)", "pad left", show=False, priority=True),
        Binding("shift+right", f"xy({XY_STEP}, 0)", "pad right", show=False, priority=True),
        Binding("shift+up", f"xy(0, {XY_STEP})", "pad up", show=False, priority=True),
        Binding("shift+down", f"xy(0, {-XY_STEP})", "pad down", show=False, priority=True),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.room = None                 # PlayRoom while playing
        self.keys = None                 # KeySource on the PlayRoom's bus
        self.generations: list[dict] = []
        self.current: str | None = None  # the workspace's current generation ("g3")
        self.selected = 0
        self.loaded = False              # the list has been read once
        self.busy = False
        self.demo = False
        self.mix = 1.0
        self.gain = 1.0
        self.xy: tuple[float, float] | None = None   # where the XY pad was sent (0..1 of the map)
        self.last: object | None = None  # the latest PlayStatus
        self.events: deque[str] = deque(maxlen=EVENT_LINES)
        self.tags = 0
        self._inbox: deque = deque(maxlen=50_000)
        self._flagged = threading.Event()
        self._exec: ThreadPoolExecutor | None = None

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="play-top"):
            with Vertical(id="play-state-box", classes="box"):
                yield Static(id="play-state")
                yield Static(id="play-levels")
                yield Static(id="play-counters")
            with Vertical(id="play-gens-box", classes="box"):
                yield Static("generations  ↑↓ · s switch", classes="box-title")
                yield Static(id="play-gens")
        with Horizontal(id="play-bottom"):
            with Vertical(id="play-events-box", classes="box"):
                yield Static("model events", classes="box-title")
                yield Static(id="play-events")
            with Vertical(id="play-log-box", classes="box"):
                yield Static("recent tags (committed to disk)", classes="box-title")
                yield TagLog(id="play-taglog")
        yield Footer()

    def on_mount(self) -> None:
        self.show_state()
        self.load_generations()

    # -- the play-room thread ------------------------------------------------------------------
    async def _call(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._exec, partial(fn, *args, **kwargs))

    @property
    def playing(self) -> bool:
        return self.room is not None

    # -- generations ---------------------------------------------------------------------------
    @work(thread=True, name="play-generations", group="play-list", exclusive=True)
    def load_generations(self) -> None:
        from ...store import open_db
        from ...training import generations as gens

        db = open_db(self.app.ws.db_path)
        try:
            rows = gens.list_generations(db, status="complete")
            cur = gens.current_generation(db)
        finally:
            db.conn.close()
        self.post_message(GenerationsLoaded(rows, cur["name"] if cur else None))

    def on_generations_loaded(self, msg: GenerationsLoaded) -> None:
        chosen = self.chosen()
        self.generations, self.current = msg.generations, msg.current
        self.loaded = True
        names = [g["name"] for g in self.generations]
        if chosen in names:
            self.selected = names.index(chosen)
        elif self.current in names:
            self.selected = names.index(self.current)
        else:
            self.selected = max(0, len(names) - 1)
        self.show_generations()

    def chosen(self) -> str | None:
        if not self.generations:
            return None
        return self.generations[min(self.selected, len(self.generations) - 1)]["name"]

    def heard(self) -> str | None:
        st = self.last
        if st is None or st.active_generation is None:
            return None
        return f"g{st.active_generation}" if st.active_generation > 0 else "a model file"

    def show_generations(self) -> None:
        out = Text()
        if not self.generations:
            out.append("no complete generation yet: train one (Models, F5)", style="yellow")
        heard = self.heard() if self.playing else None
        for i, g in enumerate(self.generations):
            mark = "▶ " if i == self.selected else "  "
            style = "bold reverse" if i == self.selected else ""
            out.append(f"{mark}{g['name']:<5}", style=style)
            out.append(f" {g.get('label') or g.get('family') or ''}", style="dim")
            if g["name"] == self.current:
                out.append("  current", style="cyan")
            if g["name"] == heard:
                out.append("  ♪ playing", style="bold green")
            out.append("\n")
        self.query_one("#play-gens", Static).update(out)

    # -- actions -------------------------------------------------------------------------------
    def action_select(self, step: int) -> None:
        if self.generations:
            self.selected = (self.selected + int(step)) % len(self.generations)
            self.show_generations()

    def action_toggle_play(self) -> None:
        if self.busy:
            return
        if self.playing:
            self.stop_play()
        else:
            self.ask_to_play()

    # -- the input is the app's: ask for it, play when it is handed over ----------------------
    def ask_to_play(self) -> None:
        ref = self.chosen()
        if ref is None:
            self.notify("no complete generation to play: train one first", severity="warning")
            return
        self.busy = True
        self.show_state()
        self.post_message(PlayWanted(ref, self.close_play, self.post_message))

    def on_play_refused(self, msg: PlayRefused) -> None:
        self.busy = False
        self.notify(msg.reason, severity="warning")
        self.show_state()

    def on_input_handed(self, msg: InputHanded) -> None:
        self.start_play(msg.ref)

    def action_switch(self) -> None:
        ref = self.chosen()
        if not self.playing or ref is None:
            self.notify("start playing first (p)" if ref else "no generation to switch to", severity="warning")
            return
        self.switch_to(ref)

    def action_mix(self, step: float) -> None:
        self.mix = round(min(1.0, max(0.0, self.mix + float(step))), 3)
        if self.playing:
            self.send("set_mix", self.mix)
        self.show_state()

    def action_gain(self, step_db: float) -> None:
        self.gain = min(8.0, max(0.0625, self.gain * 10 ** (float(step_db) / 20)))
        if self.playing:
            self.send("set_gain", self.gain)
        self.show_state()

    def action_xy(self, dx: float, dy: float) -> None:
        x, y = self.xy or (0.5, 0.5)
        self.xy = (round(min(1.0, max(0.0, x + float(dx))), 3), round(min(1.0, max(0.0, y + float(dy))), 3))
        if self.playing:
            self.send_xy(*self.xy)
        self.show_state()

    @work(name="play-xy", group="play-control", exclusive=False)
    async def send_xy(self, x: float, y: float) -> None:
        room = self.room
        if room is not None:
            try:
                await self._call(room.set_xy, x, y, XY_GLIDE_S)
                self.note(f"xy pad {x:.2f} {y:.2f} (glide {XY_GLIDE_S:.2f} s)")
            except Exception as exc:
                self.notify(f"xy pad: {exc}", severity="error")

    # -- workers -------------------------------------------------------------------------------
    def play_config(self):
        from ...play import PlayConfig
        from ..options import demo_take_path

        o = self.app.options
        kw = dict(mix=self.mix, gain=self.gain)
        if o.play_output is not None:
            kw["output_device"] = o.play_output
        if o.demo:
            return PlayConfig(input_file=str(demo_take_path()), loop=True, **kw)
        if o.input_file:
            return PlayConfig(input_file=o.input_file, loop=True, speed=o.speed, **kw)
        device = o.device
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        return PlayConfig(device=device, channels=o.channels or 1, **kw)

    @work(name="play-start", group="play", exclusive=False)
    async def start_play(self, ref: str) -> None:
        """The app has handed the input over (InputHanded): open the PlayRoom on it."""
        from ...markers.keys import KeySource

        app = self.app
        self.busy = True
        self.events.clear()
        self.note(f"opening the play process for {ref}…")
        try:
            self._exec = ThreadPoolExecutor(1, thread_name_prefix="play-room")
            config = self.play_config()
            notation = app.notation

            def _open():
                from ...play import PlayRoom

                room = PlayRoom(app.ws, app.session_name, notation, config)
                room.listen(self._on_event)
                try:
                    room.open()
                    room.start(ref)
                except BaseException:
                    room.close()
                    raise
                return room

            self.room = await self._call(_open)
            self.keys = KeySource(self.room.bus, self.room.notation, who=app.options.who)
            self.note(f"playing: {ref} requested")
            if self.room.player.fallback:
                self.note(self.room.player.fallback)
            if self.room.player.realtime:
                self.note(self.room.player.realtime)
            self.poll_status()
        except Exception as exc:
            self.room = None
            self.note(f"could not play: {exc}")
            self.notify(f"cannot play: {exc}", severity="error", timeout=10)
            await self._after_play()
        finally:
            self.busy = False
            self.show_state()
            self.show_generations()

    @work(name="play-stop", group="play", exclusive=False)
    async def stop_play(self) -> None:
        self.busy = True
        try:
            await self.close_play()
        finally:
            self.busy = False
            self.show_state()
            self.show_generations()

    async def close_play(self) -> None:
        """Stop and close the PlayRoom, then give the input back to the recording room."""
        room, keys = self.room, self.keys
        if room is None:
            return
        self.workers.cancel_group(self, "play-status")
        if keys is not None:
            keys.flush()   # a press still in its repeat window belongs to this play

        def _close():
            try:
                if room.play is not None:
                    finished = room.stop()
                    return finished.play
            finally:
                if keys is not None:
                    keys.close()
                room.close()

        try:
            play = await self._call(_close)
            if play is not None:
                self.note(f"stopped: play {play['id']} saved, {play.get('glitches') or 0} glitches")
        except Exception as exc:
            self.notify(f"stopping the play: {exc}", severity="error", timeout=10)
        finally:
            self.room, self.keys = None, None
            await self._after_play()

    async def _after_play(self) -> None:
        if self._exec is not None:
            self._exec.shutdown(wait=False)
            self._exec = None
        self.post_message(PlayEnded())   # the app gives the input back (to a recording room if one was open)

    @work(name="play-switch", group="play-control", exclusive=False)
    async def switch_to(self, ref: str) -> None:
        try:
            await self._call(self.room.switch, ref)
            self.note(f"switching to {ref} (crossfade)…")
        except Exception as exc:
            self.notify(f"cannot switch to {ref}: {exc}", severity="error")

    @work(name="play-control", group="play-control", exclusive=False)
    async def send(self, method: str, value: float) -> None:
        room = self.room
        if room is not None:
            try:
                await self._call(getattr(room, method), value)
            except Exception as exc:
                self.notify(f"{method}: {exc}", severity="error")

    @work(thread=True, name="play-status", group="play-status", exclusive=True)
    def poll_status(self) -> None:
        """Reads shared memory only; posts a coalescing tick ten times a second."""
        worker = get_current_worker()
        pause = threading.Event()
        while not worker.is_cancelled:
            room = self.room
            if room is None:
                return
            try:
                self.post_message(PlayTick(room.player.status()))
            except Exception:
                return
            pause.wait(1 / STATUS_HZ)   # the display rate, not a synchronisation

    # -- events from other threads ----------------------------------------------------------
    def _on_event(self, event) -> None:
        self._inbox.append(event)
        if not self._flagged.is_set():
            self._flagged.set()
            self.post_message(PlayEvents())

    def on_play_events(self, _msg: PlayEvents) -> None:
        from ...play.room import InputEnded, PlayEvent

        self._flagged.clear()
        log = self.query_one(TagLog)
        sr = self.room.player.samplerate if self.room is not None else 48_000
        while self._inbox:
            e = self._inbox.popleft()
            if isinstance(e, Committed):
                m = e.marker
                glyph, colour, label = self.app.looks(m.symbol, m.glyph)
                log.add(m, sr, glyph, colour, label)
                self.tags += 1
            elif isinstance(e, (Undone, Redone)):
                m = e.marker
                glyph, colour, label = self.app.looks(m.symbol, m.glyph)
                log.mark(m, glyph, colour, label)
            elif isinstance(e, Rejected):
                self.note(f"not tagged ({e.event.source}): {e.reason}")
            elif isinstance(e, PlayEvent) and (e.kind in QUIET_EVENTS or (e.kind == "aligned" and not e.detail)):
                continue
            elif isinstance(e, PlayEvent):
                at = f" at {clock(e.frame / sr)}" if e.frame is not None else ""
                who = e.generation or "dry"
                self.note(f"{e.kind}: {who}{at}{'  ' + e.detail if e.detail else ''}")
                if e.kind in FAILURES:
                    after = "  (bypassed: the input is heard dry)" if e.kind == "model-failed" else ""
                    self.notify(f"{e.kind}: {who} {e.detail}{after}", severity="error", timeout=8)
                elif e.kind == "model-behind":   # an imported module slower than real time
                    self.notify(e.detail, severity="warning", timeout=8)
            elif isinstance(e, InputEnded):
                self.note("the input ended")
        self.show_generations()

    def note(self, line: str) -> None:
        self.events.append(line)
        try:
            self.query_one("#play-events", Static).update("\n".join(self.events))
        except Exception:
            pass

    # -- live tagging: the notation's keys go to the play room's key source -------------------
    def on_key(self, event) -> None:
        keys = self.keys
        if keys is None or not keys.bound(event.key):
            return
        keys.press(event.key, getattr(event, "time", None))
        event.stop()
        event.prevent_default()

    # -- drawing -------------------------------------------------------------------------------
    def on_play_tick(self, tick: PlayTick) -> None:
        before = self.heard()
        self.last = tick.status
        self.show_state()
        if self.heard() != before:
            self.show_generations()

    def show_state(self) -> None:
        self.redraw_top()
        st = self.last if self.playing else None
        if self.busy and not self.playing:
            state = Text("opening… / closing…", style="dim")
        elif not self.playing:
            state = Text.assemble(("○ not playing  ", "bold"), ("p play the chosen generation", "dim"))
        else:
            heard = self.heard()
            seconds = st.take_frames / self.room.player.samplerate if st is not None else 0.0
            state = Text.assemble(("▶ PLAY ", "bold green"), ("hearing ", ""),
                                  (heard or "dry", "bold"), (f"  {clock(seconds)}", "bold"))
            if st is not None and st.loading:
                state.append(f"   loading g{st.incoming_generation}…" if st.incoming_generation else "   loading…",
                             style="yellow")
        self.query_one("#play-state", Static).update(state)
        mix = st.mix if st is not None else self.mix
        gain = st.gain if st is not None else self.gain
        inp = st.input_level if st is not None else 0.0
        out = st.output_level if st is not None else 0.0
        self.query_one("#play-levels", Static).update(Text.assemble(
            ("in   ", "dim"), _bar(inp), ("\nout  ", "dim"), _bar(out),
            (f"\ndry/wet {mix:.2f}  ([ ])   input gain {gain:.2f}  (- =)", "")))
        if st is not None:
            med, p99 = st.model_share
            counters = Text.assemble(
                ("glitches ", "dim"), (str(st.glitches), "bold red" if st.glitches else "bold"),
                ("   model time ", "dim"), (f"{med:.0%} median · {p99:.0%} p99", "bold red" if p99 > 0.8 else "bold"),
                (f" of a {st.block_ms:.1f} ms block", "dim"), ("   tags ", "dim"), (str(self.tags), "bold"))
        else:
            counters = Text("", style="dim")
        self.query_one("#play-counters", Static).update(counters)


register_screen(ScreenSpec(name="play", title="Play", key="f6", factory=PlayScreen, order=60,
                           help="a trained generation answers the performer live; tag how it lands"))
