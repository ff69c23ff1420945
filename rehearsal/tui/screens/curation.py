"""Curation (F4): sculpt the next dataset from tagged moments, one visible step at a time.

Choose sessions (enter toggles) and a pipeline (shipped, or `<home>/pipelines/*.toml`);
enter on one of its steps' parameters edits it (the pipeline text is rewritten and checked
again, see `pipeline_edit.py`; `w` saves it to the workspace);
`s` runs the next step and `r` the rest, each step's effect (clips and seconds in and out,
what it removed and why) shown before anything is written; enter on a removal plays what
was cut. `c` commits the run as a named dataset version. The versions list shows each
version's coverage and its 2D clip map; `[` `]` move through the map's points, `l` plays one;
`M` opens the full map (map.py: UMAP, colours, box decisions, projected view).
`W`: a person withdraws (or comes back): pick them; their tags, and the takes and input
channels they played, leave every later run; the generations already trained on their
material are named (store/people.py, as `rehearsal person withdraw`).

The run is `rehearsal.curation`'s own `CurationRun`, held in a child process
(`curation/process.py`) that runs each step under the command line's time limit: a step
stuck in C code is ended with that process, named, and remembered for `rehearsal plugins`,
while the TUI goes on (the run is forgotten; nothing of it was written). Named workers talk
to it and post typed messages. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from ..audition import AuditionMixin
from ..messages import StoreFailed
from .store_screen import StoreScreen
from .modals import PickScreen, TextPrompt
from .registry import ScreenSpec, register_screen

MAP_W, MAP_H = 44, 12
WHY_W = 36          # a removal's reason in its row; the highlighted one's is shown whole below


# -- typed messages --------------------------------------------------------------------------
class CurationLoaded(Message):
    def __init__(self, sessions: list[dict], pipelines: list[tuple[str, Path]], versions: list):
        super().__init__()
        self.sessions, self.pipelines, self.versions = sessions, pipelines, versions


class PipelineShown(Message):
    def __init__(self, path: Path, pipeline, error: str | None, parameters: dict | None = None):
        super().__init__()
        self.path, self.pipeline, self.error, self.parameters = path, pipeline, error, parameters or {}


class PipelineEdited(Message):
    def __init__(self, pipeline, parameters: dict):
        super().__init__()
        self.pipeline, self.parameters = pipeline, parameters


class PipelineSaved(Message):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path


class CurationStepped(Message):
    """Steps ran: every report so far, whether the pipeline is done, the takes' audio paths."""

    def __init__(self, reports: list, source_removals: list, done: bool, clips: int, seconds: float,
                 take_paths: dict[int, Path], take_labels: dict[int, str]):
        super().__init__()
        self.reports, self.source_removals, self.done = reports, source_removals, done
        self.clips, self.seconds, self.take_paths, self.take_labels = clips, seconds, take_paths, take_labels


class CurationCommitted(Message):
    def __init__(self, info):
        super().__init__()
        self.info = info


class VersionShown(Message):
    def __init__(self, ref: str, coverage: str, points: list[dict], axes: tuple[str, str], take_paths: dict,
                 take_labels: dict):
        super().__init__()
        self.ref, self.coverage, self.points, self.axes, self.take_paths = ref, coverage, points, axes, take_paths
        self.take_labels = take_labels


def take_labels(takes) -> dict[int, str]:
    """(take id, number, session name) -> "take 2", as every other screen names a take;
    "take 2 (tuesday)" when the clips come from more than one session."""
    takes = list(takes)
    several = len({session for _, _, session in takes}) > 1
    return {tid: f"take {number}" + (f" ({session})" if several else "") for tid, number, session in takes}


# -- store-thread functions (`db` first) -----------------------------------------------------
def load_lists(db, ws):
    from ...curation import list_versions, shipped_pipelines
    from ...store.sessions import list_sessions

    pipelines = sorted(shipped_pipelines().items())
    mine = ws.home / "pipelines"
    if mine.is_dir():
        pipelines += [(f"{p.stem} (workspace)", p) for p in sorted(mine.glob("*.toml"))]
    return list_sessions(db), pipelines, list_versions(db)


def people_and_withdrawals(db):
    from ...store.people import people_known, withdrawn

    return people_known(db), withdrawn(db)


def toggle_person(db, person: str, by: str, undo: bool) -> str:
    from ...store.people import toggle_withdrawal, withdrawal_text

    toggle_withdrawal(db, person, by, undo=undo)
    return withdrawal_text(db, person, undo)


