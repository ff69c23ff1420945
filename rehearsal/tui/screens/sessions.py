"""Sessions: list, create, rename and open sessions and their takes; export markers.

Opening a session makes it the one new takes go to; opening a take (or a whole session
with `v`) shows it on the Review screen. Exports use the CLI's formats and land in
<home>/exports/<session>/take-NNN.<ext>, one file per take (Audacity, Sonic Visualiser,
REAPER, ELAN and Praat files each describe one audio file).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Static

from ...export.markers import EXTENSIONS, FORMATS, take_file_name, take_markers_text, write_text
from ...naming import safe_filename
from ...store.sessions import get_or_create_session, rename_session
from .. import store_link as S
from ..messages import ReviewWanted, SessionsLoaded, StoreFailed
from ..moments import clock
from .base import RoomScreen
from .modals import PickScreen, TextPrompt
from .registry import ScreenSpec, register_screen

def export_session(db, ws, session_id: int, fmt: str, take_id: int | None = None) -> list[Path]:
    """Write one file per take; returns the paths (store thread)."""
    session = db.execute("SELECT name FROM sessions WHERE id = ?", [session_id]).fetchone()
    if session is None:
        raise LookupError(f"no session {session_id}")
    folder = ws.folder("exports") / safe_filename(session[0])
    folder.mkdir(parents=True, exist_ok=True)
    takes = list(db.query("SELECT * FROM takes WHERE session_id = ? ORDER BY number", [session_id]))
    if take_id is not None:
        takes = [t for t in takes if t["id"] == take_id]
    out = []
    for t in takes:
        path = folder / take_file_name(t, fmt)
        write_text(path, take_markers_text(db, ws, t, fmt))
        out.append(path)
    return out


class SessionsScreen(RoomScreen):
    NAME = "sessions"
    BINDINGS = [
        Binding("enter", "open", "open"),
        Binding("c", "create", "new session"),
        Binding("r", "rename", "rename"),
        Binding("v", "review_session", "review session"),
        Binding("x", "export", "export markers"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sessions: list[dict] = []
        self.takes: dict[int, list[dict]] = {}
        self.session_id: int | None = None
        self._want: int | None = None
        self.exported: list[Path] = []

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="sessions-body"):
            with Vertical(classes="box", id="sessions-box"):
                yield Static("sessions  (enter: make it the session new takes go to)", classes="box-title")
                yield DataTable(id="sessions", cursor_type="row")
            with Vertical(classes="box", id="takes-box"):
                yield Static("takes  (enter: review the take)", classes="box-title")
                yield DataTable(id="takes", cursor_type="row")
        yield Static(id="sessions-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sessions", DataTable).add_columns("session", "created", "notation", "takes", "length", "tags")
        self.query_one("#takes", DataTable).add_columns("take", "started", "length", "tags", "status", "device")
        self.query_one("#sessions", DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def take_stopped(self, take: dict) -> None:
        super().take_stopped(take)
        self.load()

    # -- loading ------------------------------------------------------------------------------
    @work(name="load-sessions", group="sessions-load", exclusive=True)
    async def load(self) -> None:
        try:
            sessions, takes = await self.app.store.call(S.sessions_and_takes)
        except Exception as exc:
            self.post_message(StoreFailed("load the sessions", str(exc)))
            return
        self.post_message(SessionsLoaded(sessions, takes))

    def on_sessions_loaded(self, msg: SessionsLoaded) -> None:
        self.sessions, self.takes = msg.sessions, msg.takes
        table = self.query_one("#sessions", DataTable)
        # a session just created is selected once a load that has it arrives (an older load may come first)
        keep = self._want if self._want is not None else self.session_id
        if any(s["id"] == keep for s in self.sessions):
            self._want = None
            self.session_id = keep
        current = self.app.input.room.session_id if self.app.input.ready else None
        # rebuilding moves the cursor: those moves are not the user's choice
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for s in self.sessions:
                name = Text(s["name"], style="bold" if s["id"] == current else "")
                if s["id"] == current:
                    name.append("  ● current", style="green")
                table.add_row(name, (s["created_at"] or "")[:16].replace("T", " "), s["notation"] or "-",
                              str(s["takes"]), clock(s["seconds"] or 0, tenths=False), str(s["markers"]),
                              key=str(s["id"]))
            ids = [s["id"] for s in self.sessions]
            if ids:
                if self.session_id not in ids:
                    self.session_id = ids[-1]
                table.move_cursor(row=ids.index(self.session_id), animate=False)
        self.show_takes()

    def show_takes(self) -> None:
        table = self.query_one("#takes", DataTable)
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for t in self.takes.get(self.session_id, []):
                seconds = (t["frames"] or 0) / t["sample_rate"]
                status = t["status"] + (f" ({t['overflows']} overflows)" if t["overflows"] else "")
                table.add_row(str(t["number"]), (t["started_at"] or "")[:19].replace("T", " "), clock(seconds),
                              str(t["markers"]), status, t["device"], key=str(t["id"]))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # the table's cursor, not the event's row: an event queued while the table was being
        # rebuilt can arrive after the cursor has moved on
        table = event.data_table
        if table.id != "sessions" or table.row_count == 0:
            return
        sid = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if sid != self.session_id:
            self.session_id = sid
            self.show_takes()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "sessions":
            self.open_session(int(event.row_key.value))
        else:
            self.review_take(int(event.row_key.value))

    # -- actions ------------------------------------------------------------------------------------
    def action_open(self) -> None:
        table = self.focused if isinstance(self.focused, DataTable) else self.query_one("#sessions", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if table.id == "sessions":
            self.open_session(int(key))
        else:
            self.review_take(int(key))

    def selected_session(self) -> dict | None:
        return next((s for s in self.sessions if s["id"] == self.session_id), None)

    @work(name="open-session", group="sessions-edit")
    async def open_session(self, session_id: int) -> None:
        s = next((s for s in self.sessions if s["id"] == session_id), None)
        if s is None:
            return
        if not self.app.input.ready:
            self.app.session_name = s["name"]
            self.app.notify(f"new takes will go to {s['name']!r} once an input is open")
            return
        try:
            await self.app.input.set_session(s["name"])
        except RuntimeError as exc:
            self.app.notify(str(exc), severity="warning")
            return
        self.app.session_name = s["name"]
        self.app.notify(f"new takes go to {s['name']!r}")
        self.app.each_view("redraw_top")
        self.load()

    def review_take(self, take_id: int) -> None:
        self.post_message(ReviewWanted(take_id=take_id))

    def action_review_session(self) -> None:
        if self.session_id is None:
            return
        self.post_message(ReviewWanted(session_id=self.session_id))

    def action_create(self) -> None:
        def chosen(name):
            if name and name.strip():
                self.create(name.strip())

        self.app.push_screen(TextPrompt("New session", placeholder="tuesday, the piece's name, ..."), chosen)

    @work(name="create-session", group="sessions-edit")
    async def create(self, name: str) -> None:
        try:
            self._want = await self.app.store.call(get_or_create_session, name, None)
        except ValueError as exc:
            self.post_message(StoreFailed("create the session", str(exc)))
            return
        self.load()

    def action_rename(self) -> None:
        s = self.selected_session()
        if s is None:
            return

        def chosen(name):
            if name and name.strip() and name.strip() != s["name"]:
                self.rename(s["id"], name.strip())

        self.app.push_screen(TextPrompt(f"Rename session {s['name']!r}", s["name"]), chosen)

    @work(name="rename-session", group="sessions-edit")
    async def rename(self, session_id: int, name: str) -> None:
        try:
            await self.app.store.call(rename_session, session_id, name)
        except Exception as exc:   # a name already taken: sqlite's UNIQUE constraint
            self.post_message(StoreFailed("rename", f"{name!r}: {exc}"))
            return
        link = self.app.input   # the room interface (input.py)
        if link.ready and link.room.session_id == session_id:
            link.room.rename_session(name)
            self.app.session_name = name
            self.app.each_view("redraw_top")
        self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_export(self) -> None:
        if self.session_id is None:
            return
        take_table = self.query_one("#takes", DataTable)
        take_id = None
        if self.focused is take_table and take_table.row_count:
            take_id = int(take_table.coordinate_to_cell_key(take_table.cursor_coordinate).row_key.value)
        what = "this take" if take_id else "every take of this session"
        options = [(f, f"{f}  (.{EXTENSIONS[f]}, one file per take)") for f in FORMATS]
        self.app.push_screen(PickScreen(f"Export the markers of {what}", options),
                             lambda fmt: fmt and self.export(self.session_id, fmt, take_id))

    @work(name="export-markers", group="sessions-edit")
    async def export(self, session_id: int, fmt: str, take_id: int | None) -> None:
        try:
            paths = await self.app.store.call(export_session, self.app.ws, session_id, fmt, take_id)
        except (OSError, LookupError, ValueError) as exc:
            self.post_message(StoreFailed("export", str(exc)))
            return
        self.exported = paths
        where = paths[0].parent if paths else "-"
        self.query_one("#sessions-status", Static).update(
            Text(f"exported {len(paths)} file(s) as {fmt} to {where}", style="green"))
        self.app.notify(f"exported {len(paths)} file(s) to {where}")

    def on_store_failed(self, msg: StoreFailed) -> None:
        self.app.notify(f"{msg.what}: {msg.error}", severity="warning")


register_screen(ScreenSpec(name="sessions", title="Sessions", key="f3", factory=SessionsScreen, order=30,
                           help="sessions and takes: open, create, rename, export markers"))
