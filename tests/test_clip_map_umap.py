"""The shared map: UMAP of a dataset's clips (seeded, stable between versions), coloured by
symbol / person / take, and a region kept or dropped as a manual decision. Real store,
real descriptors, real umap-learn (its numba compilation is paid once, in the fixture)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.curation import commit, decide_clips, preview, version_clips, version_info, withdraw, write_png
from rehearsal.curation.clipmap import clip_map, group_of, procrustes_displacement
from tests.support.curation_fixtures import CurationWorld, add_cluster_clips, cluster_take, step

FIRST, MORE, TOTAL = 36, 6, 42
MANUAL = step("manual")


def _commit(world, name="sounds"):
    run = preview(world.ws, world.db, world.pipeline(MANUAL), [world.session])
    return commit(run, name, created_by="test")


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """sounds@1: 36 clips in three clusters; sounds@2: 4 of them dropped, 6 new ones."""
    from rehearsal.store import Workspace, open_db

    home = tmp_path_factory.mktemp("map") / "ws"
    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    world = CurationWorld.create(ws, db)
    take = world.add_take(cluster_take(TOTAL))
    add_cluster_clips(world, take, 0, FIRST)
    _commit(world)
    v1 = version_clips(db, version_info(db, "sounds@1").id)
    dropped = [{"take_id": sc.clip.take_id, "start_sample": sc.clip.start, "end_sample": sc.clip.end}
               for sc in v1[3:7]]
    decide_clips(db, dropped, decision="drop", who="ana", note="too alike")
    add_cluster_clips(world, take, FIRST, MORE)
    _commit(world)
    started = time.monotonic()
    m1 = clip_map(db, "sounds@1", method="umap", seed=7)
    first_fit = time.monotonic() - started
    m2 = clip_map(db, "sounds@2", method="umap", seed=7, anchor=m1)
    print(f"UMAP first fit in this process {first_fit:.1f} s; anchored fit with transform {m2.fit_s:.2f} s")
    return world, m1, m2


def test_umap_map_is_seeded_separates_clusters_and_stays_stable_between_versions(versions, tmp_path):
    world, m1, m2 = versions
    assert (m1.method, m2.method) == ("umap", "umap") and len(m1.clips) == FIRST and len(m2.clips) == FIRST - 4 + MORE
    again = clip_map(world.db, "sounds@1", method="umap", seed=7)
    assert np.allclose(again.xy, m1.xy)                              # seeded: the same picture
    # like sits with like: each clip's nearest neighbour carries its symbol
    pts = m1.points()
    d = np.linalg.norm(m1.xy[:, None] - m1.xy[None], axis=2) + np.eye(len(pts)) * 1e9
    same = [pts[i]["symbols"] == pts[int(np.argmin(d[i]))]["symbols"] for i in range(len(pts))]
    assert all(same)
    # stable: shared clips move < 5% of the map's extent after Procrustes; new ones by transform
    moved = procrustes_displacement(m1, m2)
    print(f"Procrustes: {moved['shared']} shared clips, max {moved['max'] * 100:.2f}%, "
          f"median {moved['median'] * 100:.2f}% of the extent")
    assert moved["shared"] == FIRST - 4 and moved["max"] < 0.05
    assert m2.placed_by_transform == MORE
    # the new clips land in their cluster: nearest shared clip of the same symbol
    shared = {k for k in m1.keys()}
    p2 = m2.points()
    for i, k in enumerate(m2.keys()):
        if k in shared:
            continue
        others = [j for j, kk in enumerate(m2.keys()) if kk in shared]
        j = min(others, key=lambda j: np.linalg.norm(m2.xy[i] - m2.xy[j]))
        assert p2[j]["symbols"] == p2[i]["symbols"]
    # umap-learn's own jitted functions use numba's on-disk cache (compiled once per installation)
    import sys

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    jitted = [v for name, mod in list(sys.modules.items()) if name.startswith("umap.") for v in vars(mod).values()
              if isinstance(v, CPUDispatcher)]
    assert len(jitted) > 20 and not [d for d in jitted if isinstance(d._cache, NullCache)]
    # the picture, by person, with a legend; SVG too
    path = write_png(m2, tmp_path / "map.svg", colour_by="person")
    text = path.read_text()
    assert "<svg" in text[:400] and text.count("<path") > 3
    assert [group_of(p, "person") for p in p2[:3]] == ["ana", "bo", "cy"]


def test_a_region_of_the_map_dropped_and_withdrawn_as_manual_decisions(versions):
    world, _, m2 = versions
    pts = m2.points()
    centre = m2.xy[[i for i, p in enumerate(pts) if p["symbols"] == ["bad"]]].mean(0)
    box = [p for p, (x, y) in zip(pts, m2.xy) if abs(x - centre[0]) < 1.5 and abs(y - centre[1]) < 1.5]
    assert box and all(p["symbols"] == ["bad"] for p in box)
    ids = decide_clips(world.db, box, decision="drop", who="bo", note="the noise corner, decided with the dancer")
    v3 = _commit(world)
    assert len(version_clips(world.db, v3.id)) == TOTAL - 4 - len(box)
    rows = list(world.db.query("SELECT who, note FROM curation_decisions WHERE id = ?", [ids[0]]))
    assert rows == [{"who": "bo", "note": "the noise corner, decided with the dancer"}]
    for i in ids:
        withdraw(world.db, i)
    v4 = _commit(world)
    assert len(version_clips(world.db, v4.id)) == TOTAL - 4


def test_dataset_map_cli_umap_colours_and_stability(versions, tmp_path):
    world, _, _ = versions
    out = tmp_path / "v2.png"
    result = CliRunner().invoke(main, ["--home", str(world.ws.home), "dataset", "map", "sounds@2", "--method", "umap",
                                       "--colour", "take", "--like", "sounds@1", "--seed", "7", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "UMAP 1 (descriptors)" in result.output and "6 new clips placed by its transform" in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = CliRunner().invoke(main, ["--home", str(world.ws.home), "dataset", "map", "sounds@2", "-o",
                                    str(tmp_path / "m.bmp")])
    assert bad.exit_code != 0 and "m.bmp" in bad.output
    points = [json.loads(x) for x in CliRunner().invoke(main, ["--home", str(world.ws.home), "dataset", "map",
                                                               "sounds@1", "--json"]).output.splitlines()]
    assert len(points) == FIRST


async def test_map_screen_fits_in_a_worker_listens_colours_boxes_decides_and_projects(jack_server, versions):
    from rehearsal.tui.app import RehearsalApp
    from rehearsal.tui.options import TuiOptions
    from rehearsal.tui.screens.map import MapScreen
    from tests.support.tui import keys, wait_for

    world, _, _ = versions
    opts = TuiOptions(open_input=False, osc_port=None, midi=(), midi_virtual=False, session="monday", ascii=True,
                      who="dana")
    app = RehearsalApp(world.ws, opts)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            screen = MapScreen("sounds@2")
            await app.push_screen(screen)
            await wait_for(pilot, lambda: screen.shown_method == "umap", "the UMAP map (fitted in map-fit)")
            assert len(screen.points) == FIRST - 4 + MORE
            legend = str(screen.query_one("#map-legend").render())
            assert "symbol:" in legend and "good (" in legend and "@ clip" in legend
            await keys(pilot, "c")
            await wait_for(pilot, lambda: screen.colour_key == "person", "colours by person")
            assert "ana (" in str(screen.query_one("#map-legend").render())
            before = screen.cursor
            await keys(pilot, "right", "down")
            await wait_for(pilot, lambda: screen.cursor != before, "the cursor to move")
            await keys(pilot, "enter")                                       # hear the clip
            await wait_for(pilot, lambda: screen.auditioned or screen.audition_problem, "the clip to play", timeout=20)
            p = screen.points[screen.cursor]
            assert screen.auditioned[-1][1] == p["end_sample"] - p["start_sample"], screen.audition_problem

            bad = [i for i, q in enumerate(screen.points) if q["symbols"] == ["bad"]]
            xs = sorted(bad, key=lambda i: screen.cells[i])
            screen.cursor = min(bad, key=lambda i: screen.cells[i][0] + screen.cells[i][1])
            await keys(pilot, "space")
            await wait_for(pilot, lambda: len(screen.corners) == 1, "the first corner")
            screen.cursor = max(bad, key=lambda i: screen.cells[i][0] + screen.cells[i][1])
            await keys(pilot, "space")
            await wait_for(pilot, lambda: screen.box, "the box")
            assert screen.box and all(screen.points[i]["symbols"] == ["bad"] for i in screen.box) and xs
            n = len(screen.box)
            await pilot.pause()
            await keys(pilot, "d")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt" and app.screen.query("Input"),
                           "the why prompt")
            app.screen.query_one("Input").value = "too harsh for the piece"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: len(screen.last_decisions) == n, "the decisions")
            rows = list(world.db.query("SELECT decision, who, note FROM curation_decisions WHERE id IN (%s)"
                                       % ",".join(map(str, screen.last_decisions))))
            assert rows == [{"decision": "drop", "who": "dana", "note": "too harsh for the piece"}] * n
            ids = list(screen.last_decisions)
            await keys(pilot, "z")
            await wait_for(pilot, lambda: not screen.last_decisions, "the withdrawal")
            left = list(world.db.query("SELECT id FROM curation_decisions WHERE deleted_at IS NULL AND id IN (%s)"
                                       % ",".join(map(str, ids))))
            assert left == []

            # a lasso by keys: a corner at each of the noise cluster's outermost clips
            cells = screen.cells
            ends = {min(bad, key=lambda i: cells[i][0]), max(bad, key=lambda i: cells[i][0]),
                    min(bad, key=lambda i: cells[i][1]), max(bad, key=lambda i: cells[i][1])}
            assert len(ends) >= 3
            cx, cy = (sum(cells[j][k] for j in ends) / len(ends) for k in (0, 1))
            for k, i in enumerate(sorted(ends, key=lambda i: math.atan2(cells[i][1] - cy, cells[i][0] - cx))):
                screen.cursor = i                                            # round the cluster
                await keys(pilot, "l")
                await wait_for(pilot, lambda: len(screen.lasso) == k + 1, "the lasso's corner")
            assert ends <= set(screen.box) and all(screen.points[i]["symbols"] == ["bad"] for i in screen.box)
            assert "lasso: " in str(screen.query_one("#map-legend").render())
            # a lasso by the mouse: dragged round the good clips, then kept as a manual decision
            from rehearsal.tui.screens.map import in_box

            good = [i for i, q in enumerate(screen.points) if q["symbols"] == ["good"]]
            w, h = screen.canvas_size()
            x0, x1 = max(0, min(cells[i][0] for i in good) - 1), min(w - 1, max(cells[i][0] for i in good) + 1)
            y0, y1 = max(0, min(cells[i][1] for i in good) - 1), min(h - 1, max(cells[i][1] for i in good) + 1)
            await pilot.mouse_down("#map-canvas", offset=(x0, y0))
            for corner in ((x1, y0), (x1, y1), (x0, y1)):
                await pilot.hover("#map-canvas", offset=corner)
            await pilot.mouse_up("#map-canvas", offset=(x0, y1))
            await wait_for(pilot, lambda: len(screen.lasso) >= 4 and screen.box, "the dragged lasso")
            assert set(screen.box) == set(in_box(cells, (x0, y0), (x1, y1))) and set(good) <= set(screen.box)
            n = len(screen.box)
            await keys(pilot, "k")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt" and app.screen.query("Input"),
                           "the why prompt")
            app.screen.query_one("Input").value = "the room liked these"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: len(screen.last_decisions) == n, "the lasso's decisions")
            rows = list(world.db.query("SELECT decision, who FROM curation_decisions WHERE id IN (%s)"
                                       % ",".join(map(str, screen.last_decisions))))
            assert rows == [{"decision": "keep", "who": "dana"}] * n and not screen.lasso
            await keys(pilot, "z")
            await wait_for(pilot, lambda: not screen.last_decisions, "the lasso's withdrawal")

            height = screen.query_one("#map-canvas").size.height
            await keys(pilot, "f")                                           # projected: the map fills it
            await wait_for(pilot, lambda: screen.query_one("#map-canvas").size.height > height, "the projected view")
            assert screen.has_class("projected")
        finally:
            await app.shutdown()



def test_an_imported_nn_module_is_mapped_through_its_encode_and_walked_by_a_terrain(versions):
    """An imported nn~ module (made with nn_tilde's own tools: encode gives level and
    brightness; a RAVE export has the same contract, see docs/curation.md for one measured
    by hand): the map of its latent and a terrain on it, as for one of ours."""
    import torch

    from rehearsal.curation.clipmap import latent_rows
    from rehearsal.training.imported import import_model, module_info
    from rehearsal.training.terrain import export_terrain, fit_terrain, load_terrain, terrain_path
    from tests.support.nn_tilde_module import built_module

    world, _, _ = versions
    g = import_model(world.db, world.ws, built_module(44100), previews=False)
    latent = module_info(g).latent_size
    rows, frames, names, source = latent_rows(world.ws, world.db, "sounds@1", g["name"])
    assert source == f"{g['name']} latent" and rows.shape == (FIRST, 2 * latent) and np.isfinite(rows).all()
    assert all(f.shape[1] == latent and len(f) >= 1 for f in frames)
    # the terrain on the map of that latent (what `rehearsal model terrain` does), exported
    cmap = clip_map(world.db, "sounds@1", method="pca", rows=rows, feature_names=names, source=source)
    fit = fit_terrain(cmap.xy, frames, steps=100)
    ts = load_terrain(export_terrain(fit.terrain, terrain_path(world.ws, g)))
    # at the clips' own points the terrain gives their mean latent better than the dataset's mean does
    means = np.stack([f.mean(0) for f in frames])
    with torch.no_grad():
        at = ts(torch.tensor(cmap.xy, dtype=torch.float32), 0.0, 0).numpy()
    assert at.shape == (FIRST, latent)
    terrain_d = np.linalg.norm(at - means, axis=1).mean()
    mean_d = np.linalg.norm(means.mean(0) - means, axis=1).mean()
    print(f"nn~ module ({latent} latents): terrain fit {fit.seconds:.2f} s; distance to the clips' latents: "
          f"terrain {terrain_d:.3f}, dataset mean {mean_d:.3f}")
    assert terrain_d < 0.5 * mean_d


def test_our_latent_generation_is_mapped_by_umap_through_its_encode(versions):
    """The map of one of our own generations (the latent family's `encode`), by UMAP: one
    point per clip, seeded, the source named; like sits with like in that latent too."""
    from rehearsal.curation.clipmap import latent_rows
    from tests.support.playmodels import make_generation

    world, _, _ = versions
    gen = make_generation(world.ws, world.db, "latent", seed=3, steps=0)
    rows, frames, names, source = latent_rows(world.ws, world.db, "sounds@1", gen["name"])
    assert source == f"{gen['name']} latent" and rows.shape[0] == FIRST and np.isfinite(rows).all()
    m = clip_map(world.db, "sounds@1", method="umap", seed=7, rows=rows, feature_names=names, source=source)
    again = clip_map(world.db, "sounds@1", method="umap", seed=7, rows=rows, feature_names=names, source=source)
    assert m.method == "umap" and m.source == source and m.xy.shape == (FIRST, 2) and np.isfinite(m.xy).all()
    assert np.allclose(again.xy, m.xy)
    groups = [group_of(p, "symbol") for p in m.points()]
    d = np.linalg.norm(m.xy[:, None] - m.xy[None], axis=2) + np.eye(FIRST) * 1e9
    nearest_same = np.mean([groups[i] == groups[int(np.argmin(d[i]))] for i in range(FIRST)])
    assert nearest_same >= 0.8, nearest_same
