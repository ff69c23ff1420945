"""`rehearsal curate`, `rehearsal datasets`, `rehearsal dataset ...`, `rehearsal plugins`."""

from __future__ import annotations

import json
import sys

import click

from . import main
from ..store import open_db
from .common import fail, open_workspace_db, workspace


def _take_names(db) -> dict[int, str]:
    return {r[0]: f"{r[1]}/{r[2]}" for r in db.execute(
        "SELECT t.id, s.name, t.number FROM takes t JOIN sessions s ON s.id = t.session_id")}


def _where(names: dict[int, str], clip) -> str:
    who = f" ({', '.join(clip.who)})" if clip.who else ""
    return (f"{names.get(clip.take_id, f'take#{clip.take_id}')} {clip.start_s:9.3f}-{clip.end_s:9.3f} s "
            f"[{', '.join(clip.symbols)}]{who}")


def _curation_errors():
    from ..curation import CurationError, DatasetNotFound, ExportError, PipelineError, TakeAudioError

    return (CurationError, DatasetNotFound, ExportError, PipelineError, TakeAudioError, ValueError, LookupError)


@main.command()
@click.option("--session", "-s", "sessions", multiple=True, required=True, help="A session (repeat for several).")
@click.option("--pipeline", "-p", required=True,
              help="Pipeline file, or the name of one in <home>/pipelines/ or shipped (good-takes, register).")
@click.option("--name", "-n", help="Dataset name: the run becomes its next version. Required unless --dry-run.")
@click.option("--dry-run", is_flag=True, help="Run every step and report; write no dataset.")
@click.option("--show-removed", is_flag=True, help="List every clip each step removed, and why.")
@click.option("--parent", help="Parent version (default: the latest version of --name).")
@click.option("--by", "created_by", help="Who made this version (kept with it).")
@click.pass_context
def curate(ctx, sessions, pipeline, name, dry_run, show_removed, parent, created_by) -> None:
    """Run a curation pipeline over sessions and save the result as a dataset version."""
    from ..curation import commit, find_pipeline, load_pipeline, start_run

    if not dry_run and not name:
        fail("give the dataset a --name (or use --dry-run to look first)")
    ws, db = open_workspace_db(ctx)
    names = _take_names(db)
    try:
        p = load_pipeline(find_pipeline(pipeline, ws.home / "pipelines"))
        run = start_run(ws, db, p, list(sessions))
        click.echo(f"pipeline {p.name!r} over {', '.join(s['name'] for s in run.sessions)}: "
                   f"{len(run.takes)} takes, {len(run.source_clips)} tagged clips")
        if run.source_removals:
            click.echo(f" 0 markers            {len(run.source_removals)} outside their take's audio")
        for report in run.steps_iter():
            click.echo(report.summary())
            if show_removed:
                for r in report.removals:
                    verb = "~" if r.replaced_by else "-"
                    click.echo(f"     {verb} {_where(names, r.clip)}  {r.reason}")
        total = sum(c.duration_s for c in run.clips)
        if dry_run:
            click.echo(f"dry run: {len(run.clips)} clips, {total:.1f} s; nothing written")
            return
        version = commit(run, name, created_by=created_by, parent=parent)
    except _curation_errors() as exc:
        fail(str(exc))
    parent_note = f" (parent {version.parent_ref})" if version.parent_ref else ""
    click.echo(f"{version.ref}: {version.clip_count} clips, {version.total_s:.1f} s{parent_note}")


@main.command()
@click.pass_context
def datasets(ctx) -> None:
    """List datasets and their versions."""
    from ..curation import list_datasets

    _, db = open_workspace_db(ctx)
    found = list_datasets(db)
    if not found:
        click.echo("no datasets yet: `rehearsal curate --session S --pipeline P --name N` makes one")
    for d in found:
        click.echo(d["name"])
        for v in d["versions"]:
            parent = f" <- {v.parent_ref}" if v.parent_ref else ""
            sessions = ", ".join(s["name"] for s in v.sessions)
            click.echo(f"  @{v.number:<3} #{v.id:<4} {v.clip_count:>5} clips {v.total_s:>8.1f} s  "
                       f"{v.pipeline_name!r} over {sessions}  {v.created_at}{parent}")


@main.group()
def dataset() -> None:
    """Look at, compare and export dataset versions (REF: name, name@3, name/v3 or an id)."""


