"""Play end to end on real parts: JACK dummy server -> PortAudio duplex stream in the play
process -> real generations (trained a few steps) -> PortAudio output -> a JACK client that
records it; both takes on disk. The audio itself is the ground truth: the play process's
model takes are compared sample for sample with the same models run offline, and the
sound that came out of PortAudio with the model take, at the latency it must have.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from rehearsal.play import PlayConfig, Player
from rehearsal.training import synthetic
from rehearsal.training.generations import checkpoint_for
from tests.support.jackplayer import JackPlayer
from tests.support.jackrecorder import JackRecorder
from tests.support.playmodels import (install_faulty_family, make_faulty_generation, make_generation,
                                      render_like_play)

BLOCK = 256
TOL = 2e-5     # the same TorchScript calls in two processes: equal up to float rounding


class Events:
    """Events from the play process, waited on with a condition (no sleeps)."""

    def __init__(self, player: Player):
        self.items: list[tuple[str, dict]] = []
        self.cond = threading.Condition()
        player.on_event(self._on)

    def _on(self, event) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait(self, kind: str, timeout: float = 60.0, **match) -> dict:
        def found():
            return next((p for k, p in self.items if k == kind and all(p.get(a) == b for a, b in match.items())), None)

        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no {kind} {match} within {timeout} s; events: {self.items}")
            return found()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def find_exact(haystack: np.ndarray, needle: np.ndarray) -> int:
    for i in np.flatnonzero(haystack == needle[0]):
        if i + len(needle) <= len(haystack) and np.array_equal(haystack[i:i + len(needle)], needle):
            return int(i)
    raise AssertionError("the played signal was not found in the input take")


@pytest.fixture(scope="module")
def interface_latency(jack_server) -> int:
    """The audio interface's own input-to-output latency: a bare PortAudio pass-through."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.passthrough", str(BLOCK)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    tester, listener = JackPlayer("calib-player", channels=1), JackRecorder("calib-listener", seconds=5)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert tester.connect_to("PortAudio") and listener.connect_from("PortAudio")
        listener.start()
        click = np.zeros(4800, np.float32)
        click[100] = 0.5
        tester.play(click)
        assert tester.done.wait(20)
        wait_until(lambda: listener.frames_recorded_until() > tester.started_cycle_frame + 4800, 20, "the click")
        got = np.flatnonzero(listener.buffer[:listener.pos, 0])
        assert len(got) == 1
        return int(listener.first_frame + got[0] - (tester.started_cycle_frame + 100))
    finally:
        tester.close()
        listener.close()
        proc.stdin.close()
        proc.wait(10)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rehearsal.play import ensure_schema
    from rehearsal.store import Workspace, open_db

    ws = Workspace.at(tmp_path_factory.mktemp("play") / "ws")
    db = open_db(ws.db_path)
    ensure_schema(db)
    yield ws, db
    db.conn.close()


def _checkpoint(store, gen) -> str:
    ws, db = store
    return str(ws.resolve(checkpoint_for(db, gen)["path"]))


