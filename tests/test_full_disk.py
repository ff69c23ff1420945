"""Issue 13, finding 5: a disk already full before start. On a real small tmpfs: read-only
commands work, recording refuses in words, the reserve file is released. Needs root for
the mount; with CI=true that is a failure, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REHEARSAL = str(Path(sys.executable).with_name("rehearsal"))


@pytest.fixture
def full_disk(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _run(home, *args):
    return subprocess.run([REHEARSAL, "--home", str(home), *args], capture_output=True, text=True, timeout=60)


def test_a_full_disk_before_start(full_disk):
    home = full_disk / "ws"
    assert _run(home, "sessions").returncode == 0        # makes the workspace while there is room
    with open(full_disk / "fill", "wb") as f:              # then fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    r = _run(home, "sessions")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    wav = Path(__file__).parent / "fuzz_corpus" / "audio" / "nonfinite-float.wav"
    r = _run(home, "record", "--session", "x", "--notation", "good-bad-pedal", "--input-file", str(wav))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "the disk is full or read-only" in r.stderr
    assert not (home / ".reserve").exists()