@dataset.command("show")
@click.argument("ref")
@click.option("--removed", is_flag=True, help="Also list what each step removed, and why.")
@click.option("--step", "step_index", type=int, help="Only the removals of this step (1-based).")
@click.option("--pipeline", "show_pipeline", is_flag=True, help="Print the pipeline text that made it.")
@click.pass_context
def dataset_show(ctx, ref, removed, step_index, show_pipeline) -> None:
    """A version: lineage, steps, clips (and removals)."""
    from ..curation import version_clips, version_info, version_removals, version_steps

    _, db = open_workspace_db(ctx)
    try:
        info = version_info(db, ref)
    except _curation_errors() as exc:
        fail(str(exc))
    names = _take_names(db)
    click.echo(f"{info.ref} (#{info.id}): {info.clip_count} clips, {info.total_s:.1f} s")
    click.echo(f"  parent    {info.parent_ref or '-'}")
    click.echo(f"  pipeline  {info.pipeline_name!r} ({info.pipeline_source or 'text'}, sha256 {info.pipeline_sha256[:12]})")
    click.echo(f"  sessions  {', '.join(s['name'] for s in info.sessions)}")
    click.echo(f"  made      {info.created_at}{' by ' + info.created_by if info.created_by else ''}")
    for s in version_steps(db, info.id):
        click.echo(f"  step {s['step_index']:>2} {s['step_name']:<18} {s['clips_in']:>5} -> {s['clips_out']:<5} "
                   f"{s['seconds_in']:>8.1f} -> {s['seconds_out']:.1f} s  ({s['plugin']})")
    if show_pipeline:
        click.echo("")
        click.echo(info.pipeline_toml.rstrip())
    click.echo("")
    for sc in version_clips(db, info.id):
        d = sc.descriptors
        pitch = f"{d['pitch_hz']:.0f} Hz" if d.get("pitch_hz") else "unpitched"
        loud = f"{d['loudness_db']:.1f} dB" if d.get("loudness_db") is not None else "-"
        click.echo(f"  {sc.position:>5} {_where(names, sc.clip)}  {loud}, {pitch}  ({sc.clip.made_by})")
    if removed or step_index is not None:
        click.echo("")
        for r in version_removals(db, info.id, step_index):
            verb = "~" if r.replaced_by else "-"
            click.echo(f"  {verb} step {r.step_index} {r.step_name}: {_where(names, r.clip)}  {r.reason}")


@dataset.command("diff")
@click.argument("a")
@click.argument("b")
@click.pass_context
def dataset_diff(ctx, a, b) -> None:
    """Clips added and removed from A to B, and by which step."""
    from ..curation import diff_versions

    _, db = open_workspace_db(ctx)
    try:
        d = diff_versions(db, a, b)
    except _curation_errors() as exc:
        fail(str(exc))
    names = _take_names(db)
    for line in d.lines(lambda tid: names.get(tid, f"take#{tid}")):
        click.echo(line)


@dataset.command("export")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--format", "fmt", default="folder", show_default=True,
              help="folder (clips + metadata.jsonl), rave (clips joined per symbol into files `rave "
                   "preprocess` keeps whole), labels (Audacity / Sonic Visualiser / REAPER per take), or one "
                   "a plugin adds.")
@click.pass_context
def dataset_export(ctx, ref, dest, fmt) -> None:
    """Write a version to DEST (a new or empty folder)."""
    from ..curation import export_dataset

    ws, db = open_workspace_db(ctx)
    try:
        out = export_dataset(ws, db, ref, dest, fmt)
    except _curation_errors() as exc:
        fail(str(exc))
    click.echo(f"{fmt}: {out.path}")
    if out.report:
        click.echo(out.report)


@dataset.command("cuts")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--step", "step_index", type=int, help="Only what this step (1-based) cut.")
@click.pass_context
def dataset_cuts(ctx, ref, dest, step_index) -> None:
    """Write what the steps cut as WAV files + cuts.jsonl (step and reason), to listen to."""
    from ..curation import export_removed

    ws, db = open_workspace_db(ctx)
    try:
        out = export_removed(ws, db, ref, dest, step_index)
    except _curation_errors() as exc:
        fail(str(exc))
    n = sum(1 for _ in open(out / "cuts.jsonl", encoding="utf-8"))
    click.echo(f"{n} cut clips: {out}")


@dataset.command("materialise")
@click.argument("ref")
@click.pass_context
def dataset_materialise(ctx, ref) -> None:
    """Build (once) and print the folder training reads: clips + metadata.jsonl."""
    from ..curation import materialise_dataset

    ws, db = open_workspace_db(ctx)
    try:
        click.echo(str(materialise_dataset(ws, db, ref)))
    except _curation_errors() as exc:
        fail(str(exc))


@dataset.command("coverage")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@click.pass_context
def dataset_coverage(ctx, ref, as_json) -> None:
    """Durations per symbol and person, pitch and loudness spread."""
    from dataclasses import asdict

    from ..curation import coverage

    _, db = open_workspace_db(ctx)
    try:
        cov = coverage(db, ref)
    except _curation_errors() as exc:
        fail(str(exc))
    click.echo(json.dumps(asdict(cov), ensure_ascii=False, indent=2) if as_json else cov.text())


@dataset.command("map")
@click.argument("ref")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="PNG or SVG file (default: <home>/exports/<ref>-map.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the points as JSON lines instead of drawing.")
@click.option("--method", type=click.Choice(["pca", "umap"]), default="pca", show_default=True,
              help="PCA is instant; UMAP (seeded) keeps neighbourhoods, its first fit compiles for 7-20 s.")
@click.option("--colour", "colour", type=click.Choice(["symbol", "person", "take"]), default="symbol",
              show_default=True, help="What the colours (and the legend) tell apart.")
@click.option("--like", "like", metavar="REF", help="Another version to stay stable with (UMAP): shared clips "
              "start where they were there, new ones where its transform puts them.")
