"""Exports checked against the tools themselves: acids-rave's real `rave preprocess`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from rehearsal.curation import commit, export_dataset, load_pipeline, materialise_dataset, read_metadata, start_run
from rehearsal.export.rave import CHUNK_S
from tests.support.curation_fixtures import SR, CurationWorld, harmonic, step

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def rave_venv() -> Path:
    from tests.support.rave_model import rave_venv

    return rave_venv()


def test_rave_preprocess_keeps_nine_tenths_of_a_dataset_of_short_clips(workspace, db, tmp_path, rave_venv):
    world = CurationWorld.create(workspace, db)
    rng = np.random.default_rng(1)
    parts = [harmonic(float(f), 4 * SR, 0.2) for f in rng.uniform(110, 440, 40)]
    take = world.add_take(np.concatenate(parts).astype(np.float32))
    for k in range(40):                    # 4 s clips, two symbol groups, two people
        world.tag(take, "good" if k % 2 == 0 else "breath", 4 * k + 0.05, 4 * k + 3.95, who="ana" if k % 3 else "bo")
    path = world.write_pipeline(step("select-symbols", keep=["good", "breath"]) + step("segment", max_s=4.0, min_s=1.0))
    commit(start_run(workspace, db, load_pipeline(path), ["monday"]).finish(), "voice", created_by="ana")
    out = export_dataset(workspace, db, "voice", tmp_path / "rave", "rave")
    lmdb_dir = tmp_path / "rave-lmdb"
    run = subprocess.run([str(rave_venv / "bin" / "rave"), "preprocess", "--input_path", str(out.path),
                          "--output_path", str(lmdb_dir)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    count = subprocess.run([str(rave_venv / "bin" / "python"), "-c",
                            f"import lmdb; print(lmdb.open({str(lmdb_dir)!r}, readonly=True).stat()['entries'])"],
                           capture_output=True, text=True, check=True)
    entries = int(count.stdout)
    seconds = sum(r["duration_s"] for r in read_metadata(materialise_dataset(workspace, db, "voice")))
    share = entries * CHUNK_S / seconds
    print(f"RAVE: {entries} LMDB entries x {CHUNK_S:.3f} s / {seconds:.1f} s = {share:.1%}")
    assert share >= 0.90, out.report
    assert f"{entries} RAVE chunk(s)" in out.report       # what the export said RAVE keeps, it keeps


def _anns():
    from rehearsal.export import formats as F
    return [F.Annotation(0.0, 3.0, 2.5, "good", "ana", "✓ good (ana)", 'bleed, "loud" a\\b'),
            F.Annotation(2.0, 4.0, 3.5, "bad", "ana", "x bad (ana)", None),
            F.Annotation(5.0, 6.0, 5.5, "good", "bo", "+ good (bo)", None)]


def test_sonic_visualiser_reads_times_durations_and_labels_with_notes():
    from rehearsal.export import formats as F
    from tests.support import svcore_csv as sv

    fmt, events = sv.load(F.sv_regions(_anns(), SR), SR)
    assert fmt.header == sv.HEADER_PRESENT and fmt.model == sv.TWO_D_DURATION and fmt.units == sv.SECONDS
    assert [(e.frame, e.duration) for e in events] == [(1, 3 * SR), (2 * SR, 2 * SR), (5 * SR, SR)]
    assert events[0].label == '✓ good (ana): bleed, "loud" a\\b'
    fmt, events = sv.load(F.sv_instants(_anns(), SR), SR)
    assert fmt.model == sv.ONE_D and [e.frame for e in events] == [int(2.5 * SR), int(3.5 * SR), int(5.5 * SR)]


def test_praat_reads_the_textgrid_and_the_eaf_passes_elans_schema(tmp_path):
    from lxml import etree

    from rehearsal.export import formats as F

    grid = tmp_path / "t.TextGrid"
    grid.write_text(F.textgrid(_anns(), 10.0), encoding="utf-8")
    script = tmp_path / "count.praat"
    script.write_text('form Count\n    sentence path\nendform\nRead from file: path$\nn = Get number of tiers\n'
                      'for t to n\n  name$ = Get tier name: t\n  k = Get number of intervals: t\n  for i to k\n'
                      '    label$ = Get label of interval: t, i\n    if label$ <> ""\n'
                      '      appendInfoLine: name$, tab$, label$\n    endif\n  endfor\nendfor\n', encoding="utf-8")
    out = subprocess.run(["praat", "--run", str(script), str(grid)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['ana\t✓ good (ana): bleed, "loud" a\\b', "ana 2\tx bad (ana)", "bo\t+ good (bo)"]
    doc = etree.fromstring(F.eaf(_anns(), F.Vocabulary("t", (("good", "it was good"), ("bad", "not"))),
                                 str(tmp_path / "a.wav")).encode())
    schema = etree.XMLSchema(etree.parse(str(ROOT / "tests" / "support" / "elan" / "EAFv3.0.xsd")))
    assert schema.validate(doc), schema.error_log
    cv = {v.text: v.get("DESCRIPTION") for v in doc.iter("CVE_VALUE")}
    assert cv == {"good": "it was good", "bad": "not"}
    assert {v.text for v in doc.iter("ANNOTATION_VALUE")} == {"good", "bad", 'bleed, "loud" a\\b'}


def test_markers_over_several_takes_write_one_file_per_take(workspace, db, tmp_path):
    from click.testing import CliRunner

    from rehearsal.cli import main

    world = CurationWorld.create(workspace, db)
    for k in range(2):
        take = world.add_take()
        world.tag(take, "good", 1.0 + k, 2.0 + k, who="ana")
    db.execute("UPDATE markers SET note = 'bleed' WHERE id = 1")
    run = lambda *a: CliRunner().invoke(main, ["--home", str(workspace.home), "markers", "monday", *a])
    refused = run("--format", "audacity", "-o", str(tmp_path / "all.txt"))
    assert refused.exit_code != 0 and "{take}" in refused.output and "folder" in refused.output
    assert not (tmp_path / "all.txt").exists()
    assert run("--format", "audacity", "-o", str(tmp_path / "out") + "/").exit_code == 0
    files = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in files] == ["take-001.txt", "take-002.txt"]
    assert files[0].read_text().split("\t")[:2] == ["1.000000", "2.000000"] and "bleed" in files[0].read_text()
    assert files[1].read_text().startswith("2.000000\t3.000000")
    assert run("--format", "eaf", "-o", str(tmp_path / "gig-{take}.eaf")).exit_code == 0
    assert (tmp_path / "gig-1.eaf").exists() and (tmp_path / "gig-2.eaf").exists()
    from tests.support import reaper as R

    assert run("--format", "reaper-rpp", "--take", "1", "-o", str(tmp_path / "one.rpp")).exit_code == 0
    (place,) = R.rpp_places(R.project((tmp_path / "one.rpp").read_text()))
    assert (place.start, place.end) == (1.0, 2.0) and place.name.endswith(": bleed")


def test_reaper_reads_the_rpp_fragment_and_the_region_csv_with_notes():
    """REAPER cannot run here: the .rpp goes through the third-party `rpp` parser, read as
    REAPER's chunk definitions say (the reader checked on REAPER-made lines first); the CSV
    through REAPER's Minutes:Seconds grammar (tests/support/reaper.py)."""
    from rehearsal.export import formats as F
    from tests.support import reaper as R

    assert R.rpp_places(R.REAPER_MADE_RPP) == [
        R.Place(1, 0.0, None, "Track 1: HelloDAW Project Manager"), R.Place(1, 2.0, 4.0, "Edit Region"),
        R.Place(2, 1035.7203188705985, None, "Track 2: This is the result of a recording session"),
        R.Place(4, 2553.4094989978121, None, "Track 4: But I could have adapted other parameters")]
    anns = [*_anns(), F.Annotation(3725.25, 3725.25, 3725.25, "bad", "bo", "x bad (bo)", "it's `odd` \"here\""),
            F.Annotation(61.5, 61.5, 61.5, "good", "ana", "+ good (ana)", None)]
    names = ['✓ good (ana): bleed, "loud" a\\b', "x bad (ana)", "+ good (bo)",
             "x bad (bo): it's `odd` 'here'", "+ good (ana)"]   # all three quotes in one: " becomes '
    places = R.rpp_places(R.project(F.reaper_rpp(anns)))
    assert [(p.start, p.end, p.name) for p in places] == [
        (0.0, 3.0, names[0]), (2.0, 4.0, names[1]), (5.0, 6.0, names[2]), (61.5, None, names[4]),
        (3725.25, None, names[3])]
    csv_text = F.reaper_csv(anns)
    assert "1:02:05.250" in csv_text and "1:01.500" in csv_text
    assert [(p.start, p.end, p.name) for p in R.region_csv_places(csv_text)] == [
        (0.0, 3.0, names[0]), (2.0, 4.0, names[1]), (5.0, 6.0, names[2]),
        (3725.25, None, "x bad (bo): it's `odd` \"here\""), (61.5, None, names[4])]
    with pytest.raises(ValueError, match="Minutes:Seconds"):     # the reader refuses bare seconds
        R.region_csv_places("#,Name,Start,End,Length,Color\nM1,x,5.25,,,\n")


