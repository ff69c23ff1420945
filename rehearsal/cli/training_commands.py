"""`rehearsal train`, `rehearsal models`, `rehearsal model ...`, `rehearsal render`, `rehearsal export`.

Training runs in its own process (rehearsal.training.worker); these commands plan it, start
it, draw its progress, and cancel it cleanly on Ctrl-C. Only render and export import torch.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from ..notation.load import printable
from . import main
from .common import fail, open_workspace_db


def _training():
    from .. import training

    return training


def _params(values) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"-p {item!r}: write KEY=VALUE (for example -p lr=0.001)")
        out[key.strip()] = value.strip()
    return out


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _loss(v) -> str:
    return "-" if v is None else f"{v:.3f}"


class ProgressLine:
    """One line redrawn in place: name, a bar, step, losses, time left."""

    WIDTH = 24

    def __init__(self, name: str, label: str, enabled: bool):
        self.name, self.label, self.enabled = name, label, enabled
        self.fraction, self.step, self.loss, self.val, self.left = 0.0, 0, None, None, None

    def update(self, e: dict) -> None:
        kind = e.get("event")
        if kind == "step":
            self.step, self.loss = e["step"], e.get("loss")
            self.fraction = e.get("fraction") or self.fraction
            self.left = e.get("time_left_s")
        elif kind == "eval":
            self.val = e.get("best_val")
        elif kind in ("notice", "checkpoint"):
            self.clear()
            if kind == "notice":
                click.echo(f"  {self.name}: {e['message']}")
            else:
                click.echo(f"  {self.name}: kept {e['kind']} checkpoint at step {e['step']}"
                           f" ({len(e.get('previews', []))} previews)")
        self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        done = int(self.WIDTH * min(1.0, self.fraction))
        bar = "█" * done + "░" * (self.WIDTH - done)
        click.echo(f"\r  {self.name} {self.label[:22]:<22} {bar} {self.fraction * 100:3.0f}%  step {self.step:>5}  "
                   f"loss {_loss(self.loss)}  val {_loss(self.val)}  {_fmt_s(self.left)} left ", nl=False)

    def clear(self) -> None:
        if self.enabled:
            click.echo("\r" + " " * 110 + "\r", nl=False)


def _follow(ws, db, run, gen: dict, show_bar: bool) -> dict | None:
    """Draw a run's progress until it ends; Ctrl-C cancels it (and waits for its last save)."""
    line = ProgressLine(gen["name"], gen["label"], show_bar)
    try:
        for e in run.events():
            line.update(e)
    except KeyboardInterrupt:
        line.clear()
        click.echo(f"  {gen['name']}: cancelling (saving where it is)...")
        run.cancel()
        run.wait(120)
        for e in run.poll():
            line.update(e)
        raise
    line.clear()
    return run.ended


@main.command()
@click.option("--dataset", "-d", help="A dataset version (name, name@N, id) or a folder with metadata.jsonl.")
@click.option("--strategy", "-s", default="convergent", show_default=True,
              help="convergent | one-shot | specialise (or a plugin's).")
@click.option("--family", "-f", help="Model family: pitch | latent | autoregressive (default: the parent's, else pitch).")
@click.option("--from", "parent", metavar="GEN", help="Start from this generation (convergent: default current).")
@click.option("--scratch", is_flag=True, help="Start from scratch even when a current generation exists.")
@click.option("--budget", help="Budget per model: a wall-clock time (90s, 5 minutes, 1h30m) or steps (500 steps).")
@click.option("--steps", type=int, help="Budget in steps, like --budget '500 steps' (reproducible with --seed).")
@click.option("--seed", type=int, help="Random seed (recorded; default: a random one).")
@click.option("--count", type=int, default=1, show_default=True, help="one-shot: how many models.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1...")
@click.option("--threads", type=int, help="CPU threads for torch (default: every core; one while a take records).")
@click.option("--low-priority", is_flag=True, help="One thread and nice +10 (automatic while a take records).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Strategy option, run setting or family parameter (see `rehearsal train --explain`).")
@click.option("--condition", type=click.Choice(["none", "symbols"]),
              help="symbols: steered by the notation, an embedding per symbol of the clips (latent family).")
