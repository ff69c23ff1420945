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

The steering symbol (docs/play.md, Steering by symbols): the `steer` box draws the current
symbol large in its colour, as the engine applied it (`symbol-applied`, whoever set it: a
tag, OSC, this screen); `>` and `<` step through the notation's symbols and "no symbol", `/`
or a click on the box picks one from a list. Chosen before a play, it is the play's first.
Any key the notation binds is the notation's here too (it tags, as on Record: no tag is lost
to a screen key): the screen's action on it steps aside (give_the_notation_its_keys); play/stop
is also `space` and switch `enter`; the steer box's title leaves out a steer key so taken and
says what it tags.
A generation that does not take symbols says so under it (symbols_refusal), and the room's
`symbols-not-taken` event is noted and shown as a warning.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ...markers import Committed, Delayed, Redone, Rejected, Undone
from ..messages import InputHanded, PlayEnded, PlayRefused, PlayWanted, _Latest
from ..moments import clock
from ..widgets import TagLog, TagLogTitle
from ..widgets.grid import grid_text
from .base import RoomScreen
from .modals import PickScreen
from .score import _light
from .registry import ScreenSpec, register_screen

STATUS_HZ = 10
MIX_STEP = 0.1
GAIN_STEP_DB = 1.5
XY_STEP = 0.05          # the XY pad: one shift+arrow press, in map boxes
XY_GLIDE_S = 0.15       # a key press or a click glides this long
XY_DRAG_GLIDE_S = 0.05  # a drag follows the mouse closely
FOLLOW_STEP = 0.1
# what the model does with the performer (rehearsal.play.coperformer): it transforms their
# sound, or co-performs (answers their pauses; accompanies them, following by `follow`)
MODES = ("transform", "call-response", "accompany")
EVENT_LINES = 8
QUIET_EVENTS = {"spare-ready", "latent-applied", "symbol-applied"}
NO_SYMBOL = ""          # the steer picker's value for "no symbol"
# the steer keys: (Textual's name, the character a notation writes, action, parameters). A key
# the notation binds is the notation's here too: it tags, as on Record, and steers no more
STEER_KEYS = (("less_than_sign", "<", "steer", (-1,)), ("greater_than_sign", ">", "steer", (1,)),
              ("slash", "/", "pick_symbol", ()))
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


def pad_cell(u: float, v: float, width: int, height: int) -> tuple[int, int]:
    """A point of the map (0..1, y up) -> its cell on a width x height pad."""
    return (round(min(1.0, max(0.0, u)) * (width - 1)), round((1.0 - min(1.0, max(0.0, v))) * (height - 1)))


def pad_point(x: int, y: int, width: int, height: int) -> tuple[float, float]:
    """A cell of the pad -> the point of the map (0..1, y up) it shows."""
    return (round(min(1.0, max(0.0, x / max(1, width - 1))), 3), round(min(1.0, max(0.0, 1.0 - y / max(1, height - 1))), 3))


def draw_pad(state: dict | None, sent: tuple[float, float] | None, width: int, height: int) -> Text:
    """The pad: the terrain's clips (·), the glide's target (+) and where the walk is (@)."""
    grid = [[(" ", "")] * width for _ in range(height)]
    for u, v in (state or {}).get("points", ()):
        x, y = pad_cell(u, v, width, height)
        grid[y][x] = ("·", "cyan")
    target = (state or {}).get("target") or sent
    if target is not None:
        x, y = pad_cell(*target, width, height)
        grid[y][x] = ("+", "bold yellow")
    current = (state or {}).get("current")
    if current is not None:
        x, y = pad_cell(*current, width, height)
        grid[y][x] = ("@", "bold green")
    return grid_text(grid)


class XYPadView(Static):
    """The XY pad on the heard generation's terrain: a click glides there, a drag follows
    the mouse; shift+arrows step it (PlayScreen.action_xy). What it sends goes where OSC
    /rehearsal/xy goes: PlayRoom.set_xy."""

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self._dragging = False
        self._last_cell: tuple[int, int] | None = None

    def pad_size(self) -> tuple[int, int]:
        return max(self.size.width, 3), max(self.size.height, 3)

    def _send(self, x: int, y: int, glide_s: float) -> None:
        if (x, y) == self._last_cell and glide_s == XY_DRAG_GLIDE_S:
            return
        self._last_cell = (x, y)
        self.screen.xy_to(*pad_point(x, y, *self.pad_size()), glide_s)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._dragging = True
        self.capture_mouse()
        self._send(event.x, event.y, XY_GLIDE_S)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._dragging:                 # the mouse is captured from the press to the release
            w, h = self.pad_size()
            self._send(min(w - 1, max(0, event.x)), min(h - 1, max(0, event.y)), XY_DRAG_GLIDE_S)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._dragging = False
        self._last_cell = None
        self.release_mouse()