def test_dataset_labels_carry_marker_and_decision_notes_into_every_file(workspace, db, tmp_path):
    from rehearsal.curation import decide
    from rehearsal.export import formats as F
    from tests.support import reaper as R
    from tests.support import svcore_csv as sv

    world = CurationWorld.create(workspace, db)
    take = world.add_take()
    noted = world.tag(take, "good", 4.1, 5.9, who="ana")
    world.tag(take, "good", 8.1, 9.9, who="bo")
    db.execute("UPDATE markers SET note = 'bleed from the bass' WHERE id = ?", [noted])
    decide(db, take_id=take, start=int(8.0 * SR), end=int(10.0 * SR), decision="keep", who="cy", note="keep, lovely")
    decide(db, take_id=take, start=int(4.0 * SR), end=int(6.0 * SR), decision="drop", who="cy", note="not a keep")
    path = world.write_pipeline(step("select-symbols", keep=["good"]))
    commit(start_run(workspace, db, load_pipeline(path), ["monday"]).finish(), "voice", created_by="ana")
    out = export_dataset(workspace, db, "voice", tmp_path / "labels", "labels")
    stem = out.path / "monday-take1"
    audacity = [l.split("\t") for l in (stem.with_suffix(".txt")).read_text().splitlines()]
    assert [float(a) for a, _, _ in audacity] == [4.1, 8.1]
    assert audacity[0][2].endswith(": bleed from the bass") and audacity[1][2].endswith(": cy: keep, lovely")
    assert "not a keep" not in stem.with_suffix(".txt").read_text()     # a drop decision's note is not a clip's
    _, events = sv.load(stem.with_suffix(".csv").read_text(), SR)
    assert [e.label for e in events] == [a[2] for a in audacity]
    places = R.region_csv_places((out.path / "monday-take1.reaper.csv").read_text())
    assert [(p.start, p.end, p.name) for p in places] == [(4.1, 5.9, audacity[0][2]), (8.1, 9.9, audacity[1][2])]
    assert F.one_line(audacity[1][2]) == audacity[1][2]