def show_version(db, ws, ref: str):
    from ...curation import clip_map, coverage

    cov = coverage(db, ref).text(width=16)
    try:
        cmap = clip_map(db, ref)
        points, axes = cmap.points(), (cmap.axis_label(0), cmap.axis_label(1))
    except Exception as exc:    # too few clips for a map: say so instead of drawing one
        points, axes = [], (f"no map: {exc}", "")
    paths, takes = {}, []
    for tid in {p["take_id"] for p in points}:
        row = db.execute("SELECT t.path, t.number, s.name FROM takes t JOIN sessions s ON s.id = t.session_id "
                         "WHERE t.id = ?", [tid]).fetchone()
        if row:
            paths[tid] = ws.resolve(row[0])
            takes.append((tid, row[1], row[2]))
    return ref, cov, points, axes, paths, take_labels(takes)


def draw_map(points: list[dict], selected: int | None, width: int = MAP_W, height: int = MAP_H) -> Text:
    """The clip map as characters: each clip its first symbol's first letter, the selected one `@`."""
    out = Text()
    if not points:
        return out
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[" "] * width for _ in range(height)]

    def cell(p):
        cx = 0 if x1 == x0 else round((p["x"] - x0) / (x1 - x0) * (width - 1))
        cy = 0 if y1 == y0 else round((y1 - p["y"]) / (y1 - y0) * (height - 1))
        return cx, cy

    for i, p in enumerate(points):
        cx, cy = cell(p)
        grid[cy][cx] = (p["symbols"][0][:1] or "·") if p["symbols"] else "·"
    if selected is not None and 0 <= selected < len(points):
        cx, cy = cell(points[selected])
        grid[cy][cx] = "@"
    for row in grid:
        line = "".join(row)
        for ch in line:
            out.append(ch, style="bold reverse" if ch == "@" else "")
        out.append("│\n")
    out.append("─" * width + "┘")
    return out


