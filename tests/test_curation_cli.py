"""The curation commands end to end on a real workspace: curate, look, compare, export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rehearsal.cli import main
from tests.support.curation_fixtures import CurationWorld, step


@pytest.fixture
def cli(workspace, db):
    world = CurationWorld.create(workspace, db)
    take = world.add_take()
    for part, who in (("noise", "ana"), ("a3", "ana"), ("a4", "bo"), ("soft_a3", "bo")):
        world.tag_part(take, "good", part, who=who)
    world.tag_part(take, "bad", "a2", who="ana")
    runner = CliRunner()

    def invoke(*args, code=0):
        result = runner.invoke(main, ["--home", str(workspace.home), *args])
        assert result.exit_code == code, result.output
        return result.output

    invoke.world = world
    return invoke


def test_curate_look_compare_export(cli, db, tmp_path):
    world = cli.world
    gate = world.write_pipeline(step("select-symbols", drop=["bad"]) + step("loudness-gate", min_db=-40), "gate")
    out = cli("curate", "-s", "monday", "-p", str(gate), "--dry-run", "--show-removed")
    assert " 1 select-symbols     5 -> 4 clips" in out
    assert "[bad] (ana)  tagged bad (drop)" in out
    assert "dry run: 3 clips" in out
    assert db.execute("SELECT COUNT(*) FROM dataset_versions").fetchone()[0] == 0
    assert "voice@1: 3 clips, 5.4 s" in cli("curate", "-s", "monday", "-p", str(gate), "-n", "voice")
    tonal = world.write_pipeline(step("select-symbols", drop=["bad"]) + step("noise-filter"), "tonal")
    assert "voice@2: 3 clips, 5.4 s (parent voice@1)" in cli("curate", "-s", "monday", "-p", str(tonal), "-n", "voice",
                                                              "--by", "ana")
    listing = cli("datasets")
    assert listing.startswith("voice\n") and "@2" in listing and "<- voice@1" in listing
    shown = cli("dataset", "show", "voice@2", "--removed", "--pipeline")
    assert "parent    voice@1" in shown and "by ana" in shown and 'use = "noise-filter"' in shown
    assert "- step 2 noise-filter: monday/1     2.100-    3.900 s [good] (ana)  noise-like" in shown
    diff = cli("dataset", "diff", "voice@1", "voice/v2")
    assert diff.splitlines()[0] == "voice@1 -> voice@2: 1 added, 1 removed, 2 unchanged"
    assert "- monday/1     2.100-    3.900 s [good] (ana)  removed by voice@2 step 2 noise-filter" in diff
    assert "+ monday/1    12.100-   13.900 s [good] (bo)  straight from markers; removed by voice@1 step 2 loudness-gate" in diff
    cov = cli("dataset", "coverage", "voice@1")
    assert "voice@1: 3 clips, 5.4 s" in cov and "pitch range (5-95%): A3 to A4" in cov
    assert json.loads(cli("dataset", "coverage", "voice@1", "--json"))["clip_count"] == 3
    png = tmp_path / "map.png"
    assert str(png) in cli("dataset", "map", "voice@1", "-o", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    points = [json.loads(line) for line in cli("dataset", "map", "voice@1", "--json").splitlines()]
    assert len(points) == 3 and {"x", "y", "start_s"} <= set(points[0])
    assert "1 cut clips: " in cli("dataset", "cuts", "voice@2", str(tmp_path / "cuts"), "--step", "2")
    cut = [json.loads(line) for line in (tmp_path / "cuts" / "cuts.jsonl").read_text().splitlines()]
    assert [(c["step_name"], c["start_s"]) for c in cut] == [("noise-filter", 2.1)]
    assert cut[0]["reason"].startswith("noise-like") and (tmp_path / "cuts" / cut[0]["path"]).stat().st_size > 1000
    folder = cli("dataset", "materialise", "voice@1").strip()
    assert folder.endswith("voice-v1")
    said = {fmt: cli("dataset", "export", "voice@1", str(tmp_path / fmt), "--format", fmt)
            for fmt in ("folder", "rave", "labels")}
    assert all(out.startswith(f"{fmt}: {tmp_path / fmt}") for fmt, out in said.items())
    assert "RAVE chunk(s)" in said["rave"] and "\nrun: " in said["rave"]    # the exporter's report, printed
    assert said["folder"].strip() == f"folder: {tmp_path / 'folder'}"         # none returned: nothing more
    assert (tmp_path / "folder" / "metadata.jsonl").exists()
    assert len(list((tmp_path / "rave").glob("*.wav"))) == 1              # the clips joined per symbol


def test_manual_decision_from_the_command_line(cli):
    world = cli.world
    path = world.write_pipeline(step("select-symbols", keep=["good"]) + step("manual"), "manual")
    out = cli("dataset", "decide", "drop", "-s", "monday", "--take", "1", "--start", "4.1", "--end", "5.9",
              "--who", "bo", "--note", "too clean")
    assert out.startswith("decision #1: drop monday/1 4.100-5.900 s (bo)")
    out = cli("curate", "-s", "monday", "-p", str(path), "--dry-run", "--show-removed")
    assert "dropped by bo while reviewing (decision #1): too clean" in out


def test_errors_are_one_clear_line(cli):
    world = cli.world
    bad = world.write_pipeline("[[steps]]\nuse = \"loudness-gate\"\nmin_db = \"loud\"\n", "bad")
    out = cli("curate", "-s", "monday", "-p", str(bad), "-n", "x", code=1)
    assert f"{bad}:4: steps[1].min_db: expected a number, got 'loud'" in out
    assert "no session named 'tuesday'" in cli("curate", "-s", "tuesday", "-p", "good-takes", "-n", "x", code=1)
    assert "give the dataset a --name" in cli("curate", "-s", "monday", "-p", "good-takes", code=1)
    assert "no dataset version 'nope'" in cli("dataset", "show", "nope", code=1)
    assert "no pipeline of that name" in cli("curate", "-s", "monday", "-p", "nope", "-n", "x", code=1)
    assert "a dataset name cannot contain" in cli("curate", "-s", "monday", "-p", "good-takes", "-n", "a@b", code=1)


def test_shipped_pipeline_runs(cli):
    out = cli("curate", "-s", "monday", "-p", "good-takes", "-n", "good")
    assert out.splitlines()[-1].startswith("good@1: ")


def test_person_withdraw_and_undo_from_the_command_line(cli):
    assert "audio:test render/ch2 -> bo" in cli("person", "audio:test render/ch2", "bo")   # what bo played
    assert "take:<session>/<number>[/ch<N>] (who played)" in cli("person", "tape:1", "bo", code=1)
    assert "bo withdrew" in cli("person", "withdraw", "bo", "--by", "ana")
    assert "already withdrawn" in cli("person", "withdraw", "bo", code=1)
    assert "withdrawal undone" in cli("person", "withdraw", "bo", "--undo")
    assert "has not withdrawn" in cli("person", "withdraw", "bo", "--undo", code=1)


def test_withdrawing_lists_the_generations_already_trained_on_their_tags(cli, db):
    gate = cli.world.write_pipeline(step("select-symbols", drop=["bad"]) + step("loudness-gate", min_db=-40), "gate")
    cli("curate", "-s", "monday", "-p", str(gate), "-n", "voice")
    version = db.execute("SELECT id FROM dataset_versions").fetchone()[0]
    with_bo = [json.loads(r[0]) for r in db.execute("SELECT who_json FROM dataset_clips WHERE version_id = ?", [version])]
    assert ["bo"] in with_bo and ["ana"] in with_bo
    for label, ver in (("convergent", version), ("from elsewhere", None)):   # a row as training writes it
        db.execute("INSERT INTO generations (label, family, strategy, spec_json, seed, dataset_ref, dataset_version_id, "
                   "dataset_folder, dataset_hash, folder, created_at) VALUES (?, 'f', 's', '{}', 0, 'voice@1', ?, "
                   "'', '', '', '2026-12-02T00:00:00Z')", [label, ver])
    db.conn.commit()
    out = cli("person", "withdraw", "bo")
    assert "already trained on material bo tagged or played (1):\n  g0001 convergent (dataset voice@1)" in out
    assert "from elsewhere" not in out
    assert "already trained" not in cli("person", "withdraw", "cy")     # cy tagged nothing
