"""The shared map: UMAP of a dataset's clips (seeded, stable between versions), coloured by
symbol / person / take, and a region kept or dropped as a manual decision. Real store,
real descriptors, real umap-learn (its numba compilation is paid once, in the fixture)."""

from __future__ import annotations

import json
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
