"""The real `rehearsal` in a real terminal (tmux), recording from the JACK dummy server.

Launches the command as a user would, records, presses a symbol key, and reads the
screen with `tmux capture-pane` until the tag shows; then edits a notation on the Notation
screen (F7) and saves it; then quits and checks the store and the saved file.
Every wait polls the screen (or the database) with a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.tui import markers_of

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup --test)")

COLS, ROWS = 120, 40


class Tmux:
    def __init__(self, name: str):
        self.socket = name
        self.session = "rehearsal"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, check=check, timeout=10)

    def start(self, command: list[str], env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        # COLUMNS / LINES from the test's own environment would override the terminal's size
        line = f"env -u COLUMNS -u LINES {exports} {' '.join(_quote(c) for c in command)}; echo EXITED $?; sleep 60"
        self.run("new-session", "-d", "-s", self.session, "-x", str(COLS), "-y", str(ROWS), line)
        # without a client attached, tmux may keep its 80x24 default: size the window for the app
        self.run("set-option", "-t", self.session, "window-size", "manual", check=False)
        self.run("resize-window", "-t", self.session, "-x", str(COLS), "-y", str(ROWS), check=False)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait_for(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not on screen after {timeout:.0f} s:\n{text}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.run("kill-server", check=False)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def test_rehearsal_in_a_real_terminal_records_shows_a_tag_and_edits_a_notation(jack_server, tmp_path):
    home = tmp_path / "ws"
    tmux = Tmux(f"rehearsal-test-{os.getpid()}")
    env = {"JACK_DEFAULT_SERVER": jack_server.name, "JACK_NO_START_SERVER": "1", "LANG": "C.UTF-8",
           "TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "rehearsal", "--home", str(home), "--session", "terminal",
               "--no-midi", "--osc-port", "0"]
    try:
        tmux.start(command, env)
        screen = tmux.wait_for("○ stopped", timeout=40)           # JACK's input opened
        assert "input  system" in screen or "input  " in screen
        tmux.keys("C-r")
        tmux.wait_for("● REC take 1")
        tmux.keys("g")
        screen = tmux.wait_for("keyboard")                          # the log row: who / device
        row = next(line for line in screen.splitlines() if "keyboard" in line)
        assert "✓" in row and "Good" in row and "key" in row
        tmux.keys("C-r")
        tmux.wait_for("○ stopped")

        # the Notation screen (F7): edit the first symbol's label, try a bad colour, save
        tmux.keys("F7")
        tmux.wait_for("sound-poetry")
        tmux.keys("Enter")                                          # good-bad-pedal
        tmux.wait_for("editing good-bad-pedal")
        tmux.keys("Down")
        tmux.wait_for("symbols[0]")
        for field in ("id", "glyph", "ascii", "label"):              # Tab by Tab: the field typed in is marked ›
            tmux.keys("Tab")
            tmux.wait_for(f"› {field}")
        tmux.keys("-l", "Keep")                                     # focus selected the old label: replaced
        tmux.keys("Tab")
        tmux.wait_for("› colour")
        tmux.keys("-l", "#12")
        screen = tmux.wait_for("refused: ")
        assert "symbols[0].colour: '#12' is not a colour (#rrggbb or a name)" in screen.replace("\n", "")
        tmux.keys("C-s")
        tmux.wait_for("saved notations/good-bad-pedal.toml")
        tmux.keys("C-q")
        tmux.wait_for("EXITED 0", timeout=30)
    finally:
        tmux.kill()
    from rehearsal.store import Workspace, open_db
    from rehearsal.store.takes import takes_of_session

    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    try:
        session = db.execute("SELECT id FROM sessions WHERE name = 'terminal'").fetchone()[0]
        (take,) = takes_of_session(db, session)
    finally:
        db.conn.close()
    assert take["status"] == "complete" and take["frames"] > 0 and "system" in take["device"]
    assert [m.symbol for m in markers_of(ws, take["id"])] == ["good"]
    from rehearsal.notation import shipped_notations

    original = shipped_notations()["good-bad-pedal"].read_text().splitlines()
    saved = (home / "notations" / "good-bad-pedal.toml").read_text().splitlines()
    assert [(a, b) for a, b in zip(original, saved) if a != b] == [('label = "Good"', 'label = "Keep"')]
    assert len(saved) == len(original)


def test_recording_from_a_score_in_a_real_terminal_stores_its_markers(tmp_path):
    """`rehearsal --score S --input-file F` in tmux: the Score view comes up over Record,
    ctrl+r records, the file's end stops the take, and the score's events are its markers."""
    import soundfile as sf

    from rehearsal.notation import parse_notation
    from rehearsal.notation.score import parse_score
    from tests.support.score_take import NOTATION, SR, perform

    (tmp_path / "n.toml").write_text(NOTATION)
    text = "title: three\nauthor: jaap\nnotation: n.toml\ncount-in: 1s\nP 1.5s mf\nF 1.5s p \"soft\"\nC 1.5s f\n"
    (tmp_path / "three.score").write_text(text)
    score = parse_score(text, notation=parse_notation(NOTATION))
    # streamed at 2x from when the input opens: the lead covers the wait for ctrl+r on a loaded machine
    sf.write(str(tmp_path / "perf.wav"), perform(score, 1, lead_s=3.0, tail_s=1.0).samples, SR, subtype="FLOAT")
    home = tmp_path / "ws"
    tmux = Tmux(f"rehearsal-score-{os.getpid()}")
    env = {"LANG": "C.UTF-8", "TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "rehearsal", "--home", str(home), "--session", "scored", "--no-midi", "--no-osc",
               "--preroll", "0", "--score", str(tmp_path / "three.score"), "--input-file", str(tmp_path / "perf.wav"),
               "--speed", "2"]
    try:
        tmux.start(command, env)
        tmux.wait_for("ctrl+r: record from the score", timeout=40)
        tmux.keys("C-r")
        tmux.wait_for("● REC")
        tmux.wait_for("3 markers on take 1", timeout=40)     # the file ended, the take was labelled
        tmux.keys("C-q")
        tmux.wait_for("EXITED 0", timeout=30)
    finally:
        tmux.kill()
    from rehearsal.store import Workspace, open_db

    db = open_db(Workspace.at(home).db_path)
    try:
        take = db.execute("SELECT id, status, score_id FROM takes").fetchone()
        rows = db.execute("SELECT symbol, who, source FROM markers WHERE take_id = ? ORDER BY start_sample",
                          [take[0]]).fetchall()
    finally:
        db.conn.close()
    assert take[1] == "complete" and take[2] is not None
    assert rows == [("piano", "jaap", "score"), ("flute", "jaap", "score"), ("cello", "jaap", "score")]