@click.option("--set-current", "set_current", is_flag=True, help="Make the result current if it completes.")
@click.option("--resume", metavar="GEN", help="Continue a cancelled run from its last save.")
@click.option("--explain", is_flag=True, help="List strategies, families and their settings, then exit.")
@click.pass_context
def train(ctx, dataset, strategy, family, parent, scratch, budget, steps, seed, count, device, threads,
          low_priority, params, condition, set_current, resume, explain) -> None:
    """Train the next model generation(s) from a dataset, each in its own process."""
    T = _training()
    if explain:
        _explain(T)
        return
    ws, db = open_workspace_db(ctx)
    T.reconcile(db)
    _check_device(device)
    show_bar = sys.stdout.isatty()
    if resume:
        try:
            gen = T.get_generation(db, resume)
        except LookupError as exc:
            fail(str(exc))
        ids = [gen["id"]]
    else:
        if not dataset:
            fail("name a dataset: --dataset NAME (a dataset version) or --dataset PATH (a folder)")
        if budget is not None and steps is not None:
            fail("give one budget: --budget (a time, or N steps) or --steps N")
        try:
            # one parser for budgets, the TUI's too: nothing ('0s') is refused before a generation exists
            limits = T.parse_budget(f"{steps} steps" if steps is not None else budget or "")
        except ValueError as exc:
            fail(f"--budget: {exc}" if steps is None else f"--steps: {exc}")
        try:
            ds = T.resolve_dataset(ws, db, dataset)
            settings = _params(params)
            if condition is not None:
                settings["condition"] = condition
            request = T.make_request(db, ds, strategy, family=family, parent_ref=parent, scratch=scratch,
                                     seed=seed, count=count, params=settings, **limits)
            ids = T.plan_generations(ws, db, request, device=device)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
        click.echo(f"{strategy} on {ds.ref} ({len(ds.clips)} clips): "
                   + ", ".join(T.get_generation(db, i)["name"] for i in ids))
    # SIGTERM (and a closed terminal) stop the run as Ctrl-C does: the worker lives in its own
    # session, so without this it would go on training, orphaned
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    failed = 0
    for n, gen_id in enumerate(ids):
        gen = T.get_generation(db, gen_id)
        parent_txt = f" from g{gen['parent_id']}" if gen["parent_id"] else " from scratch"
        click.echo(f"{gen['name']}: {gen['label']} ({gen['family']}{parent_txt}, seed {gen['seed']})")
        try:
            run = T.start_run(ws, gen_id, resume=bool(resume), threads=threads, low_priority=low_priority,
                              device=device, set_current="" if set_current else None,
                              max_steps=steps if resume else None, db=db)
        except RuntimeError as exc:
            fail(str(exc))
        try:
            end = _follow(ws, db, run, gen, show_bar)
        except KeyboardInterrupt:
            for later in ids[n + 1:]:
                T.cancel_run(ws, db, later)
            g = T.get_generation(db, gen_id)
            click.echo(f"{g['name']}: {g['status']} at step {g['metrics'].get('steps', 0)}; "
                       f"continue with `rehearsal train --resume {g['name']}`")
            ctx.exit(130)
        died = T.describe_end(ws, db, run)
        if died:
            click.echo(f"  {died}", err=True)
            failed += 1
            continue
        failed += _report(T, db, gen_id, end)
    if failed:
        ctx.exit(1)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _report(T, db, gen_id: int, end: dict | None) -> int:
    g = T.get_generation(db, gen_id)
    m = g["metrics"]
    if g["status"] == "complete":
        vs = f", noise baseline {_loss(m.get('baseline_val_loss'))}" if m.get("baseline_val_loss") else ""
        click.echo(f"  {g['name']} complete: {m.get('steps')} steps in {_fmt_s(m.get('elapsed_s'))}, "
                   f"train loss {_loss(m.get('train_loss'))}, val loss {_loss(m.get('val_loss'))}{vs} "
                   f"[{m.get('stop_reason')}]")
        return 0
    click.echo(f"  {g['name']} {g['status']}: {g['error'] or (end or {}).get('error') or ''}".rstrip(), err=True)
    return 1


