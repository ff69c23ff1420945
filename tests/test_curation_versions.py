"""Dataset versions: exact, immutable (the database refuses changes), diffable, all-or-nothing,
materialised as files for training, exported, described (coverage, map)."""

from __future__ import annotations

import json
import sqlite3
import stat
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from rehearsal.curation import (Clip, DatasetNotFound, Step, StepFailed, clip_map, commit, coverage,
                                dataset_version_id, diff_versions, export_dataset, ExportError, list_datasets,
                                materialise_dataset, preview, read_metadata, start_run, version_clips,
                                version_info, version_removals, write_png)
from rehearsal.plugins import registry
from tests.support.curation_fixtures import SR, CurationWorld, render_take, step

GATE_40 = step("loudness-gate", min_db=-40)
GATE_60_NOISE = step("loudness-gate", min_db=-60) + step("noise-filter", max_flatness=0.3)


@pytest.fixture
def world(workspace, db):
    w = CurationWorld.create(workspace, db)
    w.take = w.add_take()
    w.ids = {p: w.tag_part(w.take, "good", p, who="ana" if p != "a4" else "bo")
             for p in ("noise", "a3", "a4", "soft_a3", "quiet1")}
    return w


def make(world, body, name="voice"):
    run = preview(world.ws, world.db, world.pipeline(body), [world.session])
    return run, commit(run, name, created_by="test")


def count(db, table):
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_version_holds_exactly_the_run_and_its_lineage(world, db):
    run, v1 = make(world, GATE_40)
    assert (v1.dataset, v1.number, v1.parent_id, v1.ref) == ("voice", 1, None, "voice@1")
    stored = version_clips(db, "voice@1")
    assert [s.clip.key for s in stored] == [c.key for c in run.clips]
    assert sorted(s.clip.marker_ids[0] for s in stored) == sorted(world.ids[p] for p in ("noise", "a3", "a4"))
    a3 = next(s for s in stored if s.clip.marker_ids == (world.ids["a3"],))
    assert a3.descriptors["pitch_hz"] == pytest.approx(220, rel=0.01)
    assert a3.clip.who == ("ana",) and a3.clip.symbols == ("good",)
    assert v1.pipeline_toml == world.pipeline(GATE_40).text and v1.sessions == [{"id": 1, "name": "monday"}]
    removals = version_removals(db, "voice@1")
    assert sorted((r.step_index, r.step_name, r.clip.marker_ids) for r in removals) == sorted(
        (1, "loudness-gate", (world.ids[p],)) for p in ("soft_a3", "quiet1"))
    assert [(r.reason, r.clip.key) for r in removals] == [(r.reason, r.clip.key) for r in run.removals()]
    _, v2 = make(world, GATE_60_NOISE)
    assert (v2.number, v2.parent_id, v2.parent_ref) == (2, v1.id, "voice@1")
    assert [d["name"] for d in list_datasets(db)] == ["voice"]
    assert [v.number for v in list_datasets(db)[0]["versions"]] == [1, 2]


def test_refs_name_versions(world, db):
    _, v1 = make(world, GATE_40)
    _, v2 = make(world, GATE_60_NOISE)
    assert dataset_version_id(db, "voice") == v2.id
    assert dataset_version_id(db, "voice@1") == dataset_version_id(db, "voice/v1") == v1.id
    assert dataset_version_id(db, v1.id) == dataset_version_id(db, f"#{v1.id}") == dataset_version_id(db, str(v1.id))
    for bad in ("voice@3", "nope", 999):
        with pytest.raises(DatasetNotFound):
            dataset_version_id(db, bad)
    with pytest.raises(ValueError, match="cannot contain"):
        commit(preview(world.ws, db, world.pipeline(GATE_40), ["monday"]), "a@b")


