"""Play end to end on real parts: JACK dummy server -> PortAudio duplex stream in the play
process -> real generations (trained a few steps) -> PortAudio output -> a JACK client that
records it; both takes on disk. The audio itself is the ground truth: the play process's
model takes are compared sample for sample with the same models run offline, and the
sound that came out of PortAudio with the model take, at the latency it must have.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rehearsal.play import PlayConfig, Player
from rehearsal.store.takes import get_take
from rehearsal.training import synthetic
from rehearsal.training.generations import checkpoint_for
from tests.support.jackplayer import JackPlayer
from tests.support.play_events import Events
from tests.support.jackrecorder import JackRecorder
from tests.support.playmodels import (install_faulty_family, make_faulty_generation, make_generation,
                                      render_like_play)

BLOCK = 256
SR_PLAY = 48000
TOL = 2e-5     # the same TorchScript calls in two processes: equal up to float rounding


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
    raise AssertionError("the played signal was not found")


@pytest.fixture(scope="module")
def interface_latency(jack_server) -> int:
    """The audio interface's own input-to-output latency: a bare PortAudio pass-through."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.passthrough", str(BLOCK)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for attempt in range(3):   # a JACK graph change can upset the first cycles: try again
            lag = _measure_lag()
            if lag is not None:
                return lag
        raise AssertionError("the pass-through did not pass the probe through")
    finally:
        proc.stdin.close()
        proc.wait(10)


def _measure_lag() -> int | None:
    tester, listener = JackPlayer("calib-player", channels=1), JackRecorder("calib-listener", seconds=5)
    try:
        assert tester.connect_to("PortAudio") and listener.connect_from("PortAudio")
        listener.start()
        probe = (np.random.default_rng(3).standard_normal(4800) * 0.1).astype(np.float32)
        tester.play(probe)
        assert tester.done.wait(20)
        wait_until(lambda: listener.frames_recorded_until() > tester.started_cycle_frame + 3 * 4800, 20, "the probe")
        try:
            at = find_exact(listener.buffer[:listener.pos, 0], probe[:512])
        except AssertionError:
            return None
        return int(listener.first_frame + at - tester.started_cycle_frame)
    finally:
        tester.close()
        listener.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rehearsal.store import Workspace, open_db

    ws = Workspace.at(tmp_path_factory.mktemp("play") / "ws")
    db = open_db(ws.db_path)
    yield ws, db
    db.conn.close()


def _checkpoint(store, gen) -> str:
    ws, db = store
    return str(ws.resolve(checkpoint_for(db, gen)["path"]))