def _check_device(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            fail(f"--device {device}: no CUDA device here (torch {torch.__version__}); use --device cpu")
    elif device != "cpu":
        fail(f"--device {device!r}: use cpu or cuda[:N]")


def _steering(family) -> str:
    """Whether a family can be steered by symbols, in words (`train --explain`, `models`)."""
    if "symbols" in family.conditions:
        return "steered by symbols: yes (--condition symbols)"
    return "steered by symbols: no"


def _explain(T) -> None:
    from ..training.spec import SPEC_FIELDS

    click.echo("strategies:")
    for name, s in sorted(T.training_strategies().items()):
        click.echo(f"  {name:12} {s.summary}")
        for opt, doc in getattr(s, "options", {}).items():
            click.echo(f"      -p {opt}=...  {doc}")
    click.echo("families:")
    for name, f in sorted(T.model_families().items()):
        click.echo(f"  {name:12} {f.summary}")
        click.echo(f"      {_steering(f)}")
        click.echo("      " + ", ".join(f"{k}={v}" for k, v in f.defaults().items()))
    click.echo("run settings (-p KEY=VALUE): " + ", ".join(
        k for k in SPEC_FIELDS if k not in ("family", "strategy", "family_params", "label", "seed", "parent_id")))


# -- models -------------------------------------------------------------------------------

def _gen_line(T, db, g: dict, current_ids: dict) -> str:
    from ..training.family import steering_symbols

    m = g["metrics"]
    bits = [f"{g['name']:<5}", f"{g['label']}", f"[{g['family']}]", g["status"]]
    if g["status"] == "failed" and g["error"]:
        bits[-1] += f" ({g['error']})"          # why, where the collective looks first
    if m.get("val_loss") is not None:
        bits.append(f"val {m['val_loss']:.3f}")
    elif m.get("train_loss") is not None:
        bits.append(f"train {m['train_loss']:.3f}")
    if m.get("steps"):
        bits.append(f"{m['steps']} steps {_fmt_s(m.get('elapsed_s'))}")
    bits.append(f"data {g['dataset_ref'] if len(g['dataset_ref']) < 30 else '…' + g['dataset_ref'][-28:]}")
    if g["symbols"]:
        bits.append("symbols " + ",".join(g["symbols"]))
    steered = steering_symbols(g)
    if steered:
        bits.append("steered by " + " ".join(steered))
    for scope, gid in current_ids.items():
        if gid == g["id"]:
            bits.append("★ current" + (f" ({scope})" if scope else ""))
    notes = T.notes(db, g["id"])
    if notes:
        bits.append("  " + "; ".join(n["symbol"] and (n["symbol"] + (f" {n['text']}" if n["text"] else ""))
                                    or f"\"{n['text']}\"" for n in notes[-3:]))
    return "  ".join(bits)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The generations as JSON.")
@click.pass_context
def models(ctx, as_json) -> None:
    """Model generations as a lineage tree (parent -> children), current one starred."""
    import json

    T = _training()
    ws, db = open_workspace_db(ctx)
    T.reconcile(db)
    if as_json:
        click.echo(json.dumps(T.list_generations(db), indent=2, ensure_ascii=False, default=str))
        return
    scopes = [r["scope"] for r in db.query("SELECT DISTINCT scope FROM current_models")]
    current_ids = {s: T.current_generation(db, s)["id"] for s in scopes}
    roots = T.lineage_tree(db)
    if not roots:
        click.echo("no models yet: `rehearsal train --dataset D` trains the first")
        return

    def walk(node, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        click.echo(prefix + branch + _gen_line(T, db, node.generation, current_ids))
        child_prefix = prefix + ("" if root else ("   " if last else "│  "))
        for i, child in enumerate(node.children):
            walk(child, child_prefix, i == len(node.children) - 1, False)

    for r in roots:
        walk(r, "", True, True)


@main.group()
def model() -> None:
    """One generation: choose the current one, go back, annotate, inspect, cancel."""


@model.command("set-current")
@click.argument("gen")
@click.option("--scope", default="", help="A separate current model (e.g. per sound environment).")
@click.option("--who", help="Who chose it.")
@click.pass_context
def set_current_cmd(ctx, gen, scope, who) -> None:
    """Make GEN the current model."""
    T = _training()
    _, db = open_workspace_db(ctx)
    try:
        g = T.set_current(db, gen, by=who, scope=scope)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"current{f' ({scope})' if scope else ''}: {g['name']} {g['label']}")


@model.command("back")
@click.option("--scope", default="")
@click.option("--who")
@click.pass_context
def back_cmd(ctx, scope, who) -> None:
    """Make current again the generation that was current before."""
    T = _training()
    _, db = open_workspace_db(ctx)
    try:
        g = T.go_back(db, by=who, scope=scope)
    except LookupError as exc:
        fail(str(exc))
    click.echo(f"current{f' ({scope})' if scope else ''}: {g['name']} {g['label']}")


def _resolve_symbol(db, text: str) -> str:
    """A symbol of the collective's notations (by id, glyph or ascii); any text if none is stored."""
    from ..store.notations import load_stored_notation

    ids = [r["id"] for r in db.query("SELECT id FROM notations ORDER BY id DESC")]
    known = []
    for nid in ids:
        try:
            n = load_stored_notation(db, nid)
        except Exception:
            continue
        for s in n.symbols:
            if text in (s.id, s.glyph, s.ascii):
                return s.id
            known.append(f"{s.glyph} {s.id}")
    if not ids:
        return text
    fail(f"{text!r} is not a symbol of your notations; they have: {', '.join(dict.fromkeys(known))}")


@model.command("note")
@click.argument("gen")
@click.argument("text", required=False)
@click.option("--symbol", help="A symbol of your notation (id, glyph or ascii).")
@click.option("--who", help="Who says so.")
@click.pass_context
def note_cmd(ctx, gen, text, symbol, who) -> None:
    """Attach a note or a symbol to a generation ("too cacophonous", "it follows me")."""
    T = _training()
    _, db = open_workspace_db(ctx)
    if not text and not symbol:
        fail("give a note text, a --symbol, or both")
    sym = _resolve_symbol(db, symbol) if symbol else None
    try:
        T.add_note(db, gen, text=text, symbol=sym, who=who)
    except LookupError as exc:
        fail(str(exc))
    click.echo(f"noted on {T.get_generation(db, gen)['name']}")


@model.command("show")
@click.argument("gen")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Also draw its loss and validation curves (steps and wall time, noise baseline, parent) "
                   "to this .png or .svg.")
