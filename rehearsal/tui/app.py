"""The rehearsal room in the terminal.

    rehearsal                       the default workspace, the default input (or the demo)
    rehearsal --demo                stream the shipped demo take as if live
    rehearsal --session tuesday --notation jam-reactions --osc-port 9000

The app owns the input (input.py: one owner, state idle/recording/playing, over RoomLink) and the store (StoreLink); screens come from the
registry (screens/registry.py), one Textual mode each. Keys:

- the notation's keys (and learnt pedal keys) are app-level *priority* bindings: a
  focused list never swallows a PageDown from a pedal. They tag on screens with
  LIVE_KEYS (Record); elsewhere they fall through to the screen's own keys. In a text
  field, printable keys type (Textual hands them to the field); pedal keys still tag.
- a press is stamped when the terminal delivered it and goes to the keyboard source,
  which ignores a held key's auto-repeat; the flash shows it at once.
- blocking work happens in named workers on the room or store thread, which post typed
  messages (messages.py); the UI thread never waits for audio or disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding

from ..markers import TagEvent
from ..notation import Notation, NotationError, find_notation, load_notation, shipped_notations
from ..store import Workspace
from . import probe
from .commands import RoomCommands
from .learned import add_key, add_midi, apply_learned, load_learned, remember_key, remember_midi, save_learned
from .input import Input
from .messages import (InputHanded, InputUnavailable, NotationWanted, PlayEnded, PlayRefused, PlayWanted, ReviewWanted,
                       RoomEvents, RoomOpened, SourcesOpened, TakeStarted, TakeStopped, TransportFailed)
from .options import TuiOptions, default_session_name, demo_take_path
from .screens.learn import RESERVED_KEYS, ListenScreen
from .screens.modals import KEY_PEDAL_NOTE, HelpScreen, NoInputScreen, PickScreen
from .screens.registry import screen_bindings, screen_specs, spec_for_key
from .store_link import StoreLink
from .glyphs import shown, terminal_is_limited
from .widgets.palette import describe_keys, describe_midi, key_label

log = logging.getLogger(__name__)

LIVE_ACTION = "live_key"


class RehearsalApp(App):
    CSS_PATH = "tui.tcss"
    TITLE = "rehearsal"
    DEFAULT_MODE = "record"
    COMMANDS = App.COMMANDS | {RoomCommands}
    BINDINGS = [
        Binding("ctrl+r", "record_toggle", "record/stop", priority=True),
        Binding("ctrl+n", "new_take", "new take", priority=True),
        Binding("ctrl+z", "undo", "undo", priority=True),
        Binding("ctrl+y", "redo", "redo", priority=True),
        Binding("ctrl+l", "learn", "learn", priority=True),
        Binding("ctrl+t", "notation", "notation", priority=True),
        Binding("question_mark", "help", "help", priority=True),
        *[Binding(f"f{i}", f"goto('f{i}')", show=False, priority=True) for i in range(1, 10)],
    ]

    def __init__(self, ws: Workspace, options: TuiOptions | None = None, notation: Notation | None = None,
                 *, clock=None, score=None):
        super().__init__()
        _start_resource_tracker()
        self.ws = ws
        self.options = options or TuiOptions()
        self.clock = clock or datetime.now
        self.specs = screen_specs()
        self.views: dict[str, object] = {}
        for spec in self.specs:
            self.add_mode(spec.name, self._view_factory(spec))
        self.input = Input(ws, self.post_message, who=self.options.who)   # the one owner of the input
        self.store = StoreLink(ws)
        if score is None and self.options.score:
            from ..notation.score import load_score

            score = load_score(self.options.score, None, ws.notations_dir)
        self.score = score                      # recording from a score (rehearsal.notation.score)
        self._score_takes: set[int] = set()
        self.score_clock = None                 # where the take is in the score (holds, advances)
        if score is not None:
            from ..scores.follow import ScoreClock

            self.score_clock = ScoreClock(score)
        base = notation or (score.notation if score is not None else None) or \
            load_notation(find_notation(self.options.notation, ws.notations_dir))
        self._notation = self._with_learned(base)
        self.ascii_only = bool(self.options.ascii)
        self.limited = terminal_is_limited() if self.options.ascii is None else False
        self.click = self.options.click
        self.input_problem: str | None = None
        self.session_name = self.options.session or default_session_name(self.clock())
        self._key_time: float | None = None
        self._live_keys: set[str] = set()
        self._transport_busy = False
        self.closing = False
        self.first_frame_at: float | None = None
        self.flashes: list[tuple[str, float, float]] = []   # (glyph, key time, flash time): the bench reads it

    # -- screens -----------------------------------------------------------------------------
    def _view_factory(self, spec):
        def make():
            view = spec.factory()
            self.views[spec.name] = view
            return view
        return make

    def each_view(self, hook: str, *args) -> None:
        for view in list(self.views.values()):
            fn = getattr(view, hook, None)
            if fn is not None and view.is_mounted:
                fn(*args)

    def action_goto(self, key: str) -> None:
        spec = spec_for_key(key)
        if spec is not None:
            self.switch_mode(spec.name)

    # -- the notation ------------------------------------------------------------------------
    @property
    def notation(self) -> Notation:
        return self.link.notation or self._notation

    def _with_learned(self, notation: Notation) -> Notation:
        try:
            return apply_learned(notation, load_learned(self.ws.home, notation))
        except ValueError as exc:
            log.warning("%s", exc)
            return notation

    def looks(self, symbol_id: str, glyph: str, notation: Notation | None = None) -> tuple[str, str, str]:
        """(glyph as drawn, colour, label) for a tag, from its notation when it knows the symbol."""
        s = (notation or self.notation).symbol(symbol_id)
        if s is None:
            return (glyph if not self.ascii_only else symbol_id[:3]), "white", symbol_id
        return shown(s, self.ascii_only, self.limited), s.colour, s.label

    def install_live_keys(self) -> None:
        """The notation's keys as app-level priority bindings (replacing the previous notation's)."""
        bindings = self._bindings.key_to_bindings
        for key in self._live_keys:
            kept = [b for b in bindings.get(key, []) if not b.action.startswith(LIVE_ACTION)]
            if kept:
                bindings[key] = kept
            else:
                bindings.pop(key, None)
        self._live_keys = set()
        for (key, _gesture), _target in self.notation.key_targets().items():
            if key in RESERVED_KEYS or key in self._live_keys:
                continue
            self._bindings.bind(key, f"{LIVE_ACTION}({key!r})", show=False, priority=True)
            self._live_keys.add(key)

    def notation_changed(self) -> None:
        self.install_live_keys()
        self.each_view("notation_changed")

    # -- start-up ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.install_live_keys()
        self.call_after_refresh(self._first_frame)
        if self.score is not None:
            self.call_after_refresh(self.action_score_view)
        if self.options.open_input:
            self.open_input(demo=self.options.demo)

    def _first_frame(self) -> None:
        self.first_frame_at = time.monotonic()
        probe.first_frame()   # the start-up benchmark reads this (and whether torch was imported)

    def recorder_config(self, demo: bool):
        from ..audio import RecorderConfig

        o = self.options
        device = o.device
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        if demo:
            return RecorderConfig(input_file=str(demo_take_path()), loop=True, preroll_s=o.preroll, speed=o.speed)
        if o.input_file:
            return RecorderConfig(input_file=o.input_file, loop=False, preroll_s=o.preroll, speed=o.speed)
        return RecorderConfig(device=device, channels=o.channels, preroll_s=o.preroll)

    @work(name="open-input", group="room", exclusive=True)
    async def open_input(self, demo: bool = False) -> None:
        from ..audio import RecorderError

        o = self.options
        wanted = ("the demo take" if demo else f"the input file {o.input_file}" if o.input_file
                  else f"input device {o.device!r}" if o.device is not None else "the default input device")
        await self.input.renew()
        try:
            info = await self.link.open(self.session_name, self.notation, self.recorder_config(demo), demo=demo)
        except (RecorderError, OSError, ValueError) as exc:
            self.post_message(InputUnavailable(str(exc), wanted))
            return
        self.post_message(RoomOpened(info, self.link.room.recovered))
        lines = await self.link.open_sources(o.midi, o.midi_virtual, o.midi_api, o.osc_port, o.osc_host, o.osc_allow)
        self.post_message(SourcesOpened(lines))

    def on_input_unavailable(self, msg: InputUnavailable) -> None:
        self.input_problem = msg.error
        log.warning("no input: %s", msg.error)
        self.each_view("input_missing")

        def chosen(choice: str | None) -> None:
            if choice == "demo":
                self.action_use_demo()
            elif choice == "quit":
                self.exit()
            else:
                self.notify("No input: review, sessions and export still work. ctrl+p → 'Use the demo input' "
                            "to record from the demo take.", timeout=8)

        self.push_screen(NoInputScreen(msg.error, msg.wanted), chosen)

    def action_use_demo(self) -> None:
        if self.link.recording:
            self.notify("stop the take first (ctrl+r)", severity="warning")
            return
        self.input_problem = None
        self.options.demo = True
        self.open_input(demo=True)

    def on_room_opened(self, msg: RoomOpened) -> None:
        self.input_problem = None
        for take in msg.recovered:
            self.notify(f"recovered take {take['number']} ({take['frames']} frames, {take['status']}) "
                        "left open by a crash: its audio and tags are kept", timeout=10)
        self.install_live_keys()
        self.each_view("room_opened")
        if msg.info.demo:
            self.notify("Demo input: a short musical take streamed as if live. ctrl+r records.", timeout=6)

    def on_sources_opened(self, msg: SourcesOpened) -> None:
        for line in msg.lines:
            if "unavailable" in line:
                log.info("%s", line)

    # -- who holds the input: the Play screen asks, the app hands it over (input.py) -----------
    @property
    def link(self):
        """The recording room's link (read-only: replaced only by `self.input`)."""
        return self.input.link

    async def stop_meters(self) -> None:
        """The record screen's meter poller reads the recorder's shared memory: stop it (and
        wait for it) before the recorder closes."""
        for worker in self.workers.cancel_group(self.views.get("record") or self, "meters"):
            try:
                await asyncio.wait_for(worker.wait(), 5)
            except Exception:
                pass

    def on_play_wanted(self, msg: PlayWanted) -> None:
        msg.stop()
        self.hand_input_to_play(msg)

    @work(name="hand-input", group="input", exclusive=False)
    async def hand_input_to_play(self, msg: PlayWanted) -> None:
        inp = self.input
        if inp.recording:
            msg.reply(PlayRefused("a take is recording: stop it first (ctrl+r), then play"))
            return
        if inp.playing or self.closing:
            msg.reply(PlayRefused("the input is already the play's" if inp.playing else "quitting"))
            return
        inp.reopen_after_play = inp.ready
        inp.play_close = msg.close       # PLAYING from here on
        if inp.ready:
            await self.stop_meters()
            await inp.renew()
        self.each_view("redraw_top")
        msg.reply(InputHanded(msg.ref))

    def on_review_wanted(self, msg: ReviewWanted) -> None:
        msg.stop()
        self.switch_mode("review")
        review = self.views["review"]
        if msg.take_id is not None:
            self.call_after_refresh(review.open_take, msg.take_id)
        elif msg.session_id is not None:
            self.call_after_refresh(review.open_session, msg.session_id)

    def on_play_ended(self, msg: PlayEnded) -> None:
        msg.stop()
        inp = self.input
        inp.play_close = None
        self.each_view("redraw_top")
        if inp.reopen_after_play and not self.closing:
            inp.reopen_after_play = False
            self.open_input(demo=self.options.demo)

    # -- room events (from the bus and recorder threads, via the link's inbox) ------------------
    def on_room_events(self, msg: RoomEvents) -> None:
        from ..room import InputEnded, TakeFailed

        events_ = self.link.drain()
        if not events_:
            return
        from ..markers import ScoreCue

        for e in events_:
            if isinstance(e, ScoreCue):
                self.score_cue(e)
            elif isinstance(e, TakeFailed):
                self.notify(f"recording stopped: {e.error}", severity="error", timeout=15)
                self.post_message(TakeStopped(e.take, reason=e.error))
            elif isinstance(e, InputEnded) and self.link.recording:
                self.notify("the input file ended: the take is stopped", timeout=6)
                self.stop_take()
        self.each_view("room_events", events_)

    # -- transport -----------------------------------------------------------------------------
    def action_record_toggle(self) -> None:
        if self._transport_busy:
            return
        if self.input.playing:   # the input is the play's
            self.notify("playing a model: stop it first (F6, p)", severity="warning")
            return
        if self.link.recording:
            self.stop_take()
        else:
            self.start_take()

    def action_new_take(self) -> None:
        if self._transport_busy:
            return
        self.start_take(new=True)

    @work(name="start-take", group="transport")
    async def start_take(self, new: bool = False) -> None:
        if not self.link.ready:
            self.notify("no input is open", severity="warning")
            return
        self._transport_busy = True
        try:
            if new and self.link.recording:
                self.post_message(TakeStopped(await self.link.stop_take()))
            changed = self.link.next_notation is not None
            take = await self.link.start_take()
            if self.score is not None:
                await self.link.call(self._attach_score, take)
            self.post_message(TakeStarted(take))
            if changed:
                self.call_later(self.notation_changed)
        except Exception as exc:   # RecorderError, a full disk: say it, keep the app
            self.post_message(TransportFailed(f"cannot start a take: {exc}"))
        finally:
            self._transport_busy = False

    @work(name="stop-take", group="transport")
    async def stop_take(self) -> None:
        if not self.link.recording:
            return
        self._transport_busy = True
        try:
            self.post_message(TakeStopped(await self.link.stop_take()))
        except Exception as exc:
            self.post_message(TransportFailed(f"cannot stop the take cleanly: {exc}"))
        finally:
            self._transport_busy = False

    def on_take_started(self, msg: TakeStarted) -> None:
        self.each_view("take_started", msg.take)

    def on_take_stopped(self, msg: TakeStopped) -> None:
        self.each_view("take_stopped", msg.take)
        if msg.take.get("id") in self._score_takes:
            self._score_takes.discard(msg.take["id"])
            self.label_from_score(msg.take, self.score_clock.performed())   # as shown: holds, advances

    # -- recording from a score -------------------------------------------------------------------
    def action_score_view(self) -> None:
        """The Score view over Record (only with --score)."""
        from .screens.score import ScoreScreen

        if self.score is None:
            self.notify("no score: start with --score FILE", severity="warning")
            return
        if not isinstance(self.screen, ScoreScreen):
            self.push_screen(ScoreScreen(self.score))

    def score_seconds(self) -> float | None:
        """Seconds since record was pressed (the take's pre-roll left out): where a take from
        the score is in it. None while nothing records (read without waiting: shared memory)."""
        link = self.input
        room = getattr(link, "room", None)
        take = getattr(room, "take", None) if room is not None else None
        st = link.status() if take is not None else None
        if st is None or not link.ready:
            return None
        sr = link.info.samplerate
        return st.take_frames / sr - (take.get("preroll_frames") or 0) / sr

    def score_cue(self, cue) -> None:
        """A pedal, key or OSC message's score-advance / score-hold (the bus's `ScoreCue`):
        the take's score moves where it was pressed, as in `rehearsal record --score`."""
        from ..scores.follow import no_score_to_cue, pressed_at
        from .screens.score import ScoreScreen

        if self.score is None:
            self.notify(no_score_to_cue(cue), severity="warning", timeout=6)
            return
        t = self.score_seconds()
        if t is None:
            self.notify(f"{cue.action} ({cue.event.source}): no take is recording: ctrl+r records from the score",
                        severity="warning", timeout=6)
            return
        self.score_clock.cue(cue.action, pressed_at(t, cue.event.t))
        for screen in self.screen_stack:
            if isinstance(screen, ScoreScreen):
                screen.redraw()

    def _attach_score(self, take: dict) -> None:
        """On the room thread: the take follows the score from the end of the count-in."""
        from ..scores.label import attach_score

        room = self.link.room
        origin = (take.get("preroll_frames") or 0) + int(round(self.score.count_in_s * take["sample_rate"]))
        attach_score(room.db, take["id"], self.score, origin)
        self._score_takes.add(take["id"])
        from ..scores.follow import ScoreClock

        self.score_clock = ScoreClock(self.score)    # each take follows the score from its start

    @work(thread=True, name="label-from-score", group="score")
    def label_from_score(self, take: dict, performed) -> None:
        """The finished take's markers from its score, aligned to what was played."""
        from ..scores.label import label_take
        from ..store import open_db

        db = open_db(self.ws.db_path)
        try:
            ids = label_take(self.ws, db, take["id"], performed)
            self.call_from_thread(self.notify, f"score {self.score.title!r}: {len(ids)} markers on take "
                                  f"{take.get('number')}, aligned to the performance (Review corrects them)", timeout=8)
        except Exception as exc:   # the take is safe; only its labels are missing
            self.call_from_thread(self.notify, f"could not label take {take.get('number')} from the score: {exc}",
                                  severity="error", timeout=15)
        finally:
            db.conn.close()

    def on_transport_failed(self, msg: TransportFailed) -> None:
        self.notify(msg.error, severity="error", timeout=10)

    # -- keys ------------------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._key_time = event.time     # when the terminal's bytes were read: the tap's time
        await super().on_event(event)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        screen = self.screen
        if getattr(screen, "CAPTURES_KEYS", False) and action != "quit":
            return False
        if action == LIVE_ACTION:
            return self.link.keys is not None and self._live_screen()
        if action == "goto":
            return spec_for_key(parameters[0]) is not None if parameters else False
        return True

    def _live_screen(self) -> bool:
        """Record, or a dialog over it (help): the notation's keys tag there."""
        for screen in reversed(self.screen_stack):
            if getattr(screen, "LIVE_KEYS", False):
                return True
            if not screen.is_modal:
                return False
        return False

    def action_live_key(self, key: str) -> None:
        t = self._key_time if self._key_time is not None else time.monotonic()
        keys = self.link.keys
        repeats = keys.counts["repeats"]
        if not self.link.press(key, t) or keys.counts["repeats"] != repeats:
            return   # unbound, or a held key's auto-repeat: no tag, no flash
        targets = self.notation.key_targets()
        target = targets.get((key, "tap")) or targets.get((key, "double-tap"))
        if target is not None:
            self.show_flash(target, t)

    def tag_target(self, target_id: str, is_action: bool) -> None:
        """A tag (or undo / redo) from the palette or a command: straight onto the bus."""
        if not self.link.ready:
            self.notify("no input is open", severity="warning")
            return
        t = time.monotonic()
        self.link.submit(TagEvent(target=target_id, source="key", t=t, who=self.options.who, action=is_action))
        target = self.notation.symbol(target_id) if not is_action else next(
            (a for a in self.notation.actions if a.id == target_id), None)
        if target is not None or is_action:
            self.show_flash(target, t, action_id=target_id if is_action else None)

    def show_flash(self, target, t: float, action_id: str | None = None) -> None:
        from ..notation import Action

        view = self.views.get("record")
        if isinstance(target, Action) or action_id:
            glyph, label, colour = ("↶" if (action_id or target.id) == "undo" else "↷"), (action_id or target.id), "#888888"
        else:
            glyph, colour, label = self.looks(target.id, target.glyph)
        if view is not None and view.is_mounted:
            view.flash(glyph, label, colour)
        self.flashes.append((glyph, t, time.monotonic()))
        del self.flashes[:-1000]
        if probe.enabled():
            self.call_after_refresh(lambda: probe.write("key", t, time.monotonic()))
        if self.click:
            self.play_click()

    @work(name="click", group="click", thread=True, exclusive=True, exit_on_error=False)
    def play_click(self) -> None:
        from .playback import PlaybackError, click, default_output

        try:
            click(default_output())
        except PlaybackError as exc:
            self.click = False
            self.call_from_thread(self.notify, f"click sound off: {exc}", severity="warning")

    def action_undo(self) -> None:
        fn = getattr(self.screen, "undo", None)
        if fn is not None:
            fn()

    def action_redo(self) -> None:
        fn = getattr(self.screen, "redo", None)
        if fn is not None:
            fn()

    def action_toggle_ascii(self) -> None:
        self.ascii_only = not self.ascii_only
        self.notation_changed()
        self.notify("glyphs: ASCII" if self.ascii_only else "glyphs: as the notation draws them")

    def action_toggle_click(self) -> None:
        self.click = not self.click
        self.notify("click on each tap: on" if self.click else "click on each tap: off")

    # -- notation switching and learn ------------------------------------------------------------
    def notation_choices(self) -> dict[str, Path]:
        paths = dict(shipped_notations())
        if self.ws.notations_dir.is_dir():
            paths.update({p.stem: p for p in sorted(self.ws.notations_dir.glob("*.toml"))})
        return paths

    def action_notation(self) -> None:
        choices = self.notation_choices()
        note = ("recording: the new notation applies from the next take" if self.link.recording
                else "applies now: palette, keys, MIDI and OSC")
        options = [(stem, f"{stem}  ({path.name})") for stem, path in sorted(choices.items())]
        self.push_screen(PickScreen("Notation for the next take", options, note),
                         lambda stem: stem and self.switch_notation(choices[stem]))

    @work(name="load-notation", group="notation", exclusive=True)
    async def switch_notation(self, path: Path) -> None:
        try:
            notation = self._with_learned(load_notation(path))
        except NotationError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        if not self.link.ready:
            self._notation = notation
            self.notation_changed()
            return
        now = await self.link.set_notation(notation)
        self._notation = notation
        if now:
            self.notation_changed()
            self.notify(f"notation: {notation.name}")
        else:
            self.each_view("notation_changed")
            self.notify(f"notation {notation.name!r} will be used from the next take")

    def on_notation_wanted(self, msg: NotationWanted) -> None:
        msg.stop()
        self.switch_notation(Path(msg.path))

    def action_learn(self) -> None:
        n = self.notation
        options = [(s.id, f"{self.looks(s.id, s.glyph)[0]}  {s.label}   [{describe_keys(s)} · {describe_midi(s)}]")
                   for s in n.symbols]
        options += [(a.id, f"{a.id}   [{describe_keys(a)} · {describe_midi(a)}]") for a in n.actions]
        self.push_screen(PickScreen("Learn: which symbol?", options, KEY_PEDAL_NOTE), self._learn_gesture)

    def _learn_gesture(self, target_id: str | None) -> None:
        if not target_id:
            return
        gestures = [("tap", "tap"), ("double-tap", "double-tap"),
                    ("long-press", "long-press (MIDI pedals only: a terminal never reports a key's release)")]
        self.push_screen(PickScreen("Learn: which gesture?", gestures),
                         lambda g: g and self._learn_listen(target_id, g))

    def _learn_listen(self, target_id: str, gesture: str) -> None:
        self.push_screen(ListenScreen(target_id, gesture), lambda got: got and self.learnt(target_id, got))

    def learnt(self, target_id: str, got: tuple) -> None:
        """Bind what arrived, save it beside the notation, rebind every source at once."""
        n = self.notation
        data = load_learned(self.ws.home, n)
        try:
            if got[0] == "key":
                key, gesture = got[1], got[2]
                new = add_key(n, target_id, key, gesture)
                data = remember_key(data, target_id, key, gesture)
                what = f"key {key_label(key)}"
            else:
                binding, port = got[1], got[2]
                new = add_midi(n, target_id, binding)
                data = remember_midi(data, target_id, binding)
                what = f"{binding.describe()} (from {port})"
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        save_learned(self.ws.home, n, data)
        self._notation = new
        self.link.rebind(new)
        self.notation_changed()
        self.notify(f"learnt: {what} → {target_id}")

    # -- help ------------------------------------------------------------------------------------
    def action_help(self) -> None:
        n = self.notation
        screens = [(spec.key.upper(), f"{spec.title}: {spec.help}") for spec in self.specs]
        app_keys = [("ctrl+r", "record / stop (a take starts with its pre-roll)"),
                    ("ctrl+n", "new take (stop and start again at once)"),
                    ("ctrl+z / ctrl+y", "undo / redo: the last tag (Record), the last edit (Review)"),
                    ("ctrl+t", "switch notation (for the next take while recording)"),
                    ("ctrl+l", "learn: bind a pedal (MIDI or key) to a symbol"),
                    ("ctrl+p", "command palette: every command by name"),
                    ("?", "this help"), ("ctrl+q", "quit (the take is finished and kept)")]
        tags = []
        for s in n.symbols:
            glyph = self.looks(s.id, s.glyph)[0]
            tags.append((describe_keys(s), f"{glyph} {s.label}   MIDI {describe_midi(s)}   OSC {', '.join(s.osc) or '-'}"))
        for a in n.actions:
            tags.append((describe_keys(a), f"{a.id}   MIDI {describe_midi(a)}   OSC {', '.join(a.osc) or '-'}"))
        tags.append(("OSC", "/rehearsal/tag <symbol> [who] · /rehearsal/undo [who] · /rehearsal/redo [who]"))
        sections = [("Screens", screens), ("Everywhere", app_keys), (f"Tags: {n.name} (on Record)", tags)]
        for spec in self.specs:   # every screen's own keys, visited yet or not
            rows = [(b.key_display or key_label(b.key), b.description) for b in screen_bindings(spec)]
            if rows:
                sections.append((f"On {spec.title}", rows))
        notes = [KEY_PEDAL_NOTE,
                 "Held keys: a terminal repeats a held key; the repeats never make extra tags.",
                 "The notation's keys tag on the Record screen even when a list has the focus; "
                 "in a text field letters type, pedal keys (PageDown...) still tag."]
        self.push_screen(HelpScreen(sections, notes))

    # -- quitting --------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit()

    async def shutdown(self) -> None:
        """Finish the take, close the sources and the input. Also safe to call twice."""
        if self.closing:
            return
        self.closing = True
        await self.stop_meters()
        if self.input.play_close is not None:   # the Play screen's PlayRoom, if playing
            try:
                await self.input.play_close()
            except Exception:
                log.exception("closing the play")
        for view in self.views.values():
            self.workers.cancel_node(view)
        try:
            await self.input.close()
        except Exception:
            log.exception("closing the room")
        self.store.close()