class Rig:
    """Play process + a JACK player into its input + a JACK recorder of its output."""

    def __init__(self, tmp_path, **config):
        self.player = Player(PlayConfig(**config)).open()
        self.events = Events(self.player)
        self.tester = JackPlayer("play-tester", channels=1)
        self.listener = JackRecorder("play-listener", seconds=30)
        assert self.tester.connect_to("PortAudio") == ["PortAudio:in_0"]
        assert self.listener.connect_from("PortAudio")
        self.in_path, self.out_path = tmp_path / "performer.w64", tmp_path / "model.w64"
        self.start = self.player.start_take(self.in_path, self.out_path)
        self.listener.start()

    def play(self, signal: np.ndarray, during=None) -> None:
        self.tester.play(signal)
        if during:
            during()
        assert self.tester.done.wait(60)
        # everything played must have come out: the latency plus a few periods more
        end = self.tester.started_cycle_frame + len(signal) + 4 * BLOCK + self.player.latency
        wait_until(lambda: self.listener.frames_recorded_until() > end, 30, "the output of the whole signal")

    def finish(self) -> tuple[dict, np.ndarray, np.ndarray]:
        stopped = self.player.stop_take()
        performer, sr1 = sf.read(self.in_path, dtype="float32", always_2d=True)
        model, sr2 = sf.read(self.out_path, dtype="float32", always_2d=True)
        assert sr1 == sr2 == 48000
        return stopped, performer[:, 0], model[:, 0]

    def check_output(self, performer, model, late, p: int, interface: int, frames: range, mix: float = 1.0) -> None:
        """What came out of the interface is, frame for frame, the mix of the model take and
        the performer's take `latency` earlier (dry where the model was late); take frame t
        comes out at JACK frame (tester start - p) + t + the interface's own latency."""
        L = self.player.latency
        t = np.arange(frames.start, frames.stop)
        dry = performer[t - L]
        wet = np.where(late[t], dry, model[t])
        expected = np.clip(dry + (wet - dry) * np.float32(mix), -1, 1)
        out = self.listener.at(self.tester.started_cycle_frame - p + interface + frames.start, len(t))
        np.testing.assert_allclose(out, expected, atol=1e-6)
        assert not model[late].any(), "the model take holds silence where the model was late"

    def close(self) -> None:
        self.tester.close()
        self.listener.close()
        self.player.close()


def glitched(stopped: dict, start: int, frames: int) -> np.ndarray:
    """Take frames the callback played dry because the model's block was late. On this
    shared test machine (two cores, a non-real-time JACK server that runs cycles back to
    back when it falls behind) a few happen; bench/play.py measures them properly."""
    late = np.zeros(frames, bool)
    for g in stopped["stats"]["glitch_frames"]:
        late[max(0, g - start):max(0, g - start + BLOCK)] = True
    assert stopped["glitches"] == len(stopped["stats"]["glitch_frames"])
    assert late.mean() < 0.02, f"{stopped['glitches']} glitches in {frames} frames"
    return late


def _signal(seconds: float, seed: int) -> np.ndarray:
    return (0.3 * synthetic.plucked(seconds, seed=seed)).astype(np.float32)


def test_known_input_comes_out_processed_by_the_model_with_the_expected_latency(store, interface_latency, tmp_path):
    ws, db = store
    gen = make_generation(ws, db, "pitch", seed=0)
    rig = Rig(tmp_path)
    try:
        L = rig.player.latency
        assert L == 256   # the model's own latency: one block of 256 at 48 kHz
        rig.player.load(gen["id"], _checkpoint(store, gen), gen["name"])
        warm = rig.events.wait("warming", generation_id=gen["id"])
        switched = rig.events.wait("switched", generation_id=gen["id"])
        signal = _signal(2.0, seed=7)
        rig.play(signal)
        stopped, performer, model = rig.finish()
    finally:
        rig.close()

    # both takes have every frame, from the same counter
    assert stopped["frames"] == len(performer) == len(model)
    late = glitched(stopped, rig.start, len(model))
    # the performer's take holds the signal exactly
    p = find_exact(performer, signal[:512])
    assert np.array_equal(performer[p:p + len(signal)], signal)
    # the model take is the model's answer to the performer's take, `L` samples later
    w = warm["input_frame"] - rig.start
    reference = render_like_play(_checkpoint(store, gen), performer, w, len(performer) - L)
    after = switched["input_frame"] - rig.start      # fully faded in from here (input frames)
    ok = ~late[after + L:]
    np.testing.assert_allclose(model[after + L:][ok], reference[after:len(performer) - L][ok], atol=TOL)
    heard = model[p + L:p + L + len(signal)]
    assert np.abs(heard).max() > 1e-3                                   # it played something
    assert np.abs(heard - signal).max() > 0.1                           # and not the input
    # what came out of the interface is the model take (dry/wet = 1), at the interface's
    # latency plus the model's: input sample j comes out at j + interface + L
    rig.check_output(performer, model, late, p, interface_latency, range(after + L, len(model) - 4 * BLOCK))