def test_the_database_refuses_to_change_a_version(world, db):
    _, v1 = make(world, GATE_40)
    clip_id = db.execute("SELECT id FROM dataset_clips WHERE version_id = ?", [v1.id]).fetchone()[0]
    refusals = [
        ("UPDATE dataset_clips SET start_sample = 0 WHERE id = ?", [clip_id]),
        ("DELETE FROM dataset_clips WHERE id = ?", [clip_id]),
        ("UPDATE dataset_versions SET clip_count = 0 WHERE id = ?", [v1.id]),
        ("UPDATE dataset_versions SET sealed = 0 WHERE id = ?", [v1.id]),
        ("DELETE FROM dataset_versions WHERE id = ?", [v1.id]),
        ("INSERT INTO dataset_clips (version_id, position, take_id, start_sample, end_sample, sample_rate, "
         "symbols_json, who_json, marker_ids_json, made_by, descriptors_json) "
         "VALUES (?, 99, 1, 0, 10, 48000, '[]', '[]', '[]', 'x', '{}')", [v1.id]),
        ("UPDATE dataset_removals SET reason = 'x'", []),
        ("DELETE FROM dataset_removals", []),
        ("DELETE FROM dataset_steps", []),
    ]
    for sql, args in refusals:
        with pytest.raises(sqlite3.IntegrityError, match="immutable|only be added"):
            db.execute(sql, args)
    assert [s.clip.key for s in version_clips(db, v1.id)] == [s.clip.key for s in version_clips(db, "voice@1")]
    assert count(db, "dataset_clips") == v1.clip_count


def test_diff_lists_clips_added_and_removed_and_by_which_step(world, db):
    make(world, GATE_40)
    make(world, GATE_60_NOISE)
    d = diff_versions(db, "voice@1", "voice@2")
    assert d.unchanged == 2
    assert [(e.clip.start, e.step_name, e.step_index) for e in d.removed] == [
        (round(2.1 * SR), "noise-filter", 2)]
    assert d.removed[0].why.startswith("removed by voice@2 step 2 noise-filter: noise-like: flatness")
    assert [(e.clip.start, e.step_name) for e in d.added] == [(round(12.1 * SR), "loudness-gate")]
    assert d.added[0].why.startswith("straight from markers; removed by voice@1 step 1 loudness-gate: loudness -54")
    back = diff_versions(db, "voice@2", "voice@1")
    assert [e.clip.start for e in back.added] == [round(2.1 * SR)]
    assert [e.clip.start for e in back.removed] == [round(12.1 * SR)]
    lines = d.lines()
    assert lines[0] == "voice@1 -> voice@2: 1 added, 1 removed, 2 unchanged"
    assert lines[1].startswith("- take#1") and lines[2].startswith("+ take#1")


def test_diff_names_the_step_that_replaced_a_clip(world, db):
    world.tag(world.take, "good", 1.0, 3.9)        # a second of silence, then noise: trimmed
    make(world, GATE_40)
    make(world, step("trim-silence") + GATE_40)
    d = diff_versions(db, "voice@1", "voice@2")
    trimmed = [e for e in d.removed if e.step_name == "trim-silence"]
    assert len(trimmed) == 1 and all(e.why.startswith("replaced by voice@2 step 1 trim-silence") for e in trimmed)
    assert all(e.why.startswith("made by voice@2 step 1 trim-silence") for e in d.added)


def test_diff_follows_tags_through_steps_that_recut_them(world, db):
    late = world.tag(world.take, "good", 1.0, 3.9)     # a second of silence, then noise
    make(world, step("trim-silence") + GATE_40)         # v1 trims it to start near 1.95 s
    make(world, step("region-from-taps", before_s=1.0, after_s=0.2, snap="none") + GATE_40)
    d = diff_versions(db, "voice@1", "voice@2")
    gone = next(e for e in d.removed if e.clip.marker_ids == (late,))
    assert gone.clip.start_s == pytest.approx(1.95, abs=0.02)
    assert gone.why == ("voice@2 cut the same tags as 2.900-4.100 s [good] "
                        "(made by voice@2 step 1 region-from-taps)")
    new = next(e for e in d.added if e.clip.marker_ids == (late,))
    assert new.why.startswith("made by voice@2 step 1 region-from-taps; voice@1 cut the same tags as 1.9")
    assert new.why.endswith("(made by voice@1 step 1 trim-silence)")
    a3 = next(e for e in d.removed if e.clip.marker_ids == (world.ids["a3"],))
    assert a3.why == "replaced by voice@2 step 1 region-from-taps: 1 s before to 0.2 s after the tap"
    assert (a3.step_index, a3.step_name) == (1, "region-from-taps")


