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
    """scripts/setup-rave: built once (a few minutes), cached after (scripts/test builds it first)."""
    out = subprocess.run([str(ROOT / "scripts" / "setup-rave")], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return Path(out.stdout.strip().splitlines()[-1])


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
