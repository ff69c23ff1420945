"""Taps land where they were heard: real recorder on JACK, real MIDI and OSC, clicks as truth.

A JackPlayer (tests/support/click_player.py, in a process of its own) plays 40 clicks
into the recorder's inputs. With 20 of them it writes a MIDI pedal tap (CC 64 press and
release) in the same JACK cycle; with the other 20, its process callback wakes a thread
that sends an OSC tag over UDP. This process runs what the app runs: the Room (recorder
process, marker bus), the MIDI source and an OSC source on its own event loop. The
recorded file says where each click really is; every marker must be within 256 samples.

A marker is timed by when its event arrived, so a tap in a cycle the machine ran late (an
xrun) arrives late by that much: those clicks (an xrun up to 0.5 s before or 0.1 s after
them, the clock's settling time and the event's way here) are reported, not judged. A take
with too few clicks left to judge is measured again.
"""

from __future__ import annotations

import asyncio
import json
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
XRUN_BEFORE_S, XRUN_AFTER_S = 0.1, 0.5   # a click this close before / after an xrun is not judged
MIN_JUDGED = 5                           # clicks judged per source, for a take to count


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


def record_and_tap(home: Path, sr: int) -> tuple[dict, dict, int]:
    """One take with 40 clicks and their taps: (errors in samples by source, whether each click
    was clear of xruns by source, overflows)."""
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
        played = json.loads(player.stdout.readline())
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
        return {}, {}, overflows
    xruns = np.array(played["xruns"])
    clear = np.array([not np.any((xruns > t - XRUN_AFTER_S) & (xruns < t + XRUN_BEFORE_S)) for t in played["clicks"]])
    assert len(clear) == 2 * N_EACH, f"the player reported {len(clear)} clicks"
    errors = {name: np.array(by_source[name]) - clicks for name, clicks in (("midi", onsets[0::2]), ("osc", onsets[1::2]))}
    return errors, {"midi": clear[0::2], "osc": clear[1::2]}, overflows


def test_midi_and_osc_taps_land_within_256_samples_of_their_clicks(jack_server, tmp_path):
    # An input overflow means the JACK graph ran late: the taps of its clicks arrive late.
    # Those are left out; the rest must pass. On an overloaded machine, measure again (at most
    # five takes: on a VM that stalls, five takes in a row overflowed 12 to 89 times each).
    attempts = []
    for attempt in range(5):
        errors, clear, overflows = record_and_tap(tmp_path / f"ws{attempt}", jack_server.rate)
        judged = {k: e[clear[k]] for k, e in errors.items()}
        report = {k: {"median": int(np.median(np.abs(v))), "max": int(np.abs(v).max()),
                      "judged": int(clear[k].sum()),
                      "max judged": int(np.abs(judged[k]).max()) if clear[k].any() else None}
                  for k, v in errors.items()}
        print(f"take {attempt + 1}: marker timing error in samples: {report}; input overflows: {overflows}")
        attempts.append((report, overflows))
        if errors and all(clear[k].sum() >= MIN_JUDGED for k in errors):
            worst = max(int(np.abs(v).max()) for v in judged.values())
            if worst <= TOLERANCE:
                return
            if overflows == 0:
                pytest.fail(f"markers off by up to {worst} samples at clicks clear of xruns: "
                            + "; ".join(f"{k}: {v.tolist()}" for k, v in judged.items()))
    pytest.fail(f"the recorder overflowed in every take, so timing could not be judged: {attempts}")