@click.option("--model", "model", metavar="GEN", help="Map the clips through this generation's encode (its latent) "
              "instead of their descriptors.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.pass_context
def dataset_map(ctx, ref, output, as_json, method, colour, like, model, seed) -> None:
    """A 2D map of the clips from their descriptors or a model's latent, as a picture or as points."""
    from ..curation import clip_map, write_png
    from ..curation.clipmap import latent_rows, procrustes_displacement
    from ..naming import safe_filename

    ws, db = open_workspace_db(ctx)
    try:
        extra = {}
        if model:
            rows, _, names, source = latent_rows(ws, db, ref, model)
            extra = {"rows": rows, "feature_names": names, "source": source}
        anchor = None
        if like:
            anchor_extra = {}
            if model:
                rows_a, _, names, source = latent_rows(ws, db, like, model)
                anchor_extra = {"rows": rows_a, "feature_names": names, "source": source}
            anchor = clip_map(db, like, method=method, seed=seed, **anchor_extra)
        cmap = clip_map(db, ref, method=method, seed=seed, anchor=anchor, **extra)
    except _curation_errors() as exc:
        fail(str(exc))
    for note in cmap.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        for p in cmap.points():
            click.echo(json.dumps(p, ensure_ascii=False))
        return
    path = output or ws.folder("exports") / f"{safe_filename(cmap.ref)}-map.png"
    try:
        write_png(cmap, path, colour_by=colour)
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"{path}  ({cmap.axis_label(0)}; {cmap.axis_label(1)}; {cmap.fit_s:.1f} s)")
    if anchor is not None and anchor.method == cmap.method == "umap":
        try:
            d = procrustes_displacement(anchor, cmap)
        except ValueError as exc:
            click.echo(f"note: {exc}", err=True)
        else:
            click.echo(f"stable with {anchor.ref}: {d['shared']} shared clips moved at most {d['max'] * 100:.1f}% "
                       f"of the map (median {d['median'] * 100:.1f}%); {cmap.placed_by_transform} new clips placed "
                       f"by its transform")


@dataset.command("decide")
@click.argument("decision", type=click.Choice(["keep", "drop"]))
@click.option("--session", "-s", required=True)
@click.option("--take", "take_number", type=int, required=True, help="Take number within the session.")
@click.option("--start", type=float, required=True, help="Seconds.")
@click.option("--end", type=float, required=True, help="Seconds.")
@click.option("--who", required=True, help="Who decided.")
@click.option("--note", help="Why (shown in the removal log).")
@click.pass_context
def dataset_decide(ctx, decision, session, take_number, start, end, who, note) -> None:
    """Record a keep / drop decision on a region (the `manual` step applies it)."""
    from ..curation import decide
    from ..store.sessions import find_session
    from ..store.takes import takes_of_session

    _, db = open_workspace_db(ctx)
    try:
        s = find_session(db, session)
        take = next((t for t in takes_of_session(db, s["id"]) if t["number"] == take_number), None)
        if take is None:
            fail(f"session {s['name']!r} has no take {take_number}")
        sr = take["sample_rate"]
        did = decide(db, take_id=take["id"], start=round(start * sr), end=round(end * sr), decision=decision,
                     who=who, note=note)
    except _curation_errors() as exc:
        fail(str(exc))
    click.echo(f"decision #{did}: {decision} {s['name']}/{take_number} {start:.3f}-{end:.3f} s ({who})")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
@click.pass_context
def plugins(ctx, as_json) -> None:
    """List plugins: version, what each provides, and what went wrong (in earlier runs too)."""
    from dataclasses import asdict

    from ..plugins import reports
    from ..store.plugin_problems import remembered

    found = reports()
    ws = workspace(ctx)
    past: dict[str, list[dict]] = {}
    if ws.db_path.exists():
        try:
            db = open_db(ws.db_path)
            past = remembered(db)
            db.conn.close()
        except Exception as exc:
            click.echo(f"(problems remembered in {ws.db_path} could not be read: {exc})", err=True)
    if as_json:
        click.echo(json.dumps([{**asdict(r), "remembered": past.get(r.name, [])} for r in found],
                              ensure_ascii=False, indent=2))
        return
    for r in found:
        state = "ok" if r.ok and not r.problems else ("FAILED" if not r.ok else "problems")
        click.echo(f"{r.name} {r.version or '?'}  [{r.origin or 'plugin'}] {state}")
        for kind, names in sorted(r.provides.items()):
            if names:
                click.echo(f"    {kind.replace('_', ' ')}: {', '.join(names)}")
        if r.error:
            click.echo(f"    error: {r.error}")
        for p in r.problems:
            click.echo(f"    problem: {p}")
        for p in past.get(r.name, []):
            if p["message"] not in r.problems:
                times = f", {p['count']} times" if p["count"] > 1 else ""
                click.echo(f"    earlier problem ({p['last_at']}{times}): {p['message']}")
    if any(not r.ok for r in found):
        click.echo("plugins that failed are skipped; the rest work", err=True)
    sys.stdout.flush()
