"""Models (F5): the lineage of trained generations, their loss curves, previews and notes.

The lineage as an indented list (each generation under its parent) with its strategy,
family, dataset, status, validation loss and notes; the selected one's metrics, notes,
how it was received in play (the tags made while it played, per co-performer mode and
follow: which settings the collective liked), preview files and loss curve (read from its progress file, refreshed twice a second while
a run is going). `u` makes it current, `b` goes back to the one before, `m` adds a note,
`y` attaches a symbol of the notation, `p` plays its next preview, `t` trains a new
generation: a dataset, a strategy, a family, whether to steer it by symbols (offered where the
family supports it, shown disabled with the reason where not) and a budget; `x` cancels a run. The text curve shows the
noise baseline as a row of `-`; `P` draws the picture (training and validation loss
against steps and wall time, baseline, parent; rehearsal.training.plots) to
<home>/exports/gN-training.png in a thread worker, and `c` marks generations to compare
in that picture.

Training runs in its own process (`rehearsal.training.start_run`); a thread worker polls
it (`TrainingRun.poll()` never blocks) and posts typed messages. Nothing here imports
torch: `rehearsal.training`'s API does not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from ..audition import AuditionMixin
from ..messages import StoreFailed
from .store_screen import StoreScreen
from .modals import PickScreen, TextPrompt
from .registry import ScreenSpec, register_screen

CURVE_W, CURVE_H = 48, 8
WHO = "tui"


# -- typed messages --------------------------------------------------------------------------
class LineageLoaded(Message):
    def __init__(self, rows: list[tuple[int, dict]], current: int | None, notes: dict[int, list[dict]]):
        super().__init__()
        self.rows, self.current, self.notes = rows, current, notes


class GenerationDetail(Message):
    def __init__(self, gen_id: int, curve: dict, previews: dict[str, list[Path]], received: dict | None = None):
        super().__init__()
        self.gen_id, self.curve, self.previews, self.received = gen_id, curve, previews, received or {}


class PlotWritten(Message):
    def __init__(self, path: Path | None, labels: list[str], error: str | None = None):
        super().__init__()
        self.path, self.labels, self.error = path, labels, error


class ModelsChanged(Message):
    def __init__(self, verb: str):
        super().__init__()
        self.verb = verb


class TrainingStarted(Message):
    def __init__(self, gen_ids: list[int]):
        super().__init__()
        self.gen_ids = gen_ids


class TrainingProgress(Message):
    def __init__(self, gen_id: int, events: list[dict]):
        super().__init__()
        self.gen_id, self.events = gen_id, events


class TrainingEnded(Message):
    def __init__(self, gen_id: int, code: int | None, ended: dict | None):
        super().__init__()
        self.gen_id, self.code, self.ended = gen_id, code, ended


# -- store-thread functions (`db` first) -----------------------------------------------------
def load_lineage(db):
    from ...training import current_generation, lineage_tree, notes

    rows: list[tuple[int, dict]] = []

    def walk(node, depth):
        rows.append((depth, node.generation))
        for child in node.children:
            walk(child, depth + 1)

    for root in lineage_tree(db):
        walk(root, 0)
    cur = current_generation(db)
    return rows, (cur["id"] if cur else None), {g["id"]: notes(db, g["id"]) for _, g in rows}


def generation_detail(db, ws, gen_id: int):
    from ...training import get_generation, loss_curve, previews, progress_path

    from ...play.reception import reception

    gen = get_generation(db, gen_id)
    return gen_id, loss_curve(progress_path(ws, gen)), previews(ws, db, gen_id), reception(db, gen_id)


def reception_lines(received: dict) -> list[str]:
    """How a generation was received in play, per way it took part (transform, call and
    response, accompaniment at each follow), the most tagged first: which settings the
    collective liked."""
    if not received.get("plays"):
        return []
    glyph = {s: t["glyph"] for s, t in received.get("tags", {}).items()}
    lines = [f"in play: {received['plays']} play(s), {received['seconds']:.0f} s heard"]
    by = sorted(received.get("settings", {}).items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    for setting, tags in by:
        said = ", ".join(f"{glyph.get(s) or ''} {s} x{n}".strip()
                         for s, n in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"  {setting}: {said}")
    return lines


def dataset_choices(db, ws) -> list[tuple[str, str]]:
    """Curated versions, then folders under <home>/datasets/ that hold metadata.jsonl."""
    from ...curation import list_versions

    out = [(v.ref, f"{v.ref}  {v.clip_count} clips, {v.total_s:.0f} s ({v.pipeline_name})")
           for v in list_versions(db)]
    root = ws.home / "datasets"
    if root.is_dir():
        for sub in sorted(root.iterdir()):
            if (sub / "metadata.jsonl").exists() and not sub.name.startswith("."):
                out.append((str(sub), f"{sub.name}/  (folder)"))
    return out


def family_choices(db, strategy: str, options: dict) -> tuple[str | None, list[tuple[str, str]]]:
    """(the family every run of `strategy` makes, else None; the families to choose from, the
    one a run would take unasked first: the current model's where the strategy continues it)."""
    from ...training import current_generation, get_strategy, model_families
    from ...training.strategy import DEFAULT_FAMILY

    strat = get_strategy(strategy)
    if strat.family:
        return strat.family, []
    current = current_generation(db) if getattr(strat, "uses_current_as_parent", False) else None
    default = options.get("family") or (current["family"] if current else DEFAULT_FAMILY)
    found = model_families()
    names = sorted(found, key=lambda n: (n != default, n))
    return None, [(n, f"{n}  ({'can be steered by symbols' if 'symbols' in found[n].conditions else 'no symbols'})"
                      f"  {found[n].summary[:70]}") for n in names]


STEER_LABELS = {"none": "not steered by symbols", "symbols": "steered by the notation's symbols"}


def steering_choice(db, ws, dataset_ref: str, strategy: str, family: str, options: dict) -> tuple[list[str], str | None]:
    """Whether a run of `family` on the dataset may be steered by symbols (`train --condition
    symbols`): (the symbols it would learn, None) or ([], why not, in words): the family cannot
    (`Family.conditions`), the run continues a parent (which keeps its own steering), or no
    clip of the dataset carries a symbol."""
    from ...training import make_request, model_families, resolve_dataset
    from ...training.family import family_named, steering_symbols

    fam = family_named(family)
    if "symbols" not in fam.conditions:
        can = sorted(n for n, f in model_families().items() if "symbols" in f.conditions)
        kind = "imported nn~ modules, " if fam.imported else ""
        return [], (f"the {family} family ({kind}cannot be steered by symbols)"
                    + (f"; families that can: {', '.join(can)}" if can else ""))
    ds = resolve_dataset(ws, db, dataset_ref)
    request = make_request(db, ds, strategy, **{**options, "family": family})
    if request.parent is not None:
        had = steering_symbols(request.parent)
        return [], (f"this {strategy} run continues {request.parent['name']}, which keeps its own steering ("
                    + ("by " + ", ".join(had) if had else "not steered") + "): a one-shot run starts afresh")
    learned = list(dict.fromkeys(sym for c in ds.clips for sym in c.symbols))
    if not learned:
        return [], f"no clip of {dataset_ref} carries a symbol (tag the takes, or record them from a score)"
    return learned, None


def plan(db, ws, dataset_ref: str, strategy: str, options: dict) -> list[int]:
    from ...training import make_request, plan_generations, resolve_dataset

    ds = resolve_dataset(ws, db, dataset_ref)
    request = make_request(db, ds, strategy, **options)
    return plan_generations(ws, db, request)


def short_ref(ref: str) -> str:
    """A dataset version as is (`good@3`); a folder by its name (`plucks/`)."""
    return Path(ref).name + "/" if "/" in ref else ref


def sparkline_plot(curve: dict, width: int = CURVE_W, height: int = CURVE_H, baseline: float | None = None) -> Text:
    """Train loss as `·`, validation loss as `o` and the noise baseline as a row of `-` on a
    log-free character grid."""
    train, val = curve.get("train", []), curve.get("val", [])
    out = Text()
    if not train and not val:
        return Text("no loss yet", style="dim")
    pts = train + val
    s0, s1 = min(p[0] for p in pts), max(p[0] for p in pts)
    losses = [p[1] for p in pts] + ([baseline] if baseline is not None else [])
    l0, l1 = min(losses), max(losses)
    grid = [[" "] * width for _ in range(height)]
    if baseline is not None:
        y = 0 if l1 == l0 else round((l1 - baseline) / (l1 - l0) * (height - 1))
        grid[y] = ["-"] * width

    def put(step, loss, ch):
        x = 0 if s1 == s0 else round((step - s0) / (s1 - s0) * (width - 1))
        y = 0 if l1 == l0 else round((l1 - loss) / (l1 - l0) * (height - 1))
        if ch == "o" or grid[y][x] == " ":
            grid[y][x] = ch

    for s, v in train:
        put(s, v, "·")
    for s, v in val:
        put(s, v, "o")
    for i, row in enumerate(grid):
        label = f"{l1:8.4f} " if i == 0 else (f"{l0:8.4f} " if i == height - 1 else " " * 9)
        out.append(label, style="dim")
        out.append("".join(row) + "│\n")
    out.append(" " * 9 + f"step {s0}" + " " * max(1, width - 12 - len(str(s1))) + f"{s1}\n", style="dim")
    last = train[-1] if train else None
    if last:
        out.append(f"train loss {last[1]:.4f} at step {last[0]}", style="bold")
    if val:
        out.append(f"   val {val[-1][1]:.4f} (o)", style="bold")
    if baseline is not None:
        out.append(f"   noise {baseline:.4f} (-)", style="dim")
    return out


class ModelsScreen(AuditionMixin, StoreScreen):
    NAME = "models"
    STATUS_ID = "mod-status"
    BINDINGS = [
        Binding("u", "set_current", "make current"),
        Binding("b", "go_back", "back to the previous current"),
        Binding("m", "note", "note"),
        Binding("y", "symbol", "attach a symbol"),
        Binding("p", "play_preview", "play a preview"),
        Binding("t", "train", "train a new generation"),
        Binding("x", "cancel", "cancel the run"),
        Binding("P", "plot", "picture of the curves"),
        Binding("c", "compare", "mark to compare"),
        Binding("g", "reload", "reload"),
        Binding("escape", "stop_playback", "stop", show=False),
    ]
    DEFAULT_CSS = """
    ModelsScreen #mod-body { height: 1fr; }
    ModelsScreen #mod-left { width: 1fr; }
    ModelsScreen #mod-right { width: 64; }
    ModelsScreen .mod-title { text-style: bold; background: $panel; }
    ModelsScreen #mod-status { height: 1; background: $panel; padding: 0 1; }
    """

    # what a run started from this screen asks for (tests make it tiny); see make_request
    train_options: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows: list[tuple[int, dict]] = []
        self.current: int | None = None
        self.notes: dict[int, list[dict]] = {}
        self.selected: int | None = None
        self.curve: dict = {"train": [], "val": []}
        self.previews: dict[str, list[Path]] = {}
        self.received: dict = {}                 # rehearsal.play.reception of the selected one
        self.preview_index = 0
        self.runs: dict[int, object] = {}        # generation id -> TrainingRun started here
        self.ended: dict[int, dict | None] = {}  # generation id -> the run's end event
        self.loaded = False                      # the lineage has been read once
        self.train_options = dict(type(self).train_options)
        self.compared: list[int] = []            # marked with `c`: drawn together by `P`
        self.plotted: Path | None = None         # the last picture `P` wrote

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="mod-body"):
            with Vertical(id="mod-left"):
                yield Static("Lineage (★ current)", classes="mod-title")
                yield DataTable(id="mod-lineage", cursor_type="row")
            with Vertical(id="mod-right"):
                yield Static("", id="mod-detail")
                yield Static("Loss", classes="mod-title")
                yield Static("", id="mod-curve")
        yield Static("", id="mod-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#mod-lineage", DataTable).add_columns(
            "generation", "status", "strategy", "family", "dataset", "val loss", "steps", "notes")
        self.open_store()
        self.load()
        self.set_interval(0.5, self.refresh_curve, name="loss-curve")

    def on_unmount(self) -> None:
        for run in self.runs.values():
            if run.running:
                run.cancel()

    # -- lineage ---------------------------------------------------------------------------
    @work(name="models-load", group="models-load", exclusive=True)
    async def load(self) -> None:
        try:
            rows, current, notes = await self.store.call(load_lineage)
        except Exception as exc:
            self.post_message(StoreFailed("read the generations", str(exc)))
            return
        self.post_message(LineageLoaded(rows, current, notes))

    def on_lineage_loaded(self, msg: LineageLoaded) -> None:
        self.rows, self.current, self.notes = msg.rows, msg.current, msg.notes
        self.loaded = True
        table = self.query_one("#mod-lineage", DataTable)
        keep = self.selected
        table.clear()
        for depth, g in self.rows:
            star = "★ " if g["id"] == self.current else "  "
            name = star + ("  " * (depth - 1) + "└ " if depth else "") + g["name"]
            m = g["metrics"] or {}
            val = m.get("val_loss")
            n = self.notes.get(g["id"], [])
            note = " ".join((x["symbol"] or "") + (f" {x['text']}" if x["text"] else "") for x in n)[:30]
            status = Text(g["status"], style="bold red") if g["status"] == "failed" else g["status"]
            table.add_row(name, status, g["strategy"], g["family"], short_ref(g["dataset_ref"]),
                          f"{val:.4f}" if isinstance(val, (int, float)) else "", str(m.get("steps", "")), note,
                          key=str(g["id"]))
        ids = [g["id"] for _, g in self.rows]
        if ids:
            row = ids.index(keep) if keep in ids else len(ids) - 1
            table.move_cursor(row=row)
            self.select(ids[row])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.select(int(event.row_key.value))

    def generation(self, gen_id: int | None) -> dict | None:
        return next((g for _, g in self.rows if g["id"] == gen_id), None)

    def select(self, gen_id: int) -> None:
        changed = gen_id != self.selected
        self.selected = gen_id
        if changed:
            self.preview_index = 0
            self.curve = {"train": [], "val": []}
        self.draw_detail()
        self.read_detail(gen_id)

    def draw_detail(self) -> None:
        g = self.generation(self.selected)
        out = Text()
        if g is not None:
            out.append(f"{g['name']}", style="bold")
            out.append(f"  {g['status']}" + ("  ★ current" if g["id"] == self.current else ""))
            out.append(f"\n{g['strategy']} · {g['family']} · dataset {g['dataset_ref']}")
            if g.get("parent_id"):
                out.append(f" · from g{g['parent_id']}")
            m = {k: v for k, v in (g["metrics"] or {}).items()
                 if isinstance(v, (int, float, str)) and not isinstance(v, bool)}    # not the stored curve
            if m:
                out.append("\n" + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in m.items()))
            if g.get("error"):   # why it failed (or was cancelled), in the words the worker wrote
                out.append(f"\n{g['status']}: {g['error']}", style="bold red" if g["status"] == "failed" else "yellow")
            for n in self.notes.get(g["id"], []):
                out.append(f"\n  {n['symbol'] or '✎'} {n['text'] or ''}  ({n['who'] or '?'})")
            for line in reception_lines(self.received if self.received.get("generation_id") == g["id"] else {}):
                out.append("\n" + line)
            files = [p for k, ps in self.previews.items() for p in ps]
            if files:
                out.append(f"\npreviews: {len(files)} (p plays: {', '.join(sorted(self.previews))})", style="dim")
        self.query_one("#mod-detail", Static).update(out)
        baseline = ((g or {}).get("metrics") or {}).get("baseline_val_loss")
        self.query_one("#mod-curve", Static).update(
            sparkline_plot(self.curve, baseline=baseline if isinstance(baseline, (int, float)) else None))

    @work(name="models-detail", group="models-detail", exclusive=True)
    async def read_detail(self, gen_id: int) -> None:
        try:
            detail = await self.store.call(generation_detail, self.app.ws, gen_id)
        except Exception as exc:
            self.post_message(StoreFailed(f"read g{gen_id}", str(exc)))
            return
        self.post_message(GenerationDetail(*detail))

    def on_generation_detail(self, msg: GenerationDetail) -> None:
        if msg.gen_id != self.selected:
            return
        self.curve, self.previews, self.received = msg.curve, msg.previews, msg.received
        self.draw_detail()

    def refresh_curve(self) -> None:
        """Timer: while the selected generation trains, re-read its loss curve."""
        g = self.generation(self.selected)
        if g is not None and (g["status"] in ("queued", "running") or g["id"] in self.runs):
            self.read_detail(g["id"])

    # -- pictures --------------------------------------------------------------------------------
    def action_compare(self) -> None:
        gid = self.selected
        if gid is None:
            return
        if gid in self.compared:
            self.compared.remove(gid)
        else:
            self.compared.append(gid)
        self.say("compared in the picture (P): " + (", ".join(f"g{i}" for i in self.compared) or "none"))

    def action_plot(self) -> None:
        gid = self.selected
        if gid is None:
            return
        ids = [gid] + [i for i in self.compared if i != gid]
        self.say("drawing " + ", ".join(f"g{i}" for i in ids) + "…")
        self.write_plot(ids)

    @work(name="models-plot", group="models-plot", exclusive=True, thread=True)
    def write_plot(self, ids: list[int]) -> None:
        from ...store import open_db
        from ...training.plots import plot_generations

        ws = self.app.ws
        path = ws.folder("exports") / ("-".join(f"g{i}" for i in ids) + "-training.png")
        db = open_db(ws.db_path)
        try:
            drawn = plot_generations(ws, db, ids, path)
        except Exception as exc:
            self.post_message(PlotWritten(None, [], str(exc)))
            return
        finally:
            db.conn.close()
        self.post_message(PlotWritten(drawn.path, drawn.labels))

    def on_plot_written(self, msg: PlotWritten) -> None:
        if msg.error:
            self.post_message(StoreFailed("draw the curves", msg.error))
            return
        self.plotted = msg.path
        self.say(f"picture: {msg.path}")

    # -- current, notes ----------------------------------------------------------------------
    @work(name="models-edit", group="models-edit")
    async def edit(self, verb: str, fn, *args, **kwargs) -> None:
        try:
            await self.store.call(fn, *args, **kwargs)
        except Exception as exc:
            self.post_message(StoreFailed(verb, str(exc)))
            return
        self.post_message(ModelsChanged(verb))

    def on_models_changed(self, msg: ModelsChanged) -> None:
        self.say(msg.verb)
        self.load()

    def action_set_current(self) -> None:
        from ...training import set_current

        if self.selected is not None:
            self.edit(f"g{self.selected} is current", set_current, self.selected, by=WHO)

    def action_go_back(self) -> None:
        from ...training import go_back

        self.edit("back to the previous current model", go_back, by=WHO)

    def action_note(self) -> None:
        from ...training import add_note

        gid = self.selected
        if gid is None:
            return
        self.app.push_screen(TextPrompt(f"Note on g{gid}", placeholder="what the collective heard"),
                             lambda text: text and self.edit(f"note on g{gid}", add_note, gid, text=text, who=WHO))

    def action_symbol(self) -> None:
        from ...training import add_note

        gid = self.selected
        symbols = list(getattr(self.app.notation, "symbols", None) or [])   # the collective's notation
        if gid is None or not symbols:
            self.say("no notation symbols to attach")
            return
        options = [(s.id, f"{s.glyph} {s.label}") for s in symbols]
        self.app.push_screen(PickScreen(f"Attach a symbol to g{gid}", options),
                             lambda sym: sym and self.edit(f"{sym} on g{gid}", add_note, gid, symbol=sym, who=WHO))

    # -- previews -----------------------------------------------------------------------------
    def action_play_preview(self) -> None:
        files = [p for k in sorted(self.previews, key=lambda k: (k == "input", k)) for p in self.previews[k]]
        if not files:
            self.say("no previews for this generation")
            return
        path = files[self.preview_index % len(files)]
        self.preview_index += 1
        self.say(f"playing {path.parent.name}/{path.name}")
        self.audition(self.preview_index, path)

    def action_stop_playback(self) -> None:
        self.stop_audition()

    # -- training -----------------------------------------------------------------------------
    def action_train(self) -> None:
        self.pick_dataset()

    @work(name="models-datasets", group="models-edit")
    async def pick_dataset(self) -> None:
        from ...training import training_strategies
        from ...training.spec import BUDGET_WORDS, parse_budget   # the CLI's --budget parser

        try:
            choices = await self.store.call(dataset_choices, self.app.ws)
        except Exception as exc:
            self.post_message(StoreFailed("list the datasets", str(exc)))
            return
        if not choices:
            self.say("no dataset yet: commit one on the Curation screen (F4)")
            return
        dataset = await self.app.push_screen_wait(PickScreen("Train from which dataset?", choices))
        if not dataset:
            return
        strategies = [(name, f"{name}  {getattr(s, 'description', '') or ''}".strip())
                      for name, s in sorted(training_strategies().items())]
        strategy = await self.app.push_screen_wait(PickScreen("With which strategy?", strategies))
        if not strategy:
            return
        options = dict(self.train_options)
        steer = await self.pick_family_and_steering(dataset, strategy, options)
        if steer is None:
            return
        budget = await self.app.push_screen_wait(TextPrompt(
            f"Budget: {BUDGET_WORDS}; empty: the strategy's default", "", placeholder="3m"))
        if budget is None:
            return
        try:
            options = {**options, **parse_budget(budget)}
        except ValueError as exc:
            self.post_message(StoreFailed("use that budget", str(exc)))
            return
        self.train(dataset, strategy, options)

    async def pick_family_and_steering(self, dataset: str, strategy: str, options: dict) -> str | None:
        """The form's family (unless the strategy has its own) and steering: `options` gets the
        family and, steered, `condition=symbols`. Returns "none" or "symbols", None when cancelled.
        Steering by symbols is offered where the family supports it and shown disabled with
        the reason where not (steering_choice)."""
        try:
            fixed, families = await self.store.call(family_choices, strategy, options)
        except Exception as exc:
            self.post_message(StoreFailed("list the model families", str(exc)))
            return None
        family = fixed or await self.app.push_screen_wait(PickScreen("Which model family?", families))
        if not family:
            return None
        if not fixed:
            options["family"] = family
        try:
            learned, why = await self.store.call(steering_choice, self.app.ws, dataset, strategy, family, options)
        except Exception as exc:
            self.post_message(StoreFailed("read the dataset's symbols", str(exc)))
            return None
        shown = [("none", STEER_LABELS["none"]),
                 ("symbols", STEER_LABELS["symbols"] + (f": {', '.join(learned[:12])}" if learned else
                                                        f"  (not here: {why})"))]
        steer = await self.app.push_screen_wait(PickScreen(
            f"Steer the {family} model by symbols?", shown, disabled=("symbols",) if why else (),
            note=f"Not available: {why}." if why else "An embedding per symbol of the dataset's clips; in play the "
                                                      "current symbol (a score, OSC, a tag) steers it."))
        if steer == "symbols":
            options["params"] = {**options.get("params", {}), "condition": "symbols"}
        return steer

    @work(name="models-plan", group="models-edit")
    async def train(self, dataset: str, strategy: str, options: dict) -> None:
        try:
            ids = await self.store.call(plan, self.app.ws, dataset, strategy, options)
        except Exception as exc:
            self.post_message(StoreFailed("plan the training", str(exc)))
            return
        self.post_message(TrainingStarted(ids))
        self.watch_runs(ids)

    @work(name="training-poll", group="training", thread=True)
    def watch_runs(self, ids: list[int]) -> None:
        """Start each planned generation in turn (its own process) and poll it until it ends."""
        from ...training import start_run

        worker = self._current_worker()
        for gid in ids:
            try:
                run = start_run(self.app.ws, gid, threads=1, low_priority=self.app.input.recording)
            except Exception as exc:
                if " is cancelled" in str(exc):      # `x` on a generation still waiting its turn
                    self.post_message(TrainingEnded(gid, None, {"status": "cancelled"}))
                else:
                    self.post_message(StoreFailed(f"start g{gid}", str(exc)))
                continue
            self.runs[gid] = run
            while run.running:
                if worker.is_cancelled:      # the app is closing: a run it started stops (resumable)
                    run.cancel()
                    run.wait(60)
                    return
                events = run.poll()
                if events:
                    self.post_message(TrainingProgress(gid, events))
                try:
                    run.process.wait(0.25)   # wakes at once when the process ends
                except subprocess.TimeoutExpired:
                    pass
            code = run.wait(30)
            events = run.poll()
            if events:
                self.post_message(TrainingProgress(gid, events))
            self.post_message(TrainingEnded(gid, code, run.ended))

    def _current_worker(self):
        from textual.worker import get_current_worker

        return get_current_worker()

    def on_training_started(self, msg: TrainingStarted) -> None:
        self.say(f"training {', '.join(f'g{i}' for i in msg.gen_ids)}…")
        self.selected = msg.gen_ids[0]
        self.load()

    def on_training_progress(self, msg: TrainingProgress) -> None:
        last = next((e for e in reversed(msg.events) if e.get("event") == "step"), None)
        if last is not None:
            left = last.get("time_left_s")
            self.say(f"g{msg.gen_id}: step {last.get('step')} loss {last.get('loss', 0):.4f}"
                     + (f", {left:.0f} s left" if isinstance(left, (int, float)) else ""))
        if msg.gen_id == self.selected:
            self.read_detail(msg.gen_id)
        if any(e.get("event") == "start" for e in msg.events):
            self.load()

    def on_training_ended(self, msg: TrainingEnded) -> None:
        self.ended[msg.gen_id] = msg.ended
        status = (msg.ended or {}).get("status") or ("exit code %s" % msg.code)
        error = (msg.ended or {}).get("error")
        self.say(f"g{msg.gen_id} {status}" + (f": {error}" if error else ""))
        self.load()

    def action_cancel(self) -> None:
        gid = self.selected
        run = self.runs.get(gid)
        if run is not None and run.running:
            run.cancel()
            self.say(f"cancelling g{gid}…")
            return
        from ...training import cancel_run

        if gid is not None:
            self.edit(f"cancel asked of g{gid}", lambda db, g: cancel_run(self.app.ws, db, g), gid)


register_screen(ScreenSpec(name="models", title="Models", key="f5", factory=ModelsScreen, order=50,
                           help="lineage, loss curves, previews, current model, notes; train and cancel"))
