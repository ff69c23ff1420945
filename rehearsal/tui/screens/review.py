"""Review: the moments of a take (or a whole session) as a list and on the time line.

Filter by symbol, person, device; sort by time or by agreement; play a moment's region
through the output device; next / previous; re-tag, nudge, trim, note, delete; undo and
redo every edit. Each edit is one committed transaction on the store thread the moment it
is made, so closing (or killing) the app loses nothing. Tags arriving live (MIDI, OSC,
the Record screen) show up here too.

What curation will do with each moment is shown beside it, from the `good-takes` pipeline
(the workspace's `<home>/pipelines/good-takes.toml` if there is one; rehearsal.curation.review):
the region curation will use ("curation" column, the time line, the detail; `e` trims that
region and a trimmed region is never recomputed), and where people disagree (`≠` in the
agree column, the agreement step's reason in the detail; `x` goes to the next one). They are
computed on a thread of their own (its own database connection) after each load made while
Review is on screen.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Select, Static

from ...markers import Committed, Redone, Undone
from .. import store_link as S
from ..messages import (MomentChanged, MomentsLoaded, PlaybackFailed, PlaybackFinished, PlaybackPosition,
                        PlaybackStarted, StoreFailed)
from ..moments import Filter, Moment, clock, select
from ..widgets import Mark, Timeline
from ..widgets.taglog import device_label
from .base import RoomScreen
from .modals import PickScreen, RegionPrompt, TextPrompt
from .registry import ScreenSpec, register_screen

NUDGE_S = 0.1
NUDGE_BIG_S = 1.0
REVIEW_PIPELINE = "good-takes"


class CurationSeen(Message):
    """What curation will use for the session's moments (or why it cannot say)."""

    def __init__(self, session: str, view, error: str | None):
        super().__init__()
        self.session, self.view, self.error = session, view, error


def curation_view(ws, session: str):
    """On a worker thread, with its own connection: regions and disputes of `session`."""
    from ...curation.review import review
    from ...store import open_db

    db = open_db(ws.db_path)
    try:
        return review(ws, db, session, REVIEW_PIPELINE)
    finally:
        db.conn.close()


