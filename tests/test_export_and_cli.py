"""Marker exports and the headless CLI, through the real command."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf
from pythonosc.udp_client import SimpleUDPClient

from tests.support.proc import LiveProcess, run_cli

ROOT = Path(__file__).resolve().parents[1]


def _record_with_tags(tmp_path) -> Path:
    """A real `rehearsal record --input-file` with OSC tags sent while it runs."""
    sr = 48000
    src = tmp_path / "in.wav"
    sf.write(src, (np.random.default_rng(0).standard_normal((sr * 4, 1)) * 0.1).astype(np.float32), sr)
    home = tmp_path / "ws"
    proc = LiveProcess(["--home", str(home), "record", "--session", "gig ✓", "--notation", "jam-reactions",
                        "--input-file", str(src), "--osc-port", "0"])
    port = int(proc.wait_stderr("OSC: listening on").rsplit(":", 1)[1])
    proc.wait_stderr("recording take 1")
    client = SimpleUDPClient("127.0.0.1", port)
    client.send_message("/rehearsal/tag", ["laugh", "anna"])
    first = proc.next_json("marker", timeout=60)   # printed only once committed (fsync: slow on a busy disk)
    client.send_message("/jam/surprise", 1)
    second = proc.next_json("marker", timeout=60)
    rc, rest, err = proc.finish(timeout=30)
    assert rc == 0, err
    assert (first["symbol"], first["who"], second["symbol"]) == ("laugh", "anna", "surprise")
    assert first["tap_s"] == round(first["tap_sample"] / sr, 6) and first["start_sample"] <= first["tap_sample"]
    return home


def test_record_then_export_every_format(tmp_path):
    home = _record_with_tags(tmp_path)
    base = ["--home", str(home)]
    sessions = run_cli([*base, "sessions"])
    assert "gig ✓" in sessions.stdout and "2 markers" in sessions.stdout
    as_json = [json.loads(l) for l in run_cli([*base, "markers", "gig ✓"]).stdout.splitlines()]
    assert [m["symbol"] for m in as_json] == ["laugh", "surprise"]
    aud = run_cli([*base, "markers", "gig ✓", "--take", "1", "--format", "audacity"]).stdout.splitlines()
    start, end, label = aud[0].split("\t")
    assert float(start) == round(as_json[0]["start_s"], 6) and float(end) == round(as_json[0]["end_s"], 6)
    assert len(start.split(".")[1]) == 6 and "laugh" in label and "anna" in label
    sv = list(csv.reader(io.StringIO(run_cli([*base, "markers", "gig ✓", "--take", "1", "--format", "sv-csv"]).stdout)))
    # Sonic Visualiser skips a row at frame 0, so a tag there is written one sample in (the file
    # input is held until the take starts: a tag sent at once can land on frame 0)
    assert sv[0] == ["time", "label"] and "laugh" in sv[1][1]
    assert float(sv[1][0]) == max(as_json[0]["tap_s"], round(1 / 48000, 6))
    reaper_out = run_cli([*base, "markers", "gig ✓", "--take", "1", "--format", "reaper"])
    assert not reaper_out.stdout.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(reaper_out.stdout)))
    assert rows[0] == ["#", "Name", "Start", "End", "Length", "Color"] and rows[1][0] == "R1"
    missing = run_cli([*base, "markers", "no such session"])
    assert missing.returncode != 0 and "no session named" in missing.stderr


def test_recording_and_tagging_never_import_torch():
    code = ("import sys, rehearsal.room, rehearsal.cli, rehearsal.markers.osc, rehearsal.markers.midi;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_package_folder_is_listed_for_installation():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "rehearsal").rglob("__init__.py")}
    found |= {".".join(("rehearsal_plugins", *p.parent.relative_to(ROOT / "plugins").parts))
              for p in (ROOT / "plugins").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"
    assert {"rehearsal_plugins", "rehearsal_notations"} <= listed
