"""Record: transport, meters, the notation palette, the live time line, the tag log, sources.

Everything here is drawn from messages: `RecorderTick` (a thread worker reads the
recorder's shared-memory status 30 times a second; ticks coalesce), bus events drained
by the app, and the flash the app triggers on a key press. Nothing on this screen waits
for the disk or the capture process.
"""

from __future__ import annotations

import threading
import time

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ...markers import Committed, Delayed, Redone, Rejected, Undone
from .. import probe
from ..messages import RecorderTick
from ..moments import clock
from ..widgets import Flash, Mark, Meters, Palette, SourcesStatus, TagLog, TagLogTitle, Timeline
from .base import RoomScreen
from .learn import RESERVED_KEYS
from .registry import ScreenSpec, register_screen

METER_HZ = 30


class RecordScreen(RoomScreen):
    NAME = "record"
    LIVE_KEYS = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.marks_by_take: dict[int, dict[int, Mark]] = {}
        self.shown_take: int | None = None
        self.sample_rate = 48_000
        self.ticks = 0
        self.rejected = 0
        self.last_tick: RecorderTick | None = None
        self._shown_text: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="record-top"):
            with Vertical(id="transport", classes="box"):
                yield Static(id="rec-state")
                yield Static(id="preroll")
                yield Flash(id="flash")
            with Vertical(id="input", classes="box"):
                yield Static(id="device")
                yield Meters(id="meters")
                yield Static(id="counters")
        yield Timeline(id="live-timeline")
        with Horizontal(id="record-bottom"):
            with Vertical(id="palette-box", classes="box"):
                yield Static(id="palette-title", classes="box-title")
                yield Palette(id="palette")
            with Vertical(id="log-box", classes="box"):
                yield TagLogTitle(id="taglog-title")
                yield TagLog(id="taglog")
        yield SourcesStatus(id="sources", classes="box")
        yield Static(id="rejected")
        yield Footer()

    def on_mount(self) -> None:
        self.show_palette()
        self.show_state(None)
        self.query_one(SourcesStatus).update_from(self.app.input)
        self.set_interval(0.25, self.refresh_sources, name="sources-status")
        if self.app.input.ready:
            self.room_opened()

    # -- hooks from the app --------------------------------------------------------------
    def room_opened(self) -> None:
        super().room_opened()
        info = self.app.input.info
        self.sample_rate = info.samplerate
        what = "demo take (streamed as if live, looping)" if info.demo else info.device
        self.query_one("#device", Static).update(Text.assemble(
            ("input  ", "bold"), what, (f"\n       {info.samplerate} Hz · {info.channels} ch", "dim")))
        self.poll_meters()

    def input_missing(self) -> None:
        super().input_missing()
        self.show_state(None)

    def take_started(self, take: dict) -> None:
        super().take_started(take)
        self.shown_take = take["id"]
        tl = self.query_one(Timeline)
        tl.set_take(0, take["sample_rate"], preroll=take.get("preroll_frames") or 0, live=True)
        tl.set_marks(self.marks_by_take.get(take["id"], {}))

    def take_stopped(self, take: dict) -> None:
        super().take_stopped(take)
        tl = self.query_one(Timeline)
        tl.live = False
        tl.set_length(take.get("frames") or tl.length)
        self.show_state(self.last_tick)

    def notation_changed(self) -> None:
        super().notation_changed()
        self.show_palette()

    def room_events(self, events: list) -> None:
        log = self.query_one(TagLog)
        timeline = self.query_one(Timeline)
        for e in events:
            if isinstance(e, Committed) or isinstance(e, (Undone, Redone)):
                m = e.marker
                glyph, colour, label = self.app.looks(m.symbol, m.glyph)
                sr = self.app.input.room.recorder.samplerate if self.app.input.ready else self.sample_rate
                marks = self.marks_by_take.setdefault(m.take_id, {})
                if m.deleted_at is None:
                    marks[m.id] = Mark(m.tap_sample, m.start_sample, m.end_sample, glyph, colour)
                    if m.take_id == self.shown_take:
                        timeline.put(m.id, marks[m.id])
                else:
                    marks.pop(m.id, None)
                    if m.take_id == self.shown_take:
                        timeline.remove(m.id)
                if isinstance(e, Committed):
                    log.add(m, sr, glyph, colour, label)
                    if probe.enabled() and m.source == "key":   # drawn: after the next refresh
                        self.call_after_refresh(lambda mid=m.id: probe.write("shown", mid, "key", time.monotonic()))
                else:
                    log.mark(m, glyph, colour, label)
            elif isinstance(e, Delayed):     # the database is locked: tags wait in the journal
                self.query_one(TagLogTitle).show_delayed(e)
            elif isinstance(e, Rejected):
                self.rejected += 1
                self.query_one("#rejected", Static).update(
                    Text(f"not tagged ({e.event.source}): {e.reason}  [{self.rejected} so far]", style="yellow"))

    @property
    def delayed(self) -> bool:
        """Tags wait in the bus's journal (the database is locked)."""
        return self.query_one(TagLogTitle).delayed

    # -- drawing -----------------------------------------------------------------------------
    def _set(self, selector: str, content) -> None:
        """Update a fixed-size Static only when its text changed, without a relayout:
        at 30 readings a second, redrawing what did not change is most of the cost."""
        key = content.markup if isinstance(content, Text) else str(content)
        if self._shown_text.get(selector) == key:
            return
        self._shown_text[selector] = key
        self.query_one(selector, Static).update(content, layout=False)

    def show_palette(self) -> None:
        app = self.app
        notation = app.notation
        if notation is None:
            return
        self.query_one(Palette).show(notation, app.ascii_only, app.limited)
        title = Text.assemble(("notation  ", "bold"), notation.name)
        nxt = app.input.next_notation
        if nxt is not None:
            title.append(f"   next take: {nxt.name}", style="bold yellow")
        self.query_one("#palette-title", Static).update(title)

    def refresh_sources(self) -> None:
        self.query_one(SourcesStatus).update_from(self.app.input)

    def show_state(self, tick: RecorderTick | None) -> None:
        link = self.app.input   # the room interface (input.py)
        if not link.ready:
            problem = self.app.input_problem or (None if self.app.options.open_input else "not opened")
            self._set("#rec-state", Text(f"no input: {problem}" if problem else "opening the input…",
                                         style="yellow" if problem else "dim"))
            self._set("#preroll", "")
            return
        take = link.room.take
        sr = link.info.samplerate
        if take is not None:
            seconds = (tick.take_frames if tick else 0) / sr
            self._set("#rec-state", Text.assemble(("● REC ", "bold red"), (f"take {take['number']}  ", "bold"),
                                                  (clock(seconds), "bold"), ("   ctrl+r stop · ctrl+n new take", "dim")))
            self._set("#preroll", Text(f"started with {(take.get('preroll_frames') or 0) / sr:.1f} s of pre-roll "
                                       "(┄ on the time line)", style="dim"))
        else:
            kept = link.preroll_frames_available(tick.frames if tick else 0) / sr
            self._set("#rec-state", Text.assemble(("○ stopped  ", "bold"), ("ctrl+r record", "dim")))
            self._set("#preroll", Text(f"pre-roll: {kept:.1f} s of sound kept; a tap now lands in the next take "
                                       f"(up to {link.info.preroll_s:.0f} s back)", style="cyan"))

    def on_recorder_tick(self, tick: RecorderTick) -> None:
        self.ticks += 1
        if probe.enabled() and self.ticks % METER_HZ == 0:
            probe.write("ticks", self.ticks, time.monotonic(), tick.overflows, int(tick.recording))
        self.last_tick = tick
        self.query_one(Meters).set_levels(tick.levels)
        self._set("#counters", Text.assemble(
            ("overflows ", "dim"), (str(tick.overflows), "bold red" if tick.overflows else "bold"),
            ("   lost frames ", "dim"), (str(tick.lost), "bold red" if tick.lost else "bold")))
        self.show_state(tick)
        if tick.recording:
            self.query_one(Timeline).set_length(tick.take_frames)
            self.redraw_top(tick.take_frames / tick.samplerate)

    def flash(self, glyph: str, label: str, colour: str) -> None:
        self.query_one(Flash).flash(glyph, label, colour)

    def on_key(self, event: events.Key) -> None:
        """A key the notation does not bind (a page-turner's button not learnt yet) counts as
        unbound in the Sources panel, even when the focused list also scrolls with it. The
        notation's keys never get here (app priority bindings); the app's own keys and this
        screen's are not counted."""
        active = self.active_bindings.get(event.key)
        if event.key in RESERVED_KEYS or (active is not None and active.node in (self.app, self)):
            return
        self.app.input.press(event.key)

    def on_palette_chosen(self, event: Palette.Chosen) -> None:
        self.app.tag_target(event.target_id, event.is_action)

    # -- undo / redo of the last tag (app keys ctrl+z / ctrl+y land here) ----------------------
    def undo(self) -> None:
        self.app.tag_target("undo", True)

    def redo(self) -> None:
        self.app.tag_target("redo", True)

    # -- the meter poller --------------------------------------------------------------------
    @work(thread=True, name="meter-poller", group="meters", exclusive=True)
    def poll_meters(self) -> None:
        """Reads shared memory only; posts a coalescing tick 30 times a second."""
        worker = get_current_worker()
        link = self.app.input   # the room interface (input.py)
        pause = threading.Event()
        while not worker.is_cancelled:
            st = link.status()
            if st is not None:
                self.post_message(RecorderTick(st.frames, st.overflows, st.levels, st.recording, st.take_frames,
                                               st.lost, link.info.samplerate))
            pause.wait(1 / METER_HZ)   # the meter rate, not a synchronisation


register_screen(ScreenSpec(name="record", title="Record", key="f1", factory=RecordScreen, order=10,
                           help="record takes and tag them live"))