class ReviewScreen(RoomScreen):
    NAME = "review"
    BINDINGS = [
        Binding("space", "play", "play"),
        Binding("escape", "stop_playback", "stop", show=False),
        Binding("n", "step(1)", "next"),
        Binding("p", "step(-1)", "previous"),
        Binding("t", "retag", "re-tag"),
        Binding("comma", "nudge(-0.1)", "nudge -0.1 s", key_display=","),
        Binding("full_stop", "nudge(0.1)", "nudge +0.1 s", key_display="."),
        Binding("less_than_sign", "nudge(-1.0)", "nudge -1 s", show=False, key_display="<"),
        Binding("greater_than_sign", "nudge(1.0)", "nudge +1 s", show=False, key_display=">"),
        Binding("e", "trim", "trim"),
        Binding("m", "note", "note"),
        Binding("d,delete", "delete", "delete"),
        Binding("x", "next_dispute", "next disagreement"),
        Binding("s", "toggle_sort", "sort"),
        Binding("a", "toggle_scope", "take/session"),
        Binding("left_square_bracket", "other_take(-1)", "previous take", show=False, key_display="["),
        Binding("right_square_bracket", "other_take(1)", "next take", show=False, key_display="]"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scope: dict = {}
        self.moments: list[Moment] = []
        self.shown: list[Moment] = []
        self.takes: list[dict] = []
        self.filter = Filter()
        self.sort = "time"
        self.session_scope = False
        self.selected: int | None = None
        self.player = None
        self.playing: int | None = None
        self.played: list[tuple[int, int]] = []    # (marker id, frames) of finished playbacks
        self.last_verb = ""
        self._reload_timer = None
        self.seen = None                           # rehearsal.curation.review.ReviewView, or None
        self.seen_note = ""                        # why there is none (no descriptors yet, an error)

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        yield Static(id="review-scope")
        with Horizontal(id="filters"):
            yield Select([], prompt="every symbol", id="f-symbol")
            yield Select([], prompt="everyone", id="f-who")
            yield Select([], prompt="every device", id="f-source")
            yield Select([("by time", "time"), ("by agreement", "agreement")], value="time", allow_blank=False,
                         id="f-sort")
        yield Timeline(id="review-timeline", min_span_s=10.0)
        yield DataTable(id="moments", cursor_type="row", zebra_stripes=True)
        yield Static(id="moment-detail", classes="box")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#moments", DataTable)
        table.add_columns("take", "at", "", "tag", "who", "device", "agree", "region", "curation", "note")
        table.focus()
        self.open_latest()

    # -- loading ------------------------------------------------------------------------------
    def open_take(self, take_id: int) -> None:
        self.session_scope = False
        self.load(take_id=take_id)

    def open_session(self, session_id: int) -> None:
        self.session_scope = True
        self.load(session_id=session_id)

    @work(name="latest-take", group="review-load", exclusive=True)
    async def open_latest(self) -> None:
        link = self.app.input   # the room interface (input.py)
        sid = link.room.session_id if link.ready else await self.app.store.call(S.session_id_named,
                                                                                  self.app.session_name)
        take = await self.app.store.call(S.latest_take, sid) or await self.app.store.call(S.latest_take)
        if take is None:
            self.query_one("#review-scope", Static).update(Text("no takes yet: record one on the Record screen (F1)",
                                                                style="dim"))
            return
        self.load(take_id=take["id"])

    @work(name="load-moments", group="review-load", exclusive=True)
    async def load(self, take_id: int | None = None, session_id: int | None = None) -> None:
        try:
            scope, moments, takes = await self.app.store.call(S.load_moments, take_id=take_id, session_id=session_id)
        except Exception as exc:
            self.post_message(StoreFailed("load the moments", str(exc)))
            return
        self.post_message(MomentsLoaded(scope, moments, takes))

    def reload(self) -> None:
        if self.scope.get("take_id") is not None and not self.session_scope:
            self.load(take_id=self.scope["take_id"])
        elif self.scope.get("session_id") is not None:
            self.load(session_id=self.scope["session_id"])
        else:
            self.open_latest()

    def on_moments_loaded(self, msg: MomentsLoaded) -> None:
        self.scope, self.moments, self.takes = msg.scope, msg.moments, msg.takes
        self._fill_filters()
        self.show()
        # only while Review is on screen: no analysis competing with a take being recorded
        # elsewhere (on_screen_resume loads again when it comes back)
        if self.moments and self.scope.get("session") and self.is_current:
            self.see_curation(self.scope["session"])

    @work(name="review-curation", group="review-curation", exclusive=True, thread=True)
    def see_curation(self, session: str) -> None:
        try:
            view, error = curation_view(self.app.ws, session), None
        except Exception as exc:       # a broken pipeline file, no finished take: say it, keep reviewing
            view, error = None, str(exc)
        if view is not None and view.unreadable:
            error = (f"take {', '.join(map(str, view.unreadable))}: the audio file is missing or unreadable, "
                     "so curation leaves it out")
        self.post_message(CurationSeen(session, view, error))

    def on_curation_seen(self, msg: CurationSeen) -> None:
        if msg.session != self.scope.get("session"):
            return
        self.seen, self.seen_note = msg.view, msg.error or ""
        self.show()

    def curated(self, mo: Moment) -> tuple[int, int] | None:
        return self.seen.regions.get(mo.id) if self.seen else None

    def dispute(self, mo: Moment) -> str | None:
        return self.seen.disputes.get(mo.id) if self.seen else None

    def _fill_filters(self) -> None:
        def options(values):
            return [(v, v) for v in sorted(values)]

        for sel_id, values in (("#f-symbol", {m.marker.symbol for m in self.moments}),
                               ("#f-who", {m.marker.who for m in self.moments}),
                               ("#f-source", {m.marker.source for m in self.moments})):
            sel = self.query_one(sel_id, Select)
            current = sel.value
            with sel.prevent(Select.Changed):
                sel.set_options(options(values))
                if current is not Select.NULL and current in values:
                    sel.value = current

    def on_select_changed(self, event: Select.Changed) -> None:
        def val(sel_id):
            v = self.query_one(sel_id, Select).value
            return None if v is Select.NULL else v

        self.filter = Filter(symbol=val("#f-symbol"), who=val("#f-who"), source=val("#f-source"))
        self.sort = val("#f-sort") or "time"
        self.show()

    # -- drawing --------------------------------------------------------------------------------
    def looks(self, m: Moment) -> tuple[str, str, str]:
        notation = self.scope.get("notations", {}).get(m.take["id"])
        return self.app.looks(m.marker.symbol, m.marker.glyph, notation)

    def show(self) -> None:
        self.shown = select(self.moments, self.filter, self.sort)
        table = self.query_one("#moments", DataTable)
        with table.prevent(DataTable.RowHighlighted):   # rebuilding moves the cursor; the selection stays
            table.clear()
            for mo in self.shown:
                mk = mo.marker
                glyph, colour, label = self.looks(mo)
                region = self.curated(mo)
                shown = "" if region is None else (
                    "= trimmed" if mo.id in self.seen.corrected else
                    f"{clock(region[0] / mo.sample_rate)}–{clock(region[1] / mo.sample_rate)}")
                agree = Text(str(mo.agreement)) + (Text(" ≠", style="bold red") if self.dispute(mo) else Text(""))
                table.add_row(
                    str(mo.take["number"]), clock(mo.tap_s), Text(glyph, style=f"bold {colour}"),
                    Text(label, style=colour), mk.who, device_label(mk.source), agree,
                    f"{clock(mo.start_s)}–{clock(mo.end_s)}", shown, mk.note or "", key=str(mk.id))
            if self.selected is not None and any(m.id == self.selected for m in self.shown):
                table.move_cursor(row=self.row_of(self.selected), animate=False)
            elif self.shown:
                self.selected = self.shown[0].id
                table.move_cursor(row=0, animate=False)
            else:
                self.selected = None
        scope = self.scope
        take_label = ""
        if scope.get("take_id") is not None and not self.session_scope:
            take = next((t for t in self.takes if t["id"] == scope["take_id"]), None)
            take_label = f"take {take['number']}" if take else ""
        what = f"session {scope.get('session', '?')!r}" + (f", {take_label}" if take_label else ", every take")
        self.query_one("#review-scope", Static).update(Text.assemble(
            (what, "bold"), f"   {len(self.shown)} of {len(self.moments)} moments · sorted by {self.sort}",
            ("   a: take/session · [ ]: other take · s: sort · x: next disagreement", "dim")))
        self.show_timeline()
        self.show_detail()

    def row_of(self, marker_id: int) -> int:
        return next(i for i, m in enumerate(self.shown) if m.id == marker_id)

    def current(self) -> Moment | None:
        return next((m for m in self.shown if m.id == self.selected), None)

    def show_timeline(self) -> None:
        tl = self.query_one("#review-timeline", Timeline)
        mo = self.current()
        take = mo.take if mo else (self.takes[0] if self.takes and self.scope.get("take_id") is None else
                                   next((t for t in self.takes if t["id"] == self.scope.get("take_id")), None))
        if take is None:
            tl.clear()
            return
        tl.set_take(take["frames"] or 0, take["sample_rate"], preroll=take.get("preroll_frames") or 0)
        marks = {}
        for m in self.moments:
            if m.take["id"] == take["id"] and self.filter.keep(m):
                glyph, colour, _ = self.looks(m)
                start, end = self.curated(m) or (m.marker.start_sample, m.marker.end_sample)
                marks[m.id] = Mark(m.marker.tap_sample, start, end, glyph, colour)
        tl.set_marks(marks)
        tl.select(self.selected)

    def show_detail(self, extra: str = "") -> None:
        mo = self.current()
        detail = self.query_one("#moment-detail", Static)
        if mo is None:
            detail.update(Text("no moment selected", style="dim"))
            return
        mk = mo.marker
        glyph, colour, label = self.looks(mo)
        text = Text.assemble(
            (f"{glyph} {label}", f"bold {colour}"), f"  take {mo.take['number']} at {clock(mo.tap_s)}",
            f"  region {clock(mo.start_s)}–{clock(mo.end_s)} ({mo.end_s - mo.start_s:.1f} s)",
            f"  by {mk.who} ({device_label(mk.source)}, {mk.gesture})  agreement {mo.agreement}")
        region = self.curated(mo)
        if region is not None and mo.id in self.seen.corrected:
            text.append(f"\ncuration ({self.seen.pipeline}) keeps this region: trimmed by hand, never recomputed")
        elif region is not None:
            text.append(f"\ncuration ({self.seen.pipeline}) uses {clock(region[0] / mo.sample_rate)}–"
                        f"{clock(region[1] / mo.sample_rate)} ({(region[1] - region[0]) / mo.sample_rate:.1f} s)"
                        " · e trims it")
        elif self.seen_note:
            text.append(f"\ncuration cannot say: {self.seen_note}", style="dim")
        if region is not None and self.seen_note:
            text.append(f"\n{self.seen_note}", style="dim")
        if self.dispute(mo):
            text.append(f"\npeople disagree: {self.dispute(mo)}", style="bold red")
        if mk.note:
            text.append(f"\nnote: {mk.note}", style="italic")
        line = extra or self.last_verb
        if line:
            text.append(f"\n{line}", style="cyan")
        detail.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # the table's cursor, not the event's row: an event queued while the table was being
        # rebuilt can arrive after the cursor has moved on
        table = event.data_table
        if table.row_count == 0:
            return
        selected = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if selected == self.selected:
            return
        self.selected = selected
        self.query_one("#review-timeline", Timeline).select(self.selected)
        self.show_timeline()
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_play()

    # -- live tags ------------------------------------------------------------------------------
    def room_events(self, events: list) -> None:
        take_ids = {t["id"] for t in self.takes}
        if self.scope.get("take_id") is not None and not self.session_scope:
            take_ids = {self.scope["take_id"]}
        if any(isinstance(e, (Committed, Undone, Redone)) and e.marker.take_id in take_ids for e in events):
            if self._reload_timer is None:   # a flood of tags reloads a few times a second, not per tag
                self._reload_timer = self.set_timer(0.3, self._live_reload)

    def _live_reload(self) -> None:
        self._reload_timer = None
        self.reload()

    def take_stopped(self, take: dict) -> None:
        super().take_stopped(take)
        if take.get("id") in {t["id"] for t in self.takes} or not self.takes:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.scope:
            self.reload()

    # -- navigation ------------------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        if not self.shown:
            return
        row = self.row_of(self.selected) if self.selected is not None else -1
        row = max(0, min(len(self.shown) - 1, row + delta))
        self.query_one("#moments", DataTable).move_cursor(row=row)

    def action_next_dispute(self) -> None:
        """The next moment (after the selected one, wrapping) where people's tags conflict."""
        if not self.shown:
            return
        row = self.row_of(self.selected) if self.selected is not None else -1
        order = self.shown[row + 1:] + self.shown[:row + 1]
        nxt = next((m for m in order if self.dispute(m)), None)
        if nxt is None:
            self.show_detail("nobody disagrees here" if self.seen else "curation has not looked yet")
            return
        self.query_one("#moments", DataTable).move_cursor(row=self.row_of(nxt.id))

    def action_toggle_sort(self) -> None:
        sel = self.query_one("#f-sort", Select)
        sel.value = "agreement" if self.sort == "time" else "time"

    def action_toggle_scope(self) -> None:
        mo = self.current()
        if self.session_scope:
            take_id = mo.take["id"] if mo else (self.takes[-1]["id"] if self.takes else None)
            if take_id is not None:
                self.open_take(take_id)
        elif self.scope.get("session_id") is not None:
            self.open_session(self.scope["session_id"])

    def action_other_take(self, delta: int) -> None:
        if not self.takes:
            return
        ids = [t["id"] for t in self.takes]
        current = self.scope.get("take_id") or (self.current().take["id"] if self.current() else ids[-1])
        i = ids.index(current) if current in ids else len(ids) - 1
        self.open_take(ids[max(0, min(len(ids) - 1, i + delta))])

    # -- edits ----------------------------------------------------------------------------------
    def _need(self) -> Moment | None:
        mo = self.current()
        if mo is None:
            self.app.notify("no moment selected", severity="warning")
        return mo

    @work(name="edit-moment", group="review-edit")
    async def store_edit(self, verb: str, fn, *args, **kwargs) -> None:
        try:
            result = await self.app.store.call(fn, *args, **kwargs)
        except (ValueError, LookupError) as exc:
            self.post_message(StoreFailed(verb, str(exc)))
            return
        except Exception as exc:   # sqlite errors: say it, keep the app
            self.post_message(StoreFailed(verb, f"{type(exc).__name__}: {exc}"))
            return
        marker_id = getattr(result, "id", result if isinstance(result, int) else None)
        if result is None and verb in ("undo", "redo"):
            self.post_message(StoreFailed(verb, f"nothing to {verb}"))
            return
        self.post_message(MomentChanged(marker_id, verb))

    def on_moment_changed(self, msg: MomentChanged) -> None:
        if msg.marker_id is not None and msg.verb not in ("delete",):
            self.selected = msg.marker_id
        self.last_verb = f"{msg.verb}: stored"
        self.reload()

    def on_store_failed(self, msg: StoreFailed) -> None:
        self.app.notify(f"{msg.what}: {msg.error}", severity="warning")

    def action_retag(self) -> None:
        mo = self._need()
        if mo is None:
            return
        notation = self.scope.get("notations", {}).get(mo.take["id"]) or self.app.notation
        options = [(s.id, f"{self.app.looks(s.id, s.glyph, notation)[0]}  {s.label}") for s in notation.symbols]

        def chosen(symbol_id):
            if symbol_id and symbol_id != mo.marker.symbol:
                s = notation.symbol(symbol_id)
                self.store_edit("re-tag", S.edit, mo.id, symbol=s.id, glyph=s.glyph)

        self.app.push_screen(PickScreen(f"Re-tag the moment at {clock(mo.tap_s)} as…", options), chosen)

    def action_nudge(self, seconds: float) -> None:
        mo = self._need()
        if mo is None:
            return
        mk = mo.marker
        delta = round(seconds * mo.sample_rate)
        delta = max(delta, -mk.start_sample, -mk.tap_sample)    # nothing before sample 0
        if delta == 0:
            return
        self.store_edit(f"nudge {seconds:+.1f} s", S.edit, mo.id, tap_sample=mk.tap_sample + delta,
                        start_sample=mk.start_sample + delta, end_sample=mk.end_sample + delta)

    def action_trim(self) -> None:
        mo = self._need()
        if mo is None:
            return
        length = (mo.take["frames"] or 0) / mo.sample_rate or None
        start, end = self.curated(mo) or (mo.marker.start_sample, mo.marker.end_sample)   # what curation uses

        def chosen(region):
            if region:
                start, end = region
                self.store_edit("trim", S.edit, mo.id, start_sample=round(start * mo.sample_rate),
                                end_sample=round(end * mo.sample_rate))

        self.app.push_screen(RegionPrompt(start / mo.sample_rate, end / mo.sample_rate, length), chosen)

    def action_note(self) -> None:
        mo = self._need()
        if mo is None:
            return

        def chosen(text):
            if text is not None and text != (mo.marker.note or ""):
                self.store_edit("note", S.edit, mo.id, note=text.strip() or None)

        self.app.push_screen(TextPrompt(f"Note on the moment at {clock(mo.tap_s)}", mo.marker.note or "",
                                        "what happened here?"), chosen)

    def action_delete(self) -> None:
        mo = self._need()
        if mo is None:
            return
        i = self.row_of(mo.id)
        after = self.shown[i + 1] if i + 1 < len(self.shown) else (self.shown[i - 1] if i > 0 else None)
        self.selected = after.id if after else None
        self.store_edit("delete", S.delete, mo.id)

    def _edit_take(self) -> int | None:
        mo = self.current()
        return mo.take["id"] if mo else self.scope.get("take_id")

    def undo(self) -> None:
        take_id = self._edit_take()
        if take_id is not None:
            self.store_edit("undo", S.undo_edit, take_id)

    def redo(self) -> None:
        take_id = self._edit_take()
        if take_id is not None:
            self.store_edit("redo", S.redo_edit, take_id)

    # -- playback -------------------------------------------------------------------------------
    def action_play(self) -> None:
        mo = self._need()
        if mo is None:
            return
        if self.player is not None:
            self.player.stop()
        path = self.app.ws.resolve(mo.take["path"])
        self.play(mo.id, path, mo.marker.start_sample, mo.marker.end_sample)

    def action_stop_playback(self) -> None:
        if self.player is not None:
            self.player.stop()

    @work(name="play-moment", group="playback", thread=True)
    def play(self, marker_id: int, path, start: int, end: int) -> None:
        from ..playback import PlaybackError, Player, default_output, read_region

        try:
            output = default_output()
            audio, sr = read_region(path, start, end)
        except PlaybackError as exc:
            self.post_message(PlaybackFailed(marker_id, str(exc)))
            return
        if len(audio) == 0:
            self.post_message(PlaybackFailed(marker_id, "the region holds no audio (is the take empty?)"))
            return
        player = Player()
        self.player = player
        self.post_message(PlaybackStarted(marker_id, start / sr, end / sr, output.name))
        try:
            finished = player.play(audio, sr, output,
                                    on_progress=lambda pos: self.post_message(PlaybackPosition(marker_id, (start + pos) / sr)))
        except PlaybackError as exc:
            self.post_message(PlaybackFailed(marker_id, str(exc)))
            return
        self.post_message(PlaybackFinished(marker_id, player.position, stopped=not finished))

    def on_playback_started(self, msg: PlaybackStarted) -> None:
        self.playing = msg.marker_id
        self.show_detail(f"▶ playing {clock(msg.start_s)}–{clock(msg.end_s)} through {msg.device} (esc stops)")

    def on_playback_position(self, msg: PlaybackPosition) -> None:
        mo = next((m for m in self.moments if m.id == msg.marker_id), None)
        if mo is not None:
            self.query_one("#review-timeline", Timeline).set_playhead(round(msg.position_s * mo.sample_rate))

    def on_playback_finished(self, msg: PlaybackFinished) -> None:
        self.playing = None
        self.played.append((msg.marker_id, msg.frames))
        self.query_one("#review-timeline", Timeline).set_playhead(None)
        self.show_detail("■ stopped" if msg.stopped else "■ played to the end")

    def on_playback_failed(self, msg: PlaybackFailed) -> None:
        self.playing = None
        self.app.notify(f"cannot play: {msg.error}", severity="warning", timeout=8)
        self.show_detail(f"cannot play: {msg.error}")


register_screen(ScreenSpec(name="review", title="Review", key="f2", factory=ReviewScreen, order=20,
                           help="list, filter, play and edit the tagged moments"))