@click.option("--compare", "compare", multiple=True, metavar="GEN",
              help="With --plot: more generations on the same axes (repeat).")
@click.pass_context
def show_cmd(ctx, gen, plot, compare) -> None:
    """Everything about one generation: lineage, data, settings, metrics, checkpoints, previews."""
    T = _training()
    ws, db = open_workspace_db(ctx)
    try:
        g = T.get_generation(db, gen)
        others = [T.get_generation(db, c)["id"] for c in compare]
    except LookupError as exc:
        fail(str(exc))
    if compare and not plot:
        fail("--compare draws generations together: give --plot FILE.png too")
    spec = T.RunSpec.from_json(g["spec_json"])
    m = g["metrics"]
    click.echo(f"{g['name']}  {g['label']}  [{g['family']}]  {g['status']}" + (f": {g['error']}" if g["error"] else ""))
    click.echo("lineage: " + " <- ".join(a["name"] for a in T.ancestry(db, g["id"])))
    if g["dataset_ref"]:
        click.echo(f"dataset: {g['dataset_ref']}" + (f" (version id {g['dataset_version_id']})"
                                                       if g["dataset_version_id"] else "")
                   + f"  sha256 {g['dataset_hash'][:12]}")
    else:
        click.echo("dataset: none named")
    click.echo(f"strategy: {g['strategy']}  seed {g['seed']}  init {spec.init}  budget "
               f"{_fmt_s(spec.budget_s) if spec.budget_s else '-'} / {spec.max_steps or '-'} steps  lr {spec.lr}")
    imported = m.get("imported")
    if imported:
        click.echo(f"imported from {imported.get('from')}: {imported['sample_rate']} Hz, plays {imported['play']}, "
                   f"buffer {imported['buffer']}, latency {imported['latency_samples']} samples, latent "
                   f"{imported.get('latent_size')}, methods {', '.join(imported['methods'])}")
        if m.get("lineage"):
            click.echo("lineage facts: " + ", ".join(f"{k} {v}" for k, v in m["lineage"].items()))
    if m and (not imported or g["strategy"] != "import"):     # a run here (RAVE's too): its figures
        click.echo(f"metrics: steps {m.get('steps')}  time {_fmt_s(m.get('elapsed_s'))}  train {_loss(m.get('train_loss'))}"
                   f"  val {_loss(m.get('val_loss'))}  baseline {_loss(m.get('baseline_val_loss'))}")
    for c in T.list_checkpoints(db, g["id"]):
        click.echo(f"  {c['kind']:5} step {c['step']:>6}  {c['path']}  val {_loss(c['val_loss'])}  previews {c['previews']}")
    for n in T.notes(db, g["id"]):
        click.echo(f"  note: {n['symbol'] or ''} {n['text'] or ''}  — {n['who'] or '?'} {n['created_at']}")
    if plot:
        from ..training.plots import plot_generations

        try:
            drawn = plot_generations(ws, db, [g["id"], *others], plot)
        except ValueError as exc:
            fail(str(exc))
        click.echo(f"plot: {drawn.path}  ({'; '.join(drawn.labels) or 'no loss recorded yet'})")


