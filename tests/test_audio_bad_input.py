"""Issue 13, finding 2: NaN/inf samples never reach a take; a broken header rate is refused in words.

Runs the real `rehearsal record --input-file` (capture process, take writer, SQLite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

CORPUS = Path(__file__).parent / "fuzz_corpus" / "audio"
REHEARSAL = str(Path(sys.executable).with_name("rehearsal"))


def _record(home, wav):
    return subprocess.run([REHEARSAL, "--home", str(home), "record", "--session", "s", "--notation",
                           "good-bad-pedal", "--input-file", str(wav), "--speed", "20"],
                          capture_output=True, text=True, timeout=60)


def test_nonfinite_samples_are_counted_reported_and_recorded_as_zero(tmp_path):
    r = _record(tmp_path, CORPUS / "nonfinite-float.wav")
    assert r.returncode == 0, r.stderr
    assert "3 samples were NaN or infinite" in r.stderr
    takes = list(tmp_path.rglob("take-001.*"))
    assert takes, r.stderr
    audio = sf.read(str(takes[0]), dtype="float32")[0]
    assert len(audio) == 4800 and np.isfinite(audio).all()


def test_a_header_saying_1_hz_is_refused_in_words(tmp_path):
    r = _record(tmp_path, CORPUS / "header-1hz.wav")
    assert r.returncode == 1
    assert "the header says 1 Hz" in r.stderr and "Traceback" not in r.stderr


def test_the_end_of_a_short_input_reaches_a_listener_added_after_it(workspace):
    """Found by the record-path fuzz: a 3-frame input file ended before `rehearsal record`
    listened, and record waited for ever. The end of the input is a state: told late too."""
    from rehearsal.audio import RecorderConfig
    from rehearsal.notation import load_notation, shipped_notations
    from rehearsal.room import InputEnded, Room

    room = Room(workspace, "s", load_notation(shipped_notations()["good-bad-pedal"]),
                RecorderConfig(input_file=str(CORPUS / "channels-255-three-frames.wav")))
    try:
        room._engine_event(("input-ended", 2))        # what the capture process says at the end
        told: list = []
        room.listen(told.append)
        assert told == [InputEnded(2)]
    finally:
        room.db.conn.close()