class SteerView(Static):
    """The current steering symbol, large; a click picks another (PlayScreen.action_pick_symbol)."""

    def on_click(self, event: events.Click) -> None:
        self.screen.action_pick_symbol()


def _bar(level: float, width: int = 20) -> str:
    n = max(0, min(width, int(round(min(1.0, level) * width))))
    return "█" * n + "·" * (width - n)


class PlayScreen(RoomScreen):
    NAME = "play"
    DEFAULT_CSS = """
    #play-top { height: 12; }
    #play-state-box { width: 3fr; }
    #play-gens-box { width: 2fr; }
    #play-xy-box { width: 26; }
    #play-steer-box { width: 22; }
    #play-steer { height: 1fr; content-align: center middle; text-align: center; }
    #play-xy { height: 1fr; }
    #play-bottom { height: 1fr; min-height: 8; }
    #play-events-box { width: 3fr; }
    #play-log-box { width: 2fr; }
    #play-state { height: 1; }
    #play-levels { height: 4; }
    #play-counters { height: auto; }
    """
    BINDINGS = [
        Binding("p", "toggle_play", "play/stop", priority=True),
        Binding("s", "switch", "switch (crossfade)", priority=True),
        Binding("space", "toggle_play", "play/stop", show=False, priority=True),
        Binding("enter", "switch", "switch (crossfade)", show=False, priority=True),
        Binding("up", "select(-1)", "previous", priority=True),
        Binding("down", "select(1)", "next", priority=True),
        Binding("left_square_bracket", f"mix({-MIX_STEP})", "drier", priority=True),
        Binding("right_square_bracket", f"mix({MIX_STEP})", "wetter", priority=True),
        Binding("minus", f"gain({-GAIN_STEP_DB})", "gain -", priority=True),
        Binding("equals_sign", f"gain({GAIN_STEP_DB})", "gain +", priority=True),
        # the co-performer: the mode is chosen before a play; follow is live in accompaniment
        Binding("m", "mode", "mode", priority=True),
        Binding("comma", f"follow({-FOLLOW_STEP})", "follow -", priority=True),
        Binding("full_stop", f"follow({FOLLOW_STEP})", "follow +", priority=True),
        # the XY pad on the playing generation's terrain (play/xy.py; OSC /rehearsal/xy does the same)
        Binding("shift+left", f"xy({-XY_STEP}, 0)", "pad left", show=False, priority=True),
        Binding("shift+right", f"xy({XY_STEP}, 0)", "pad right", show=False, priority=True),
        Binding("shift+up", f"xy(0, {XY_STEP})", "pad up", show=False, priority=True),
        Binding("shift+down", f"xy(0, {-XY_STEP})", "pad down", show=False, priority=True),
        Binding("ctrl+w", "replay_walk", "replay the last play's XY walk", priority=True),
        # the symbol steering a model steered by symbols (as OSC /rehearsal/symbol, a tag or a score)
        Binding("greater_than_sign", "steer(1)", "next symbol", priority=True),
        Binding("less_than_sign", "steer(-1)", "previous symbol", priority=True),
        Binding("slash", "pick_symbol", "pick the steering symbol", priority=True),
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
        self.xy_glide = XY_GLIDE_S
        self.pad: dict | None = None     # the room's XY pad as last seen (PlayRoom.xy_state)
        self.last_take: int | None = None   # the performer take of the last play here (its walk replays)
        self._own_keys: dict | None = None   # the screen's own key bindings, before the notation took its keys
        self.mode = MODES[0]             # for the next play (the running play keeps its own)
        self.follow = 0.5                # accompaniment: 0 ignores the performer, 1 mirrors them
        self.playing_mode = MODES[0]
        self.symbol: str | None = None   # the steering symbol (chosen here, or applied from any source)
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
                yield Static("generations  ↑↓ · s switch", classes="box-title", id="play-gens-title")
                yield Static(id="play-gens")
            with Vertical(id="play-steer-box", classes="box"):
                yield Static(id="play-steer-title", classes="box-title")
                yield SteerView(id="play-steer")
            with Vertical(id="play-xy-box", classes="box"):
                yield Static("xy pad  click · shift+arrows", classes="box-title", id="play-xy-title")
                yield XYPadView(id="play-xy")
        with Horizontal(id="play-bottom"):
            with Vertical(id="play-events-box", classes="box"):
                yield Static("model events", classes="box-title")
                yield Static(id="play-events")
            with Vertical(id="play-log-box", classes="box"):
                yield TagLogTitle(id="play-taglog-title")
                yield TagLog(id="play-taglog")
        yield Footer()

    def on_mount(self) -> None:
        self.give_the_notation_its_keys()
        self.show_state()
        self.show_steer()
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
        self.show_steer()

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
            self.show_steer()

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
            self.notify(f"start playing first ({self.key_for('toggle_play')})" if ref else "no generation to switch to", severity="warning")
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

    def action_mode(self) -> None:
        if self.playing:
            self.notify(f"this play {self._mode_words(self.playing_mode)}: the mode is chosen before a play "
                        "(stop it with p, press m, play again)", severity="warning")
            return
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self.show_state()

    def action_follow(self, step: float) -> None:
        if self.playing and self.playing_mode != "accompany":
            self.notify(f"follow is a control of accompaniment: this play {self._mode_words(self.playing_mode)}",
                        severity="warning")
            return
        self.follow = round(min(1.0, max(0.0, self.follow + float(step))), 3)
        if self.playing:
            self.send("set_follow", self.follow)
        self.show_state()

    @staticmethod
    def _mode_words(mode: str) -> str:
        return {"transform": "transforms the input", "call-response": "answers in call and response",
                "accompany": "accompanies"}[mode]

    # -- the steering symbol -------------------------------------------------------------------
    def notation_keys(self) -> dict[str, str]:
        """The keys the notation binds, as Textual names them and as written ("<" and
        "less_than_sign"), -> the label of what they tag."""
        from textual.keys import key_to_character

        taken = {}
        for (key, _gesture), target in self.app.notation.key_targets().items():
            label = getattr(target, "label", None) or target.id
            taken[key] = label
            char = key_to_character(key)
            if char:
                taken[char] = label
        return taken

    def give_the_notation_its_keys(self) -> None:
        """A key the notation binds is the notation's here too: it tags, as on Record, and the
        screen's own action on that key (play/stop, switch, steer, mix...) steps aside, leaving
        the footer. Play/stop keeps `space` and switch `enter` where the notation leaves them."""
        from textual.keys import key_to_character

        if self._own_keys is None:
            self._own_keys = dict(self._bindings.key_to_bindings)
        taken = self.notation_keys()
        self._bindings.key_to_bindings = {key: b for key, b in self._own_keys.items()
                                          if key not in taken and key_to_character(key) not in taken}
        self.refresh_bindings()
        self.query_one("#play-gens-title", Static).update(f"generations  ↑↓ · {self.key_for('switch')} switch")

    def key_for(self, action: str) -> str:
        """The first key that does `action` on this screen now (after the notation took its own)."""
        for key, bindings in self._bindings.key_to_bindings.items():
            if any(b.action == action for b in bindings):
                return key
        return "no key"

    def steer_keys_taken(self) -> dict[str, str]:
        """The steer keys the notation binds ("<" -> the label of what it tags): they tag here,
        the other steer keys and a click on the box still steer."""
        taken = self.notation_keys()
        return {char: taken[char] for _, char, _, _ in STEER_KEYS if char in taken}

    def notation_changed(self) -> None:
        super().notation_changed()
        self.give_the_notation_its_keys()
        self.show_steer()

    def symbol_ids(self) -> list[str | None]:
        """The notation's symbols the performer can steer by, "no symbol" (None) first."""
        return [None] + [s.id for s in getattr(self.app.notation, "symbols", ())]

    def action_steer(self, step: int) -> None:
        ids = self.symbol_ids()
        at = ids.index(self.symbol) if self.symbol in ids else 0
        self.steer_to(ids[(at + int(step)) % len(ids)])

    def action_pick_symbol(self) -> None:
        options = [(NO_SYMBOL, "no symbol")]
        for sid in self.symbol_ids()[1:]:
            glyph, _, label = self.app.looks(sid, "")
            options.append((sid, f"{glyph}  {label}"))
        self.app.push_screen(PickScreen("Steer by which symbol?", options),
                             lambda sid: sid is not None and self.steer_to(sid or None))

    def steer_to(self, symbol: str | None) -> None:
        """The steering symbol: sent to the play (PlayRoom.set_symbol), or kept for the next one."""
        self.symbol = symbol
        if self.playing:
            self.send_symbol(symbol)
        self.show_steer()

    @work(name="play-symbol", group="play-control", exclusive=False)
    async def send_symbol(self, symbol: str | None) -> None:
        room = self.room
        if room is not None:
            try:
                await self._call(room.set_symbol, symbol)     # a refusal comes as `symbols-not-taken`
            except Exception as exc:
                self.notify(f"symbol: {exc}", severity="error")

    def steer_refusal(self) -> str | None:
        """Why the generation heard (or chosen, before a play) does not take the symbol, or None."""
        from ...training.family import symbols_refusal

        name = self.heard() if self.playing else self.chosen()
        row = next((g for g in self.generations if g["name"] == name), None)
        if row is None or self.symbol is None:
            return None
        return symbols_refusal(row, self.symbol)

    def show_steer(self) -> None:
        taken = self.steer_keys_taken()
        steering = " ".join(char for _, char, _, _ in STEER_KEYS if char not in taken) or "click"
        self.query_one("#play-steer-title", Static).update(f"steer  {steering}")
        note = Text("".join(f"\n{char} tags {label}" for char, label in taken.items()), style="italic")
        view = self.query_one("#play-steer", SteerView)
        if self.symbol is None:
            view.update(Text.assemble(("·\n\n", "bold"), ("no symbol", "dim"), note))
            view.styles.background = None
            view.styles.color = None
            return
        glyph, colour, label = self.app.looks(self.symbol, "")
        why = self.steer_refusal()
        big = Text(justify="center")
        big.append(f"{glyph}\n\n", style="bold")
        big.append(label.upper(), style="bold")
        if why:      # in full in the events and a warning; here, short
            name = why.split(" ", 1)[0]
            big.append(f"\n\n{name} " + ("never learned it" if "never learned" in why else "takes no symbols"),
                       style="bold italic")
        big.append_text(note)
        view.update(big)
        view.styles.background = colour
        view.styles.color = "black" if _light(colour) else "white"

    def action_xy(self, dx: float, dy: float) -> None:
        x, y = self.xy or (0.5, 0.5)
        self.xy_to(x + float(dx), y + float(dy), XY_GLIDE_S)

    def xy_to(self, x: float, y: float, glide_s: float) -> None:
        """The pad (keys, a click, a drag): glide to (x, y) of the heard generation's terrain."""
        self.xy = (round(min(1.0, max(0.0, x)), 3), round(min(1.0, max(0.0, y)), 3))
        self.xy_glide = glide_s
        if self.playing:
            self.send_xy(*self.xy, glide_s)
        self.show_pad()

    @work(name="play-xy", group="play-xy", exclusive=False)
    async def send_xy(self, x: float, y: float, glide_s: float) -> None:
        room = self.room
        if room is not None:
            try:
                await self._call(room.set_xy, x, y, glide_s)
                self.note(f"xy pad {x:.2f} {y:.2f} (glide {glide_s:.2f} s)")
            except Exception as exc:
                self.notify(f"xy pad: {exc}", severity="error")

    @work(name="play-replay", group="play-xy", exclusive=False)
    async def action_replay_walk(self) -> None:
        room, take = self.room, self.last_take
        if room is None or take is None:
            self.notify("play, walk the XY pad, stop; then play again and ctrl+w walks it again", severity="warning")
            return
        try:
            n = await self._call(room.replay_xy, take)
            self.note(f"replaying the XY walk of take {take}: {n} targets")
        except Exception as exc:
            self.notify(f"replay: {exc}", severity="error")

    # -- workers -------------------------------------------------------------------------------
    def play_config(self):
        from ...play import PlayConfig
        from ..options import demo_take_path

        o = self.app.options
        kw = dict(mix=self.mix, gain=self.gain)
        if self.mode == "accompany":
            kw["coperform"] = {"mode": "accompany", "follow": self.follow}
        elif self.mode == "call-response":
            kw["coperform"] = {"mode": "call-response"}
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
            self.playing_mode = self.mode
            notation = app.notation

            symbol = self.symbol

            def _open():
                from ...play import PlayRoom

                room = PlayRoom(app.ws, app.session_name, notation, config)
                room.listen(self._on_event)
                try:
                    room.open()
                    room.start(ref)
                    if symbol is not None:      # chosen before the play: its first symbol
                        room.set_symbol(symbol)
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
                self.last_take = play["input_take_id"]
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
            elif isinstance(e, Delayed):     # the database is locked: tags wait in the journal
                self.query_one(TagLogTitle).show_delayed(e)
            elif isinstance(e, Rejected):
                self.note(f"not tagged ({e.event.source}): {e.reason}")
            elif isinstance(e, PlayEvent) and e.kind == "symbol-applied":
                self.symbol = e.detail or None     # as heard: from a tag, OSC, a score or this screen
            elif isinstance(e, PlayEvent) and (e.kind in QUIET_EVENTS or (e.kind == "aligned" and not e.detail)):
                continue
            elif isinstance(e, PlayEvent):
                at = f" at {clock(e.frame / sr)}" if e.frame is not None else ""
                who = e.generation or "dry"
                self.note(f"{e.kind}: {who}{at}{'  ' + e.detail if e.detail else ''}")
                if e.kind in FAILURES:
                    after = "  (bypassed: the input is heard dry)" if e.kind == "model-failed" else ""
                    self.notify(f"{e.kind}: {who} {e.detail}{after}", severity="error", timeout=8)
                elif e.kind in ("model-behind", "symbols-not-taken"):   # slower than real time; no symbols
                    self.notify(e.detail, severity="warning", timeout=8)
            elif isinstance(e, InputEnded):
                self.note("the input ended")
        self.show_generations()
        self.show_steer()

    def note(self, line: str) -> None:
        self.events.append(line)
        try:
            self.query_one("#play-events", Static).update("\n".join(self.events))
        except Exception:
            pass

    # -- live tagging: the notation's keys go to the play room's key source -------------------
    def on_key(self, event) -> None:
        keys = self.keys
        # a notation writes "<", Textual names it "less_than_sign" (a learnt key: the name)
        key = next((k for k in (event.key, event.character) if k and keys is not None and keys.bound(k)), None)
        if key is None:
            return
        keys.press(key, getattr(event, "time", None))
        event.stop()
        event.prevent_default()

    # -- drawing -------------------------------------------------------------------------------
    def on_play_tick(self, tick: PlayTick) -> None:
        before = self.heard()
        self.last = tick.status
        room = self.room
        self.pad = room.xy_state() if room is not None else None
        self.show_state()
        if self.heard() != before:
            self.show_generations()
            self.show_steer()

    def show_pad(self) -> None:
        view = self.query_one("#play-xy", XYPadView)
        view.update(draw_pad(self.pad, self.xy, *view.pad_size()))
        title = "xy pad  click · shift+arrows"
        if self.pad is not None:
            at = self.pad.get("current") or self.pad.get("target")
            title = f"xy {self.pad['generation']}" + (f" {at[0]:.2f},{at[1]:.2f}" if at else "") + \
                f" {self.pad['glide_s']:.2f}s"
        elif self.playing:
            title = "xy: no terrain fitted"
        self.query_one("#play-xy-title", Static).update(title)

    def show_state(self) -> None:
        self.redraw_top()
        self.show_pad()
        st = self.last if self.playing else None
        if self.busy and not self.playing:
            state = Text("opening… / closing…", style="dim")
        elif not self.playing:
            state = Text.assemble(("○ not playing  ", "bold"), (f"{self.key_for('toggle_play')} play the chosen generation", "dim"))
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
            (f"\ndry/wet {mix:.2f}  ([ ])   input gain {gain:.2f}  (- =)\n", ""),
            *self._coperformer_text()))
        if st is not None:
            med, p99 = st.model_share
            counters = Text.assemble(
                ("glitches ", "dim"), (str(st.glitches), "bold red" if st.glitches else "bold"),
                ("   model time ", "dim"), (f"{med:.0%} median · {p99:.0%} p99", "bold red" if p99 > 0.8 else "bold"),
                (f" of a {st.block_ms:.1f} ms block", "dim"), ("   tags ", "dim"), (str(self.tags), "bold"))
        else:
            counters = Text("", style="dim")
        self.query_one("#play-counters", Static).update(counters)


    def _coperformer_text(self) -> list[tuple[str, str]]:
        mode = self.playing_mode if self.playing else self.mode
        out = [(f"mode {mode}", "bold" if mode != "transform" else ""), ("  (m)", "dim")]
        if mode == "accompany":
            out += [(f"   follow {self.follow:.2f}", "bold"), ("  (, .)", "dim")]
        return out


register_screen(ScreenSpec(name="play", title="Play", key="f6", factory=PlayScreen, order=60,
                           help="a trained generation answers the performer live; tag how it lands"))