@model.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", "dataset_ref", help="The dataset (version or folder) it was trained on.")
@click.option("--parent", help="The generation it descends from (g7).")
@click.option("--note", help="A note kept with it.")
@click.option("--label", help="Its label (default: import <file name>).")
@click.option("--family", type=click.Choice(["rave", "external"]), help="Default: rave when its methods say so.")
@click.option("--sample-rate", type=int, help="Its rate, for a module that does not say it.")
@click.option("--no-previews", is_flag=True, help="Do not render the probe clips through it.")
@click.pass_context
def import_cmd(ctx, file, dataset_ref, parent, note, label, family, sample_rate, no_previews) -> None:
    """Make any nn~ TorchScript module (RAVE's `rave export --streaming`, nn_tilde's tools,
    our own exports) a generation: validated as nn~ would call it, then played, compared,
    tagged and curated like ours."""
    from ..training.dataset import DatasetError
    from ..training.imported import ModuleError, import_model, module_info

    ws, db = open_workspace_db(ctx)
    try:
        g = import_model(db, ws, file, dataset_ref=dataset_ref, parent=parent, note=note, family=family,
                         sample_rate=sample_rate, label=label, previews=not no_previews)
    except (ModuleError, DatasetError, LookupError) as exc:
        fail(str(exc))
    info = module_info(g)
    methods = ", ".join(f"{m.name} [{m.in_channels} {m.in_ratio} {m.out_channels} {m.out_ratio}]"
                        for m in info.methods.values())
    click.echo(f"{g['name']}  {g['label']}  [{g['family']}]  {info.sample_rate} Hz ({info.sample_rate_from})  "
               f"latent {info.latent_size if info.latent_size is not None else '-'}  buffer {info.buffer}  "
               f"latency {info.latency_samples} samples  plays {info.play}")
    click.echo(f"  methods: {methods}")
    click.echo(f"  validated in {info.validation_s:.2f} s (buffers {', '.join(map(str, info.buffers_checked))}; "
               f"batch 1, 4, 1)" + (f"; {info.realtime_factor:g}x real time on one thread" if info.realtime_factor
                                    else ""))
    if info.sample_rate != 48000:
        click.echo(f"  plays resampled: {info.sample_rate} Hz <-> the room's 48000 Hz")
    found = g["metrics"].get("lineage_file")
    if found:
        facts = g["metrics"].get("lineage") or {}
        click.echo(f"  lineage from {found['path']}: {found['generation_there']} on {facts.get('made_on') or '?'}; "
                   f"dataset {found['dataset'] or '-'}; parent {found['parent'] or '-'}")
        for missing in found["missing"]:
            click.echo(f"  not here: {missing}")


@model.command("terrain")
@click.argument("gen")
@click.option("--dataset", "-d", "dataset_ref", required=True, help="The dataset version whose clips make the map.")
@click.option("--method", type=click.Choice(["umap", "pca"]), default="umap", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def terrain_cmd(ctx, gen, dataset_ref, method, seed) -> None:
    """Fit the terrain (map point -> this generation's latent) and export it beside the model
    as TorchScript (terrain.ts): the XY pad in Play walks it, a Max/Pd patch can too."""
    T = _training()
    ws, db = open_workspace_db(ctx)
    try:
        T.get_generation(db, gen)
        from ..training.terrain import terrain_for

        done = terrain_for(ws, db, gen, dataset_ref, method=method, seed=seed)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"{done['path']}  ({done['generation']} on {done['dataset']}: {done['clips']} clips, "
               f"{done['method'].upper()} map {done['map_s']} s, terrain fit {done['fit_s']} s, loss {done['loss']})")


