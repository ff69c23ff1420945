"""Pipeline files are validated before anything runs; every error names file, line and field."""

from __future__ import annotations

import pytest

from rehearsal.curation import PipelineError, find_pipeline, load_pipeline, parse_pipeline, shipped_pipelines
from rehearsal.plugins import registry

GOOD = """name = "ok"
description = "fine"

[analysis]
hop = 256

[[steps]]
use = "select-symbols"
keep = ["good"]

[[steps]]
use = "loudness-gate"
min_db = -40
enabled = false
"""


def check(text, source="p.toml"):
    return parse_pipeline(text, source).check(registry("curation_steps"))


def test_a_good_pipeline_parses_and_keeps_its_text():
    p = parse_pipeline(GOOD, "p.toml")
    assert p.name == "ok" and p.analysis.hop == 256 and len(p.steps) == 2
    assert [s.enabled for s in p.steps] == [True, False] and p.steps[1].params == {"min_db": -40}
    assert p.text == GOOD and len(p.sha256) == 64
    steps = p.check(registry("curation_steps"))
    assert len(steps) == 1 and steps[0].keep == ("good",)


@pytest.mark.parametrize("text, message", [
    ("name = 'x'\n[[steps]]\nuse = 'loudnes-gate'\n",
     "p.toml:3: steps[1].use: unknown step 'loudnes-gate' (known: agreement, "),
    ("name = 'x'\n\n[[steps]]\nuse = 'loudness-gate'\nmin_db = 'loud'\n",
     "p.toml:5: steps[1].min_db: expected a number, got 'loud'"),
    ("name = 'x'\n[[steps]]\nuse = 'loudness-gate'\n[[steps]]\nuse = 'balance'\nmax_s = 10\nby = 'instrument'\n",
     "p.toml:7: steps[2].by: expected one of 'symbol', 'person', got 'instrument'"),
    ("name = 'x'\n[[steps]]\nuse = 'trim-silence'\nthreshold = -50\n",
     "p.toml:4: steps[1].threshold: unknown parameter (this step takes: threshold_db, pad_s, min_s)"),
    ("name = 'x'\n[[steps]]\nuse = 'pitch-range'\nlow = 'H2'\n",
     "p.toml:4: steps[1].low: not a note name: 'H2'"),
    ("name = 'x'\n[[steps]]\nuse = 'select-symbols'\nkeep = 'good'\n",
     "p.toml:4: steps[1].keep: expected a list of text, got 'good'"),
    ("name = 'x'\n[[steps]]\nuse = 'select-symbols'\nkeep = ['good', 3]\n",
     "p.toml:4: steps[1].keep[1]: expected text, got 3"),
    ("name = 'x'\n[[steps]]\nuse = 'balance'\nmax_s = -1\n",
     "p.toml:4: steps[1].max_s: max_s must be > 0, got -1.0"),
    ("name = 'x'\n[[steps]]\nuse = 'segment'\nmax_s = 1\nmin_s = 2\n",
     "p.toml:4: steps[1].max_s: need 0 < min_s < max_s, got 2.0 and 1.0"),
])
def test_step_errors_name_line_and_field(text, message):
    with pytest.raises(PipelineError) as err:
        check(text)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("text, message", [
    ("name = 'x'\n[[steps]]\nuse = \n", "p.toml:3: invalid TOML"),
    ("name = 'x'\nsteps = 3\n", "p.toml:2: steps: write each step as a [[steps]] table"),
    ("name = 'x'\n", "p.toml: steps: a pipeline needs at least one [[steps]]"),
    ("name = 'x'\ncolour = 'red'\n[[steps]]\nuse = 'manual'\n", "p.toml:2: colour: unknown key"),
    ("name = 'x'\n[[steps]]\nkeep = ['good']\n", "p.toml:2: steps[1].use: each step needs `use"),
    ("name = 'x'\n[[steps]]\nuse = 'manual'\nenabled = 'yes'\n", "p.toml:4: steps[1].enabled: must be true or false"),
    ("name = 'x'\n[analysis]\nhop = 500\n[[steps]]\nuse = 'manual'\n",
     "p.toml:3: analysis.hop: hop must be a power of two >= 32, got 500"),
    ("name = 'x'\n[analysis]\nwindow = 2048\n[[steps]]\nuse = 'manual'\n",
     "p.toml:3: analysis.window: unknown analysis parameter(s): window"),
    ("name = ''\n[[steps]]\nuse = 'manual'\n", "p.toml:1: name: must be non-empty text"),
])
def test_structure_errors_name_line_and_field(text, message):
    with pytest.raises(PipelineError) as err:
        parse_pipeline(text, "p.toml")
    assert str(err.value).startswith(message)


def test_files_and_shipped_pipelines(tmp_path):
    with pytest.raises(PipelineError, match="no such pipeline file"):
        load_pipeline(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes("name = 'caf\xe9'".encode("latin-1"))
    with pytest.raises(PipelineError, match="not UTF-8"):
        load_pipeline(tmp_path / "latin1.toml")
    shipped = shipped_pipelines()
    assert {"good-takes", "register"} <= set(shipped)
    for path in shipped.values():            # every shipped example is valid against the built-ins
        load_pipeline(path).check(registry("curation_steps"))
    ws_dir = tmp_path / "pipelines"
    ws_dir.mkdir()
    (ws_dir / "good-takes.toml").write_text(GOOD)
    assert find_pipeline("good-takes", ws_dir) == ws_dir / "good-takes.toml"     # the workspace's own first
    assert find_pipeline("register", ws_dir) == shipped["register"]
    with pytest.raises(PipelineError, match="no pipeline of that name"):
        find_pipeline("nope", ws_dir)