@dataclass
class ExplodesHalfway(Step):
    after: int = 1

    def apply(self, clips, ctx):
        out = []
        for i, c in enumerate(clips):
            if i == self.after:
                raise RuntimeError("the plugin fell over")
            out.append(c)
        return out


@dataclass
class ReturnsGarbage(Step):
    def apply(self, clips, ctx):
        return clips + ["not a clip"]


def test_a_failing_step_leaves_no_half_made_dataset(world, db):
    _, v1 = make(world, GATE_40)
    before = {t: count(db, t) for t in ("datasets", "dataset_versions", "dataset_clips", "dataset_removals")}
    steps = {**registry("curation_steps"), "explodes": ExplodesHalfway, "garbage": ReturnsGarbage}
    for use, match in (("explodes", "RuntimeError: the plugin fell over"), ("garbage", "item 3 is str")):
        pipeline = world.pipeline(GATE_40 + step(use))
        run = start_run(world.ws, db, pipeline, ["monday"], registry=steps)
        with pytest.raises(StepFailed, match=match) as err:
            run.finish()
        assert err.value.index == 2 and err.value.step == use
        assert {t: count(db, t) for t in before} == before
    assert dataset_version_id(db, "voice") == v1.id


def test_a_failure_while_writing_rolls_everything_back(world, db):
    run = preview(world.ws, db, world.pipeline(GATE_40), ["monday"])
    good = run.clips
    # a clip that slipped past validation: the CHECK fails on the third insert, mid-transaction
    run._current = good[:2] + [Clip(world.take, 5000, 100, SR, ("good",))] + good[2:]
    run._descriptors[(world.take, 5000, 100)] = {}
    with pytest.raises(sqlite3.IntegrityError):
        commit(run, "fresh")
    for t in ("datasets", "dataset_versions", "dataset_clips", "dataset_steps", "dataset_removals"):
        assert count(db, t) == 0, t


def test_materialise_gives_training_a_folder_of_clips_and_metadata(world, db):
    _, v1 = make(world, GATE_40)
    folder = materialise_dataset(world.ws, db, "voice")
    assert folder == world.ws.folder("datasets") / "voice-v1"
    records = read_metadata(folder)
    assert len(records) == v1.clip_count == 3
    audio = render_take()
    for r in records:
        for key in ("path", "symbols", "who", "start_s", "end_s", "take_id", "descriptors"):
            assert key in r
        assert r["take_id"] == world.take and r["symbols"] == ["good"] and r["who"] in ("ana", "bo")
        data, sr = sf.read(folder / r["path"], dtype="float32")
        assert sr == SR
        expected = audio[round(r["start_s"] * SR):round(r["end_s"] * SR)]
        np.testing.assert_allclose(data, expected, atol=2 ** -22)     # the take was written as PCM_24
        assert not (folder / r["path"]).stat().st_mode & stat.S_IWUSR   # read-only
    manifest = json.loads((folder / "dataset.json").read_text())
    assert manifest["ref"] == "voice@1" and manifest["clips"] == 3
    stamp = (folder / ".complete").stat().st_mtime_ns
    assert materialise_dataset(world.ws, db, v1.id) == folder       # cached: not built again
    assert (folder / ".complete").stat().st_mtime_ns == stamp
    make(world, GATE_60_NOISE)
    assert materialise_dataset(world.ws, db, "voice").name == "voice-v2"
    assert not list(world.ws.folder("datasets").glob(".*.tmp"))


def test_exports(world, db, tmp_path):
    make(world, GATE_40)
    out = export_dataset(world.ws, db, "voice", tmp_path / "folder", "folder").path
    assert len(read_metadata(out)) == 3 and len(list((out / "clips").glob("*.wav"))) == 3
    rave = export_dataset(world.ws, db, "voice", tmp_path / "rave", "rave")
    assert [p.name for p in rave.path.glob("*.wav")] == ["good-001.wav"]     # one symbol group, joined
    assert "run: rave preprocess --input_path" in rave.report and "warning:" in rave.report
    labels = export_dataset(world.ws, db, "voice", tmp_path / "labels", "labels").path
    lines = (labels / "monday-take1.txt").read_text().splitlines()
    assert lines[0].split("\t") == ["2.100000", "3.900000", "#1 good (ana)"]
    assert (labels / "monday-take1.csv").read_text().splitlines()[:2] == ["time,duration,label",
                                                                          "2.100000,1.800000,#1 good (ana)"]
    with pytest.raises(ExportError, match="not an empty folder"):
        export_dataset(world.ws, db, "voice", tmp_path / "rave", "rave")
    with pytest.raises(ExportError, match="unknown export format"):
        export_dataset(world.ws, db, "voice", tmp_path / "x", "mp3")