@model.command("cancel")
@click.argument("gen")
@click.pass_context
def cancel_cmd(ctx, gen) -> None:
    """Stop a running (or queued) generation; it can be resumed."""
    T = _training()
    ws, db = open_workspace_db(ctx)
    try:
        g = T.cancel_run(ws, db, gen)
    except (LookupError, RuntimeError) as exc:
        fail(str(exc))
    click.echo(f"{g['name']}: cancel requested")


# -- render and export ---------------------------------------------------------------------

def _imported_file(ws, db, ref):
    """The model.ts of an imported generation, or None for one trained here."""
    T = _training()
    try:
        g = T.get_generation(db, ref)
        path = T.checkpoint_for(db, g)["path"]
    except LookupError as exc:
        fail(str(exc))
    return ws.resolve(path) if str(path).endswith(".ts") else None


@main.command()
@click.argument("gen")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("dest", type=click.Path(dir_okay=False), required=False)
@click.option("--score", "score_path", type=click.Path(dir_okay=False),
              help="Render this score with no audio in (GEN steered by symbols): `render GEN --score S OUT.wav`.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --score: same seed, same audio.")
@click.option("--checkpoint", "step", type=int, help="Render with the checkpoint at this step.")
@click.option("--transpose", type=float, default=0.0, help="Semitones (pitch family).")
@click.option("--device", default="cpu")
@click.pass_context
def render(ctx, gen, source, dest, score_path, seed, step, transpose, device) -> None:
    """Resynthesise SOURCE through generation GEN into DEST (48 kHz WAV): timbre transfer.
    With --score S, GEN renders the score from its symbols and dynamics alone into SOURCE."""
    T = _training()
    from ..training.checkpoints import ModelFileError
    from ..training.dataset import DatasetError
    from ..training.render import load_generation_model, render_file

    from ..training.imported import ModuleError

    ws, db = open_workspace_db(ctx)
    _check_device(device)
    if score_path is not None:
        if dest is not None:
            fail(f"--score renders with no audio in: give GEN and OUT.wav only (not {source} and {dest})")
        return _render_score(ws, db, gen, score_path, source, step, seed, device)
    if dest is None:
        fail("render GEN SOURCE DEST (a file to resynthesise and where to write it), or GEN --score S OUT.wav")
    if not Path(source).is_file():
        fail(f"{source}: no such audio file")
    try:
        ckpt_path = _imported_file(ws, db, gen)
        t0 = time.perf_counter()
        if ckpt_path is not None:      # an imported nn~ module: streamed as the play host runs it
            from ..training.render import render_module_file

            g = T.get_generation(db, gen)
            ckpt = T.checkpoint_for(db, g)
            frames = render_module_file(ckpt_path, source, dest)
        else:
            m, g, ckpt = load_generation_model(ws, db, gen, step, device)
            t0 = time.perf_counter()
            frames = render_file(m, source, dest, transpose_semitones=transpose, device=device)
    except (LookupError, ModelFileError, DatasetError, ModuleError) as exc:
        fail(str(exc))
    dt = time.perf_counter() - t0
    click.echo(f"{dest}: {frames / 48000:.2f} s rendered by {g['name']} (step {ckpt['step']}) "
               f"in {dt:.2f} s ({frames / 48000 / max(dt, 1e-9):.0f}x real time)")
    _ = T


def _render_score(ws, db, gen, score_path, dest, step, seed, device) -> None:
    from ..notation.score import ScoreError, load_score
    from ..training.checkpoints import ModelFileError
    from ..training.render import load_generation_model, render_score_file

    try:
        score = load_score(score_path, None, ws.notations_dir)
    except ScoreError as exc:
        fail(str(exc))
    if _imported_file(ws, db, gen) is not None:
        fail(f"{gen} is an imported nn~ module: rehearsal cannot steer it by symbols (train one with "
             "`rehearsal train --family latent --condition symbols`)")
    try:
        m, g, ckpt = load_generation_model(ws, db, gen, step, device)
        t0 = time.perf_counter()
        frames, unknown = render_score_file(m, score, dest, seed=seed, device=device)
    except (LookupError, ModelFileError) as exc:
        fail(str(exc))
    dt = time.perf_counter() - t0
    if unknown:
        click.echo(printable(f"note: {g['name']} never learned {', '.join(unknown)}: those events play as "
                             "'no symbol'"), err=True)
    click.echo(printable(f"{dest}: {frames / 48000:.2f} s of {score.title!r} rendered by {g['name']} "
                         f"(step {ckpt['step']}, seed {seed}) in {dt:.2f} s "
                         f"({frames / 48000 / max(dt, 1e-9):.0f}x real time)"))