class CurationScreen(AuditionMixin, StoreScreen):
    NAME = "curation"
    STATUS_ID = "cur-status"
    AUTO_FOCUS = "#cur-sessions"       # enter selects a session at once, no tab first
    BINDINGS = [
        Binding("s", "step", "next step"),
        Binding("r", "run_all", "run every step"),
        Binding("c", "commit", "commit as a dataset version"),
        Binding("w", "save_pipeline", "save the pipeline"),
        Binding("g", "reload", "reload lists"),
        Binding("left_square_bracket", "map_point(-1)", "previous clip on the map", key_display="["),
        Binding("right_square_bracket", "map_point(1)", "next clip on the map", key_display="]"),
        Binding("l", "listen_point", "play the map's clip"),
        Binding("M", "open_map", "the map, full screen"),
        Binding("W", "withdraw_person", "a person withdraws / comes back"),
        Binding("escape", "stop_playback", "stop", show=False),
    ]
    # the sessions and the pipeline on the left; the steps above the datasets on the right,
    # so a step's row and its removals' reasons have the width of the screen (120 columns too)
    DEFAULT_CSS = """
    CurationScreen #cur-body { height: 1fr; layout: grid; grid-size: 2 2; grid-columns: 44 1fr; }
    CurationScreen #cur-left { row-span: 2; }
    CurationScreen DataTable { height: auto; max-height: 12; }
    CurationScreen .cur-title { text-style: bold; background: $panel; }
    CurationScreen #cur-status { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sessions: list[dict] = []
        self.chosen_sessions: list[str] = []
        self.pipelines: list[tuple[str, Path]] = []
        self.pipeline_path: Path | None = None
        self.pipeline = None
        self.run = None                    # the RunProcess holding the CurationRun
        self.reports: list = []
        self.source_removals: list = []
        self.done = False
        self.take_paths: dict[int, Path] = {}
        self.take_labels: dict[int, str] = {}
        self.shown_removals: list = []
        self.versions: list = []
        self.committed: list = []          # VersionInfo of commits made here
        self.version_ref: str | None = None
        self.points: list[dict] = []
        self.point: int | None = None
        self.map_paths: dict = {}
        self.map_labels: dict[int, str] = {}
        self.saved_pipelines: list[Path] = []
        self.busy = False                  # a step is running (one at a time)
        self.parameters: dict = {}         # step index -> (name, value, in the file?, help)
        self.withdrawal_text = ""          # what the last withdrawal (W) said

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="cur-body"):
            with VerticalScroll(id="cur-left"):
                yield Static("Sessions (enter selects)", classes="cur-title")
                yield DataTable(id="cur-sessions", cursor_type="row")
                yield Static("Pipelines (enter chooses)", classes="cur-title")
                yield DataTable(id="cur-pipelines", cursor_type="row")
                yield Static("", id="cur-pipeline")
                yield DataTable(id="cur-params", cursor_type="row")
            with Vertical(id="cur-mid"):
                yield Static("Steps (s: next, r: all, c: commit)", classes="cur-title")
                yield DataTable(id="cur-steps", cursor_type="row")
                yield Static("Removed by the step (enter plays)", classes="cur-title")
                yield DataTable(id="cur-removals", cursor_type="row")
                yield Static("", id="cur-removal")
            with VerticalScroll(id="cur-right"):
                yield Static("Datasets (enter shows)", classes="cur-title")
                yield DataTable(id="cur-versions", cursor_type="row")
                yield Static("", id="cur-coverage")
                yield Static("", id="cur-map")
        yield Static("", id="cur-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cur-sessions", DataTable).add_columns(" ", "session", "takes")
        self.query_one("#cur-pipelines", DataTable).add_columns("pipeline")
        self.query_one("#cur-params", DataTable).add_columns("step", "parameter", "value")
        self.query_one("#cur-steps", DataTable).add_columns("#", "step", "clips", "seconds", "effect")
        self.query_one("#cur-removals", DataTable).add_columns("take", "from", "to", "symbols", "why")
        self.query_one("#cur-versions", DataTable).add_columns("version", "clips", "seconds", "pipeline")
        self.open_store()
        self.load()

    # -- lists -------------------------------------------------------------------------------
    @work(name="curation-load", group="curation-load", exclusive=True)
    async def load(self) -> None:
        try:
            sessions, pipelines, versions = await self.store.call(load_lists, self.app.ws)
        except Exception as exc:
            self.post_message(StoreFailed("load the sessions and datasets", str(exc)))
            return
        self.post_message(CurationLoaded(sessions, pipelines, versions))

    def on_curation_loaded(self, msg: CurationLoaded) -> None:
        self.sessions, self.pipelines, self.versions = msg.sessions, msg.pipelines, msg.versions
        self.draw_sessions()
        table = self.query_one("#cur-pipelines", DataTable)
        table.clear()
        for label, path in self.pipelines:
            table.add_row(label, key=str(path))
        self.draw_versions()

    def draw_sessions(self) -> None:
        table = self.query_one("#cur-sessions", DataTable)
        row = table.cursor_row
        table.clear()
        for s in self.sessions:
            mark = "●" if s["name"] in self.chosen_sessions else " "
            table.add_row(mark, s["name"], str(s.get("takes", "")), key=s["name"])
        if self.sessions:
            table.move_cursor(row=min(row, len(self.sessions) - 1))

    def draw_versions(self) -> None:
        table = self.query_one("#cur-versions", DataTable)
        table.clear()
        for v in self.versions:
            table.add_row(v.ref, str(v.clip_count), f"{v.total_s:.1f}", v.pipeline_name, key=v.ref)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        which = event.data_table.id
        if which == "cur-sessions":
            self.toggle_session(key)
        elif which == "cur-pipelines":
            self.choose_pipeline(Path(key))
        elif which == "cur-params":
            self.ask_param(key)
        elif which == "cur-removals":
            self.play_removal(event.cursor_row)
        elif which == "cur-versions":
            self.show_version(key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "cur-steps" and event.row_key is not None:
            self.draw_removals(int(event.row_key.value))
        elif event.data_table.id == "cur-removals":
            self.show_removal(event.cursor_row)

    def toggle_session(self, name: str) -> None:
        if name in self.chosen_sessions:
            self.chosen_sessions.remove(name)
        else:
            self.chosen_sessions.append(name)
        self.forget_run()
        self.draw_sessions()
        self.say(f"sessions: {', '.join(self.chosen_sessions) or 'none'}")

    # -- the pipeline ----------------------------------------------------------------------
    def choose_pipeline(self, path: Path) -> None:
        self.pipeline_path = path
        self.forget_run()
        self.read_pipeline(path)

    @work(name="curation-read-pipeline", group="curation-pipeline", exclusive=True, thread=True)
    def read_pipeline(self, path: Path) -> None:
        from ...curation import PipelineError, load_pipeline
        from ..pipeline_edit import step_parameters

        try:
            pipeline = load_pipeline(path)
            self.post_message(PipelineShown(path, pipeline, None, step_parameters(pipeline)))
        except (PipelineError, OSError) as exc:
            self.post_message(PipelineShown(path, None, str(exc)))

    def on_pipeline_shown(self, msg: PipelineShown) -> None:
        self.pipeline, self.parameters = msg.pipeline, msg.parameters
        info = self.query_one("#cur-pipeline", Static)
        table = self.query_one("#cur-params", DataTable)
        table.clear()
        if msg.error:
            info.update(Text(msg.error, style="red"))
            self.say(f"cannot use {msg.path.name}: {msg.error}")
            return
        p = msg.pipeline
        out = Text(p.name, style="bold")
        if p.source.endswith("(edited)"):
            out.append("  (edited: w saves it)", style="yellow")
        if p.description:
            out.append(f"\n{p.description}", style="italic")
        info.update(out)
        from ..pipeline_edit import literal

        for spec in p.steps:
            label = f"{spec.index} {spec.use}"
            table.add_row(Text(label, style="bold" if spec.enabled else "dim strike"), "enabled",
                          literal(spec.enabled), key=f"{spec.index}:enabled")
            params = msg.parameters.get(spec.index) or [(k, v, True, "") for k, v in spec.params.items()]
            for k, v, in_file, _help in params:
                shown = "(none)" if v is None else literal(v)      # defaults dim: not in the file
                table.add_row("", k, Text(shown, style="" if in_file else "dim"), key=f"{spec.index}:{k}")
        self.say(f"pipeline {p.name}: {len(p.steps)} steps; s runs the next one, enter on a parameter edits it")

    # -- editing a step's parameter ----------------------------------------------------------
    def ask_param(self, key: str) -> None:
        from ..pipeline_edit import literal

        if self.pipeline is None:
            return
        index, _, name = key.partition(":")
        spec = next(s for s in self.pipeline.steps if s.index == int(index))
        current = spec.enabled if name == "enabled" else spec.params.get(name, self.default_of(spec.index, name))
        shown = "" if current is None else literal(current)
        self.app.push_screen(TextPrompt(f"steps[{index}] {spec.use}: {name} (a TOML value)", shown),
                             lambda text: text is not None and self.edit_param(int(index), name, text))

    def default_of(self, index: int, name: str):
        return next((v for k, v, _f, _h in self.parameters.get(index, []) if k == name), None)

    @work(name="curation-edit-param", group="curation-pipeline", thread=True)
    def edit_param(self, index: int, name: str, text: str) -> None:
        from ...curation import PipelineError
        from ..pipeline_edit import edit_param, parse_value, step_parameters

        try:
            edited = edit_param(self.pipeline, index, name, parse_value(text))
        except (ValueError, PipelineError) as exc:
            self.post_message(StoreFailed(f"set steps[{index}].{name}", str(exc)))
            return
        self.post_message(PipelineEdited(edited, step_parameters(edited)))

    def on_pipeline_edited(self, msg: PipelineEdited) -> None:
        self.forget_run()
        self.post_message(PipelineShown(self.pipeline_path, msg.pipeline, None, msg.parameters))

    def action_save_pipeline(self) -> None:
        if self.pipeline is None:
            return
        from ...naming import safe_filename

        default = safe_filename(self.pipeline.name).replace(" ", "-")
        self.app.push_screen(TextPrompt("Save the pipeline as <home>/pipelines/NAME.toml", default),
                             lambda name: name and self.save_pipeline(name.strip()))

    @work(name="curation-save-pipeline", group="curation-pipeline", thread=True)
    def save_pipeline(self, name: str) -> None:
        from ...naming import safe_filename

        folder = self.app.ws.home / "pipelines"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_filename(name)}.toml"
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(self.pipeline.text, encoding="utf-8")
        tmp.replace(path)
        self.post_message(PipelineSaved(path))

    def on_pipeline_saved(self, msg: PipelineSaved) -> None:
        self.saved_pipelines.append(msg.path)
        self.say(f"saved {msg.path}")
        self.load()

    def forget_run(self) -> None:
        self.end_run()
        self.reports, self.source_removals, self.done = [], [], False
        self.query_one("#cur-steps", DataTable).clear()
        self.query_one("#cur-removals", DataTable).clear()
        self.query_one("#cur-removal", Static).update("")

    def action_step(self) -> None:
        self.advance(1)

    def action_run_all(self) -> None:
        self.advance(None)

    def end_run(self) -> None:
        """Forget the run and end its process (without waiting here)."""
        import threading

        run, self.run = self.run, None
        if run is not None:
            threading.Thread(target=run.close, name="curation-run-close", daemon=True).start()

    def on_unmount(self) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.close()

    @work(name="curation-step", group="curation-run")
    async def advance(self, how_many: int | None) -> None:
        import asyncio

        from ...curation.process import RunEnded, RunProcess

        if self.pipeline is None or not self.chosen_sessions:
            self.say("choose at least one session and a pipeline first")
            return
        if self.done:
            self.say("every step has run: c commits")
            return
        if self.busy:
            self.say("a step is running…")
            return
        self.busy = True
        pipeline, sessions = self.pipeline, list(self.chosen_sessions)
        run = self.run
        try:
            if run is None:
                self.say("taking clips from the markers…")
                run = self.run = await asyncio.to_thread(RunProcess.start, self.app.ws, pipeline, sessions)
            self.say("running…")
            await asyncio.to_thread(run.step, how_many)
        except Exception as exc:
            if run is not None and run is not self.run:
                return          # forgotten meanwhile (the sessions or the pipeline changed)
            if isinstance(exc, RunEnded):
                self.end_run()  # its process is gone: the next step starts a new run
            self.post_message(StoreFailed("run the pipeline", str(exc)))
            return
        finally:
            self.busy = False
        if run is not self.run:
            return     # the sessions or the pipeline changed meanwhile: that run is forgotten
        paths = {tid: self.app.ws.resolve(t["path"]) for tid, t in run.takes.items()}
        names = {s["id"]: s["name"] for s in run.sessions}
        labels = take_labels((tid, t["number"], names.get(t["session_id"], "")) for tid, t in run.takes.items())
        clips = run.clips
        self.post_message(CurationStepped(list(run.reports), list(run.source_removals), run.done, len(clips),
                                          float(sum(c.duration_s for c in clips)), paths, labels))

    def on_curation_stepped(self, msg: CurationStepped) -> None:
        self.reports, self.source_removals, self.done = msg.reports, msg.source_removals, msg.done
        self.take_paths, self.take_labels = msg.take_paths, msg.take_labels
        table = self.query_one("#cur-steps", DataTable)
        table.clear()
        if self.source_removals:
            table.add_row("0", "markers", "", "", f"{len(self.source_removals)} outside the audio", key="0")
        for r in self.reports:   # the effect in the CLI's words: "1 removed, 3 changed"
            table.add_row(str(r.index), r.name, f"{r.clips_in} → {r.clips_out}",
                          f"{r.seconds_in:.1f} → {r.seconds_out:.1f}", r.effect or "-", key=str(r.index))
        if self.reports:
            table.move_cursor(row=table.row_count - 1)
            self.draw_removals(self.reports[-1].index)
        state = "done: c commits" if self.done else "s runs the next step"
        self.say(f"{len(self.reports)} steps run, {msg.clips} clips, {msg.seconds:.1f} s; {state}")

    def draw_removals(self, step_index: int) -> None:
        if step_index == 0:
            removals = list(self.source_removals)
        else:
            removals = [x for r in self.reports if r.index == step_index for x in r.removals]
        self.shown_removals = removals
        table = self.query_one("#cur-removals", DataTable)
        table.clear()
        for i, r in enumerate(removals):
            c = r.clip
            why = self.why(r)
            table.add_row(self.take_labels.get(c.take_id, f"take #{c.take_id}"), f"{c.start_s:.2f}",
                          f"{c.end_s:.2f}", ", ".join(c.symbols), why if len(why) <= WHY_W else why[:WHY_W - 1] + "…",
                          key=str(i))
        self.show_removal(0)

    @staticmethod
    def why(removal) -> str:
        return ("replaced: " if removal.replaced_by else "") + removal.reason

    def show_removal(self, row: int) -> None:
        """The highlighted removal's reason, whole (its row shows the start of it)."""
        detail = self.query_one("#cur-removal", Static)
        if not 0 <= row < len(self.shown_removals):
            detail.update("")
            return
        r = self.shown_removals[row]
        label = self.take_labels.get(r.clip.take_id, "a take")
        detail.update(Text.assemble((f"{label} {r.clip.start_s:.2f}-{r.clip.end_s:.2f} s: ", "bold"), self.why(r)))

    def play_removal(self, row: int) -> None:
        if not 0 <= row < len(self.shown_removals):
            return
        take_id, start, end = self.shown_removals[row].audio_range
        path = self.take_paths.get(take_id)
        if path is None:
            self.say("that take's audio is not known")
            return
        self.audition(row, path, start, end)

    def action_stop_playback(self) -> None:
        self.stop_audition()

    # -- commit ------------------------------------------------------------------------------
    def action_commit(self) -> None:
        if self.run is None or not self.done:
            self.say("run every step first (r), then commit")
            return
        default = self.pipeline.name if self.pipeline else ""
        from ...naming import safe_filename

        self.app.push_screen(TextPrompt("Commit as dataset", safe_filename(default).replace(" ", "-")[:40]),
                             lambda name: name and self.commit(name.strip()))

    @work(name="curation-commit", group="curation-run")
    async def commit(self, name: str) -> None:
        import asyncio

        try:
            info = await asyncio.to_thread(self.run.commit, name, created_by="tui")
        except Exception as exc:
            self.post_message(StoreFailed(f"commit {name!r}", str(exc)))
            return
        self.post_message(CurationCommitted(info))

    def on_curation_committed(self, msg: CurationCommitted) -> None:
        self.committed.append(msg.info)
        self.say(f"committed {msg.info.ref}: {msg.info.clip_count} clips, {msg.info.total_s:.1f} s")
        self.load()
        self.show_version(msg.info.ref)

    # -- consent -------------------------------------------------------------------------------
    @work(name="curation-withdraw", group="curation-withdraw", exclusive=True)
    async def action_withdraw_person(self) -> None:
        try:
            people, gone = await self.store.call(people_and_withdrawals)
        except Exception as exc:
            self.post_message(StoreFailed("read who there is", str(exc)))
            return
        if not people:
            self.say("nobody to withdraw: no one has tagged or been mapped yet")
            return
        choices = [(p, f"{p}: withdrew {gone[p]} (enter: comes back)" if p in gone else p) for p in people]
        person = await self.app.push_screen_wait(PickScreen(
            "Who withdraws (or comes back)?", choices,
            "Their tags, and the takes and input channels they played, leave every later dataset version"))
        if not person:
            return
        who = getattr(self.app.options, "who", None) or "tui"
        try:
            text = await self.store.call(toggle_person, person, who, person in gone)
        except Exception as exc:
            self.post_message(StoreFailed(f"record {person}'s withdrawal", str(exc)))
            return
        self.withdrawal_text = text
        self.say(" · ".join(line.strip() for line in text.splitlines()))
        self.app.notify(text, timeout=15)

    # -- versions: coverage and map ------------------------------------------------------------
    @work(name="curation-version", group="curation-version", exclusive=True)
    async def show_version(self, ref: str) -> None:
        try:
            shown = await self.store.call(show_version, self.app.ws, ref)
        except Exception as exc:
            self.post_message(StoreFailed(f"show {ref}", str(exc)))
            return
        self.post_message(VersionShown(*shown))

    def on_version_shown(self, msg: VersionShown) -> None:
        self.version_ref, self.points, self.map_paths = msg.ref, msg.points, msg.take_paths
        self.map_labels = msg.take_labels
        self.point = 0 if self.points else None
        self.query_one("#cur-coverage", Static).update(Text(msg.coverage))
        self.draw_map(msg.axes)

    def draw_map(self, axes: tuple[str, str] | None = None) -> None:
        if axes is not None:
            self._axes = axes
        axes = getattr(self, "_axes", ("", ""))
        out = Text(f"clip map: x {axes[0]}\n          y {axes[1]}\n", style="dim")
        out.append_text(draw_map(self.points, self.point))
        if self.point is not None:
            p = self.points[self.point]
            out.append(f"\n@ {self.point + 1}/{len(self.points)}: {self.map_labels.get(p['take_id'], 'a take')} "
                       f"{p['start_s']:.2f}-{p['end_s']:.2f} s [{', '.join(p['symbols'])}] "
                       f"{', '.join(p['who'])}  (l plays)")
        self.query_one("#cur-map", Static).update(out)

    def action_map_point(self, delta: int) -> None:
        if not self.points:
            return
        self.point = ((self.point or 0) + delta) % len(self.points)
        self.draw_map()

    def action_open_map(self) -> None:
        from .map import MapScreen

        self.app.push_screen(MapScreen(self.version_ref))

    def action_listen_point(self) -> None:
        if self.point is None:
            return
        p = self.points[self.point]
        path = self.map_paths.get(p["take_id"])
        if path is not None:
            self.audition(10_000 + self.point, path, p["start_sample"], p["end_sample"])


register_screen(ScreenSpec(name="curation", title="Curation", key="f4", factory=CurationScreen, order=40,
                           help="sculpt the next dataset from tagged moments: preview each step, commit"))