class Rig:
    """Play process + a JACK player into its input + a JACK recorder of its output."""

    def __init__(self, tmp_path, ws=None, align: bool = False, **config):
        """With `ws`, the play runs in a PlayRoom of that workspace (its rows, its events;
        it starts dry, so unaligned); without, on the bare Player."""
        self.room = None
        if ws is not None:
            from rehearsal.notation import find_notation, load_notation
            from rehearsal.play import PlayRoom

            assert not align, "a room aligns the takes when it starts with a model"
            self.room = PlayRoom(ws, "jack", load_notation(find_notation("jam-reactions")), PlayConfig(**config))
            self.player = self.room.player
            self.room.open()
        else:
            self.player = Player(PlayConfig(**config)).open()
        try:
            self.events = Events(self.player)
            self.tester = JackPlayer("play-tester", channels=1)
            self.listener = JackRecorder("play-listener", seconds=30)
            # one client's one input (its name depends on which PortAudio clients exist already)
            assert len(self.tester.connect_to("PortAudio")) == 1
            assert self.listener.connect_from("PortAudio")
            if self.room is not None:
                self.play_id = self.room.start(None)["id"]
                self.start = self.room.start_frame
                self.in_path, self.out_path = (ws.resolve(get_take(self.room.db, t)["path"])
                                               for t in self.room._row_takes(self.play_id))
            else:
                self.in_path, self.out_path = tmp_path / "performer.w64", tmp_path / "model.w64"
                self.start = self.player.start_take(self.in_path, self.out_path, align=align)
            self.listener.start()
        except BaseException:
            (self.room or self.player).close()   # never leave a play process behind for the next test
            raise

    def play(self, signal: np.ndarray, during=None) -> None:
        self.tester.play(signal)
        if during:
            during()
        assert self.tester.done.wait(60)
        # everything played must have come out: the latency plus a few periods more
        end = self.tester.started_cycle_frame + len(signal) + 4 * BLOCK + self.player.latency
        wait_until(lambda: self.listener.frames_recorded_until() > end, 30, "the output of the whole signal")

    def finish(self) -> tuple[dict, np.ndarray, np.ndarray]:
        if self.room is not None:       # what the room stored of the play process's answer
            done = self.room.stop()
            stopped = {"frames": done.input_take["frames"], "glitches": done.play["glitches"],
                       "stats": json.loads(done.play["stats_json"])}
        else:
            stopped = self.player.stop_take()
        performer, sr1 = sf.read(self.in_path, dtype="float32", always_2d=True)
        model, sr2 = sf.read(self.out_path, dtype="float32", always_2d=True)
        assert sr1 == sr2 == 48000
        return stopped, performer[:, 0], model[:, 0]

    def check_output(self, performer, wet, late, p: int, interface: int, frames: range) -> None:
        """What came out of the interface is, frame for frame, `wet` (by take frame; dry/wet
        is 1), or the performer's take `latency` earlier where the model was late; take
        frame t comes out at JACK frame (tester start - p) + t + the interface's latency."""
        L = self.player.latency
        t = np.arange(frames.start, frames.stop)
        expected = np.clip(np.where(late[t], performer[t - L], wet[t]), -1, 1)
        out = self.listener.at(self.tester.started_cycle_frame - p + interface + frames.start, len(t))
        np.testing.assert_allclose(out, expected, atol=1e-6)

    def close(self) -> None:
        self.tester.close()
        self.listener.close()
        (self.room or self.player).close()


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


@pytest.fixture(scope="module")
def pitch_gen(store):
    return make_generation(*store, "pitch", seed=0)


@pytest.fixture(scope="module")
def latent_gen(store):
    return make_generation(*store, "latent", seed=1)


@pytest.fixture(scope="module")
def corpus_gen(store):
    from tests.support.playmodels import make_corpus_generation

    return make_corpus_generation(*store)


@pytest.mark.parametrize("family", ["pitch"])   # the corpus family: in the accompaniment test below
def test_known_input_comes_out_processed_by_the_model_with_the_expected_latency(store, family, interface_latency,
                                                                              tmp_path, request):
    gen = request.getfixturevalue(f"{family}_gen")
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
    assert not model[late].any(), "where the model was late its take holds silence"
    rig.check_output(performer, model, late, p, interface_latency, range(after + L, len(model) - 4 * BLOCK))