def _start_resource_tracker() -> None:
    """The recorder's shared memory registers with multiprocessing's resource tracker, which
    is a process started on first use, passing it sys.stderr's descriptor. Inside a
    running Textual app sys.stderr is Textual's capture object (no descriptor), and the
    start fails ("bad value(s) in fds_to_keep"): so start it now, before the app runs."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:   # pragma: no cover - the recorder reports its own errors
        log.exception("starting multiprocessing's resource tracker")


def configure_logging(ws: Workspace) -> Path:
    """Warnings go to <home>/logs/tui.log: the terminal belongs to the app."""
    folder = ws.folder("logs")
    path = folder / "tui.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


class _StderrToLog:
    """C libraries (JACK, PortAudio, ALSA) write straight to file descriptor 2, over the
    screen. Textual draws on sys.__stderr__; so the terminal gets a private duplicate of
    fd 2 for drawing, and fd 2 itself (inherited by the capture process) goes to the log."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.saved = None

    def __enter__(self):
        if not os.isatty(2):
            return self
        self.saved = os.dup(2)
        self.terminal = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
        self.old = sys.__stderr__
        sys.__stderr__ = self.terminal
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            return
        os.dup2(self.saved, 2)
        os.close(self.saved)
        sys.__stderr__ = self.old
        self.terminal.close()


def run(home: str | None = None, options: TuiOptions | None = None) -> None:
    ws = Workspace.at(home)
    options = options or TuiOptions()
    score = None
    if options.score:
        from ..notation.score import load_score

        score = load_score(options.score, None, ws.notations_dir)   # a ScoreError says file:line:column
        notation = score.notation
    else:
        notation = load_notation(find_notation(options.notation, ws.notations_dir))
    log_path = configure_logging(ws)
    with _StderrToLog(log_path):
        app = RehearsalApp(ws, options, notation, score=score)
        try:
            app.run()
        finally:
            if app.link.ready:      # killed mid-take by an exception: still finish the take
                app.link.close_blocking()