@main.command()
@click.argument("gen")
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--seconds", type=float, default=30.0, show_default=True)
@click.option("--prompt", type=click.Path(exists=True, dir_okay=False), help="A take to continue.")
@click.option("--at", "prompt_from", type=float, default=0.0, help="Where the prompt starts in it (s).")
@click.option("--prompt-seconds", type=float, default=4.0, show_default=True)
@click.option("--temperature", type=float, help="Spread of the draws (default: the model's, 1).")
@click.option("--seed", type=int, help="Same seed, same output (default: the model's).")
@click.option("--checkpoint", "step", type=int, help="Generate with the checkpoint at this step.")
@click.pass_context
def generate(ctx, gen, dest, seconds, prompt, prompt_from, prompt_seconds, temperature, seed, step) -> None:
    """Let an autoregressive generation GEN run free into DEST (48 kHz WAV), from nothing or
    continuing a moment of a take (--prompt take.wav --at 12.5)."""
    from ..training.checkpoints import ModelFileError
    from ..training.dataset import DatasetError
    from ..training.render import generate_file, load_generation_model

    ws, db = open_workspace_db(ctx)
    try:
        m, g, ckpt = load_generation_model(ws, db, gen, step)
        t0 = time.perf_counter()
        frames = generate_file(m, dest, seconds, prompt=prompt, prompt_from_s=prompt_from,
                               prompt_seconds=prompt_seconds, temperature=temperature, seed=seed)
    except (LookupError, ModelFileError, DatasetError) as exc:
        fail(str(exc))
    dt = time.perf_counter() - t0
    click.echo(f"{dest}: {frames / 48000:.2f} s generated by {g['name']} (step {ckpt['step']}) "
               f"in {dt:.2f} s ({frames / 48000 / max(dt, 1e-9):.0f}x real time)")


@main.command()
@click.argument("gen")
@click.option("--format", "fmt", default="nn-tilde", show_default=True, help="nn-tilde | weights (or a plugin's).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File to write (default: exports/...).")
@click.option("--checkpoint", "step", type=int, help="Export the checkpoint at this step (any one-shot waste).")
@click.pass_context
def export(ctx, gen, fmt, output, step) -> None:
    """Export a generation for live use: nn~ TorchScript, or weights + JSON configuration."""
    from pathlib import Path

    from ..plugins import registry
    from ..training.checkpoints import ModelFileError
    from ..training.render import load_generation_model

    exporters = registry("exporters")
    if fmt not in exporters:
        fail(f"no exporter {fmt!r}; installed: {', '.join(sorted(exporters))}")
    ws, db = open_workspace_db(ctx)
    imported = _imported_file(ws, db, gen)
    if imported is not None:           # already the nn~ TorchScript file: copied as it is
        import shutil

        if fmt != "nn-tilde":
            fail(f"{gen} is an imported nn~ module: it exports only as nn-tilde (the TorchScript file it is)")
        g = _training().get_generation(db, gen)
        dest = Path(output) if output else ws.folder("exports") / f"{g['name']}-{g['family']}.ts"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(imported, dest)
        click.echo(str(dest))
        return
    try:
        m, g, ckpt = load_generation_model(ws, db, gen, step)
    except (LookupError, ModelFileError) as exc:
        fail(str(exc))
    suffix = f"-step{ckpt['step']}" if step is not None else ""
    dest = Path(output) if output else ws.folder("exports") / f"{g['name']}-{g['family']}{suffix}"
    provenance = {"generation": g["name"], "label": g["label"], "parent": g["parent_id"], "step": ckpt["step"],
                  "dataset": g["dataset_ref"], "dataset_sha256": g["dataset_hash"], "seed": g["seed"],
                  "strategy": g["strategy"]}
    try:
        paths = exporters[fmt](m, g["family"], dest, provenance)
    except (ValueError, RuntimeError) as exc:
        fail(f"export failed: {exc}")
    for p in paths:
        click.echo(str(p))
