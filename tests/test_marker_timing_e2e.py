"""Taps land where they were heard: real recorder on JACK, real MIDI and OSC, clicks as truth.

A JackPlayer (tests/support/click_player.py, in a process of its own) plays 40 clicks
into the recorder's inputs. With 20 of them it writes a MIDI pedal tap (CC 64 press and
release) in the same JACK cycle; with the other 20, its process callback wakes a thread
that sends an OSC tag over UDP. This process runs what the app runs: the Room (recorder
process, marker bus), the MIDI source and an OSC source on its own event loop. The
recorded file says where each click really is; every marker must be within 256 samples.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rehearsal.audio import RecorderConfig
from rehearsal.markers import Committed
from rehearsal.markers.midi import MidiSource
from rehearsal.markers.osc import OscSource
from rehearsal.notation import load_notation, shipped_notations
from rehearsal.room import Room
from rehearsal.store import open_db
from rehearsal.store.markers import list_markers

pytestmark = [pytest.mark.jack, pytest.mark.slow, pytest.mark.serial]

TOLERANCE = 256
N_EACH = 20
SPACING_S = 0.2          # clicks alternate MIDI / OSC: MIDI taps 0.4 s apart, beyond the 350 ms window
ROOT = Path(__file__).resolve().parent.parent


class OscLoop:
    """An OscSource on an event loop of its own thread (as the TUI's loop would host it)."""

    def __init__(self, bus, notation):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="osc-loop", daemon=True)
        self.thread.start()
        self.source = asyncio.run_coroutine_threadsafe(
            OscSource(bus, notation, port=0).start(), self.loop).result(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.source.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def record_and_tap(home: Path, sr: int) -> tuple[dict, int]:
    """One take with 40 clicks and their taps: (errors in samples by source, overflows)."""
    from rehearsal.store import Workspace

    notation = load_notation(shipped_notations()["good-bad-pedal"])   # tap good, long bad, double undo
    ws = Workspace.at(home)
    room = Room(ws, "timing", notation, RecorderConfig(channels=2, preroll_s=1.0)).open()
    committed, done = [], threading.Event()

    def on_message(m):
        if isinstance(m, Committed):
            committed.append(m.marker)
            if len(committed) >= 2 * N_EACH:
                done.set()

    room.listen(on_message)
    midi = MidiSource(room.bus, notation, api="jack", virtual="rehearsal")
    osc = OscLoop(room.bus, notation)
    player = subprocess.Popen(
        [sys.executable, "-m", "tests.support.click_player", str(osc.source.port), str(N_EACH), str(SPACING_S)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ.copy())
    try:
        assert player.stdout.readline().strip() == "ready", "the click player did not connect"
        room.start_take()
        player.stdin.write("go\n")
        player.stdin.flush()
        assert player.stdout.readline().strip() == "done", "the click player did not finish"
        assert done.wait(10), f"only {len(committed)} of {2 * N_EACH} markers committed"
        room.stop_take()
    finally:
        if player.poll() is None:
            player.kill()
        player.wait(10)
        midi.close()
        osc.close()
        room.close()

    db = open_db(ws.db_path)
    try:
        take_id, path, overflows = db.execute(
            "SELECT id, path, overflows FROM takes ORDER BY id DESC LIMIT 1").fetchone()
        markers = list_markers(db, take_id)
        audio, file_sr = sf.read(str(ws.resolve(path)), dtype="float32", always_2d=True)
    finally:
        db.conn.close()
    assert file_sr == sr

    # where the clicks really are: rising edges in the recording
    loud = np.abs(audio[:, 0]) > 0.5
    onsets = np.flatnonzero(loud & ~np.concatenate([[False], loud[:-1]]))
    assert len(onsets) == 2 * N_EACH or overflows, f"found {len(onsets)} clicks in the recording"
    by_source = {"midi": sorted(m.tap_sample for m in markers if m.source == "midi:rehearsal"),
                 "osc": sorted(m.tap_sample for m in markers if m.source == "osc:127.0.0.1")}
    # all stored, whatever the machine's load
    assert len(by_source["midi"]) == N_EACH and len(by_source["osc"]) == N_EACH, by_source
    assert all(m.symbol == "good" and m.gesture == "tap" for m in markers)
    if len(onsets) != 2 * N_EACH:
        return {}, overflows
    return {name: np.array(by_source[name]) - clicks
            for name, clicks in (("midi", onsets[0::2]), ("osc", onsets[1::2]))}, overflows


def test_midi_and_osc_taps_land_within_256_samples_of_their_clicks(jack_server, tmp_path):
    # An input overflow means the JACK graph ran late and frames may be lost around it: the
    # file's sample positions and the clock then disagree for reasons outside the markers.
    # On an overloaded machine, measure again (at most five takes: on a VM that stalls, three
    # takes in a row overflowed at load 0.2); a clean take must pass.
    attempts = []
    for attempt in range(5):
        errors, overflows = record_and_tap(tmp_path / f"ws{attempt}", jack_server.rate)
        worst = max((int(np.abs(e).max()) for e in errors.values()), default=None)
        report = {k: (int(np.median(v)), int(np.abs(v).max())) for k, v in errors.items()}
        print(f"take {attempt + 1}: marker timing error (median, max |error|) in samples: {report};"
              f" input overflows: {overflows}")
        attempts.append((report, overflows))
        if worst is not None and worst <= TOLERANCE:
            return
        if overflows == 0:
            pytest.fail(f"markers off by up to {worst} samples in a take without overflows: "
                        + "; ".join(f"{k}: {v.tolist()}" for k, v in errors.items()))
    pytest.fail(f"the recorder overflowed in every take, so timing could not be judged: {attempts}")