def test_coverage_report(world, db):
    world.tag_part(world.take, "breath", "a2", who="bo")
    make(world, GATE_40)
    cov = coverage(db, "voice")
    assert cov.clip_count == 4 and cov.total_s == pytest.approx(4 * 1.8)
    assert [(s, n, round(sec, 3)) for s, n, sec in cov.per_symbol] == [("good", 3, 5.4), ("breath", 1, 1.8)]
    assert {w: round(share, 3) for w, _, share in cov.per_person} == {"ana": 0.5, "bo": 0.5}
    assert cov.pitch_range == ("A2", "A4")
    assert [label for label, _ in cov.pitch_hist] == ["C2-B2", "C3-B3", "C4-B4"]
    assert cov.unpitched_s == pytest.approx(1.8)                  # the noise
    text = cov.text()
    assert "pitch range (5-95%): A2 to A4" in text and "C3-B3" in text and "█" in text


def test_clip_map_as_data_and_png(world, db, tmp_path):
    world.tag(world.take, "good", 2.2, 3.8, who="cy")     # a second noise clip, next to the first
    make(world, GATE_40)
    cmap = clip_map(db, "voice")
    pts = cmap.points()
    assert len(pts) == 4 and {"x", "y", "take_id", "start_sample", "end_sample"} <= set(pts[0])
    by_start = {round(p["start_s"], 1): np.array([p["x"], p["y"]]) for p in pts}
    noise_gap = np.linalg.norm(by_start[2.1] - by_start[2.2])
    tone_to_noise = np.linalg.norm(by_start[4.1] - by_start[2.1])
    assert noise_gap < tone_to_noise / 5                  # like sits with like
    path = write_png(cmap, tmp_path / "map.png")
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    assert int.from_bytes(head[16:20], "big") == 960      # 8 in at 120 dpi
    assert np.allclose(clip_map(db, "voice").xy, cmap.xy)  # same data, same picture


def test_materialise_refuses_audio_that_changed_since_the_version(world, db):
    make(world, GATE_40)
    path = world.ws.resolve(db["takes"].get(world.take)["path"])
    sf.write(str(path), render_take(seed=3)[: 20 * SR], SR, subtype="PCM_24")     # someone rewrote the take
    with pytest.raises(RuntimeError, match="changed since voice@1 was made"):
        materialise_dataset(world.ws, db, "voice")
    assert not (world.ws.folder("datasets") / "voice-v1").exists()


def test_a_build_killed_mid_materialise_leaves_no_temporary_folder_for_ever(world, db):
    """Issue 13, finding 6: a kill during materialise left its temporary folder for ever; the
    next materialise removes the folders of builds whose process is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    make(world, GATE_40)
    root = world.ws.folder("datasets")
    child = subprocess.Popen([sys.executable, "-c", """
import sys, threading
from rehearsal.store import Workspace, open_db
from rehearsal.curation import materialise as m
real = m._build
def build_then_hang(*args):
    real(*args)
    threading.Event().wait()          # killed here: the folder is whole but never renamed
m._build = build_then_hang
ws = Workspace.at(sys.argv[1])
m.materialise_dataset(ws, open_db(ws.db_path), "voice")
""", str(world.ws.home)])
    deadline = time.monotonic() + 60
    while not [p for p in root.glob(".*.tmp") if (p / ".complete").exists()]:
        assert child.poll() is None and time.monotonic() < deadline, "the child never built its folder"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    assert list(root.glob(".*.tmp"))          # the kill left it behind
    folder = materialise_dataset(world.ws, db, "voice")
    assert folder == root / "voice-v1" and len(read_metadata(folder)) == 3
    assert not list(root.glob(".*.tmp")), "the killed build's temporary folder is still there"
    assert not (folder / ".building-pid").exists()