def test_the_corpus_model_answers_a_pause_and_yields_when_the_performer_comes_back(store, corpus_gen, tmp_path):
    """Co-performer, call and response (issue 16), through JACK: the model's take is
    silent while the performer plays, answers within the pause plus one block of their
    silence, and is silent again from the block they are heard again."""
    gen = corpus_gen
    pause_s = 0.3
    rig = Rig(tmp_path, coperform={"mode": "call-response", "pause_s": pause_s, "answer_s": 0.5, "gate_db": -45.0},
              spare=False)   # no switch: no spare model host (a torch start-up less, during the play)
    try:
        rig.player.load(gen["id"], _checkpoint(store, gen), gen["name"])
        switched = rig.events.wait("switched", generation_id=gen["id"])
        phrase = _signal(1.0, seed=3)
        signal = np.concatenate([phrase, np.zeros(SR_PLAY, np.float32), phrase[: SR_PLAY // 2]])
        rig.play(signal)
        stopped, performer, model = rig.finish()
    finally:
        rig.close()
    L = rig.player.latency
    late = glitched(stopped, rig.start, len(model))
    p = find_exact(performer, signal[:512])
    after = switched["input_frame"] - rig.start + L
    assert p > after, "the model was faded in before the performer began"
    loud = np.flatnonzero(np.abs(performer[p:p + len(phrase)]) > 10 ** (-45 / 20))
    quiet_from = p + int(loud[-1]) + 1                       # the performer's last sound
    resumed = p + len(phrase) + SR_PLAY                      # and where they come back
    # a silent model block is exact zeros; a late one too (it was played dry): neither shows
    # when the answer was due, so a late block counts as said
    said = np.flatnonzero((model[after:] != 0) | late[after:]) + after
    first = int(said[said >= quiet_from + L][0])              # (it answers the silence before they begin too)
    wait = first - L - quiet_from
    print(f"answer {wait / SR_PLAY * 1000:.1f} ms after the performer stopped (pause {pause_s * 1000:.0f} ms "
          f"+ one block {BLOCK / SR_PLAY * 1000:.1f} ms, model latency {L} samples apart)")
    assert not model[p + L:quiet_from].any()                 # it listened while they played
    assert wait <= pause_s * SR_PLAY + BLOCK                 # within the pause plus one block
    assert first < resumed + L
    quiet = ~late[resumed + L + BLOCK:len(performer) - BLOCK]
    assert not model[resumed + L + BLOCK:len(performer) - BLOCK][quiet].any()   # it yielded within a block


def test_the_corpus_model_plays_as_offline_follows_at_one_and_ignores_the_performer_at_zero(
        store, corpus_gen, interface_latency, tmp_path):
    """Co-performer, accompaniment (issue 16), through JACK, one play: follow 1, then turned
    to 0 live halfway (PlayRoom.set_follow, as OSC /rehearsal/play/follow and the TUI do;
    the room stores it as a `follow` play event at the frame it is heard from). The takes on
    disk: at follow 1 the model's part is the corpus generation's `forward`, sample for
    sample as rendered offline (what the known-input test checks of the other families),
    and what came out of the interface is the model take; the model's loudness envelope
    correlates with the performer's at r >= 0.7 while it follows, at |r| <= 0.2 once it
    ignores them."""
    from tests.test_play_coperformer import envelope_db, stepped

    gen, half = corpus_gen, 3.0
    ws, db = store
    rig = Rig(tmp_path, ws, coperform={"mode": "accompany", "follow": 1.0}, spare=False)
    try:
        rig.room.switch(gen["name"])
        warm = rig.events.wait("warming", generation_id=gen["id"])
        switched = rig.events.wait("switched", generation_id=gen["id"])
        signal = stepped(5, 2 * half)

        def turn_down_halfway():
            wait_until(lambda: rig.tester._pos > half * SR_PLAY, 30, "half the signal")
            rig.room.set_follow(0.0)

        rig.play(signal, during=turn_down_halfway)
        turned = rig.events.wait("follow-applied")
        stopped, performer, model = rig.finish()
    finally:
        rig.close()
    L, hop, lag = rig.player.latency, 1024, 2
    late = glitched(stopped, rig.start, len(model))
    p = find_exact(performer, signal[:512])
    assert p > switched["input_frame"] - rig.start + L, "the model was faded in before the performer began"
    assert turned["follow"] == 0.0
    # the room stored the change where it is heard from: tags after it count for follow 0
    follows = list(db.query("SELECT frame, detail FROM play_events WHERE play_id = ? AND kind = 'follow'",
                            [rig.play_id]))
    assert follows == [{"frame": turned["input_frame"] + L - rig.start, "detail": "0"}]

    def r(a: int, b: int) -> float:
        """The envelopes of performer[a:b] and of the model's answer to it (L later), the
        model `lag` hops behind; hops the model was late for (played dry) left out."""
        env, out = envelope_db(performer[a:b], hop), envelope_db(model[a + L:b + L], hop)
        dry = late[a + L:b + L][: len(out) * hop].reshape(-1, hop).any(1)
        ok = ~(dry[lag:] | dry[:-lag])
        return float(np.corrcoef(env[:-lag][ok], out[lag:][ok])[0, 1])

    first = turned["earliest_frame"] - rig.start         # it may render the block before with 0
    then = turned["input_frame"] - rig.start + BLOCK     # and has glided to 0 one block after this
    assert p + SR_PLAY < first < then < p + len(signal) - SR_PLAY
    # at follow 1 the model take is `forward`'s answer to the performer's take, L samples later
    assert stopped["frames"] == len(performer) == len(model)
    assert np.array_equal(performer[p:p + len(signal)], signal)
    w, after = warm["input_frame"] - rig.start, switched["input_frame"] - rig.start
    reference = render_like_play(_checkpoint(store, gen), performer, w, first)
    ok = ~late[after + L:first + L]
    np.testing.assert_allclose(model[after + L:first + L][ok], reference[after:first][ok], atol=TOL)
    assert np.abs(model[p + L:first + L] - performer[p:first]).max() > 0.1     # and not the input
    assert not model[late].any(), "where the model was late its take holds silence"
    rig.check_output(performer, model, late, p, interface_latency, range(after + L, len(model) - 4 * BLOCK))
    r1, r0 = r(p, first), r(then, p + len(signal))
    print(f"through JACK: follow 1 r={r1:.2f} over {(first - p) / SR_PLAY:.1f} s, follow 0 r={r0:.2f} over "
          f"{(p + len(signal) - then) / SR_PLAY:.1f} s ({stopped['glitches']} late blocks)")
    assert r1 >= 0.7
    assert abs(r0) <= 0.2


def test_switching_generations_mid_play_fades_without_a_jump(store, pitch_gen, latent_gen, interface_latency,
                                                             tmp_path):
    a, b = pitch_gen, latent_gen
    fade_ms = 30.0
    rig = Rig(tmp_path, fade_ms=fade_ms)
    try:
        L = rig.player.latency
        rig.player.load(a["id"], _checkpoint(store, a), a["name"])
        warm_a = rig.events.wait("warming", generation_id=a["id"])
        switched_a = rig.events.wait("switched", generation_id=a["id"])
        signal = (1.5 * synthetic.voice(3.0, seed=11)).astype(np.float32)   # sustained: loud at the switch

        def switch_midway():
            wait_until(lambda: rig.tester._pos > 48000, 30, "a second of the signal")
            rig.player.load(b["id"], _checkpoint(store, b), b["name"])

        rig.play(signal, during=switch_midway)
        warm_b = rig.events.wait("warming", generation_id=b["id"])
        fading = rig.events.wait("fading", generation_id=b["id"])
        rig.events.wait("switched", generation_id=b["id"])
        stopped, performer, model = rig.finish()
    finally:
        rig.close()

    late = glitched(stopped, rig.start, len(model))
    p = find_exact(performer, signal[:512])
    f0 = fading["input_frame"] - rig.start              # input frames
    fade = fading["fade_frames"]
    assert fade == round(fade_ms * 48)
    assert fading["from_generation_id"] == a["id"]
    assert p < f0 < p + len(signal) - 48000             # the switch happened while playing
    end = len(performer) - L
    ref_a = render_like_play(_checkpoint(store, a), performer, warm_a["input_frame"] - rig.start, end)[:end]
    ref_b = render_like_play(_checkpoint(store, b), performer, warm_b["input_frame"] - rig.start, end)[:end]
    # what the model take must hold: A, then the equal-power fade, then B
    from rehearsal.play.blocks import fade_gains

    i = np.arange(end)
    g_out, g_in = fade_gains("equal-power", -1, end, fade)   # gains for samples 0.. of the fade
    k = np.clip(i - f0, 0, None)
    expected = np.where(i < f0, ref_a, ref_a * g_out[k] + ref_b * g_in[k])
    start = switched_a["input_frame"] - rig.start
    ok = ~late[start + L:end + L]
    np.testing.assert_allclose(model[start + L:end + L][ok], expected[start:end][ok], atol=TOL)

    # no step larger than the fade allows: around the switch, each sample moves at most as
    # much as A and B themselves move plus what the gains' slope adds
    lo, hi = f0 - BLOCK, f0 + fade + BLOCK
    y = model[lo + L:hi + L].astype(np.float64)
    ya, yb = ref_a[lo:hi].astype(np.float64), ref_b[lo:hi].astype(np.float64)
    steps = np.abs(np.diff(y))
    allowed = (np.abs(np.diff(ya)) + np.abs(np.diff(yb))
               + (np.abs(ya[1:]) + np.abs(yb[1:])) * (math.pi / 2) / fade + 2 * TOL)
    # a block the host delivered late plays dry: glitches are counted and bounded above, so
    # steps that touch a late sample are left out here (under load one can fall in the fade)
    in_time = ~(late[lo + L:hi + L][1:] | late[lo + L:hi + L][:-1])
    bad = (steps > allowed) & in_time
    assert not bad.any(), (f"a step of {steps[bad].max():.4f} where "
                           f"{allowed[bad][steps[bad].argmax()]:.4f} is allowed")
    # and the bound discriminates: a hard switch from A to B at most places in the fade
    # (at sample j: one step from A[j-1] to B[j]) would have broken it
    hard_steps = np.abs(yb[1:] - ya[:-1])
    assert (hard_steps > allowed).mean() > 0.5, (hard_steps > allowed).mean()
    rig.check_output(performer, model, late, p, interface_latency, range(start + L, end))


def test_a_model_that_raises_or_returns_nan_is_bypassed_and_the_take_goes_on(store, interface_latency, tmp_path,
                                                                              monkeypatch):
    site = install_faulty_family(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    raising = make_faulty_generation(*store, fail_after_blocks=150, mode="raise", gain=0.5)
    nan = make_faulty_generation(*store, fail_after_blocks=60, mode="nan", gain=-0.75)
    rig = Rig(tmp_path)
    try:
        L = rig.player.latency
        rig.player.load(raising["id"], _checkpoint(store, raising), raising["name"])
        in_1 = rig.events.wait("switched", generation_id=raising["id"])
        with rig.events.cond:   # the spare host started for the next switch has imported torch
            assert rig.events.cond.wait_for(lambda: sum(k == "spare-ready" for k, _ in rig.events.items) >= 2, 60)
        signal = (1.5 * synthetic.voice(5.0, seed=5)).astype(np.float32)

        def second_model_after_the_first_fails():
            rig.events.wait("model-failed", generation_id=raising["id"])
            assert rig.player.status().active_generation is None   # bypassed: dry
            rig.player.load(nan["id"], _checkpoint(store, nan), nan["name"])

        rig.play(signal, during=second_model_after_the_first_fails)
        fail_1 = rig.events.wait("model-failed", generation_id=raising["id"])
        fade_2 = rig.events.wait("fading", generation_id=nan["id"])
        in_2 = rig.events.wait("switched", generation_id=nan["id"])
        fail_2 = rig.events.wait("model-failed", generation_id=nan["id"])
        assert rig.player.status().active_generation is None
        stopped, performer, model = rig.finish()
    finally:
        rig.close()

    assert fail_1["kind"] == "model-error" and "fails as it was built to" in fail_1["error"]
    assert fail_2["kind"] == "non-finite"
    # the takes went on: every frame of both, the whole signal in the performer's
    assert stopped["frames"] == len(performer) == len(model)
    p = find_exact(performer, signal[:512])
    assert np.array_equal(performer[p:p + len(signal)], signal)
    s = rig.start
    f1, f2 = fail_1["input_frame"] - s, fail_2["input_frame"] - s
    assert p < f1 < f2 < p + len(signal) - 24000      # both failed mid-play
    late = glitched(stopped, s, len(model))
    dry = np.concatenate([np.zeros(L, np.float32), performer[:-L]])       # by take frame
    wet = np.full(len(model), np.nan, np.float32)                          # unknown: not checked
    for (a, b), gain in (((in_1["input_frame"] - s, f1), 0.5), ((in_2["input_frame"] - s, f2), -0.75)):
        wet[a + L:b + L] = np.float32(gain) * dry[a + L:b + L]            # the model, while it worked
    wet[f1 + L:fade_2["input_frame"] - s + L] = dry[f1 + L:fade_2["input_frame"] - s + L]   # bypassed
    wet[f2 + L:] = dry[f2 + L:]
    known = ~np.isnan(wet)
    model_wet = known & (np.arange(len(model)) < f2 + L)
    model_wet[f1 + L:fade_2["input_frame"] - s + L] = False
    ok = ~late
    # the model take: what each model played while it worked, silence once bypassed
    np.testing.assert_allclose(model[model_wet & ok], wet[model_wet & ok], atol=1e-7)
    assert not model[f1 + L:fade_2["input_frame"] - s + L].any()
    assert not model[f2 + L:].any()
    # what was heard: the models, then the dry input from the block each one failed in
    for a, b in ((in_1["input_frame"] - s + L, fade_2["input_frame"] - s + L),
                 (in_2["input_frame"] - s + L, len(model) - 4 * BLOCK)):
        rig.check_output(performer, wet, late, p, interface_latency, range(a, b))
