"""Play's parts on their own: the shared rings, fades, the mixer's life cycle (with
stand-in models), tags mirrored onto the model's take, reception, recovery, curation's
stream selection and the OSC control addresses (real SQLite, real UDP)."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
import soundfile as sf

from rehearsal.play.blocks import fade_gains, required_latency


# -- the block hand-over ---------------------------------------------------------------------

def test_host_ring_plays_only_the_block_asked_for():
    from rehearsal.play import shared as H

    ring = H.HostRing.create(blocks=3, block=4)
    try:
        assert ring.block(0) is None                                   # not rendered yet
        ring.put(0, np.arange(4, dtype=np.float32))
        ring.put(1, np.ones(4, np.float32), H.NON_FINITE)
        status, samples = ring.block(0)
        assert status == H.OK and samples.tolist() == [0, 1, 2, 3]
        assert ring.block(1)[0] == H.NON_FINITE
        ring.put(3, np.full(4, 7, np.float32))                         # lands where block 0 was
        assert ring.block(0) is None and not ring.still(0) and ring.block(3)[1][0] == 7
        ring.set_error("g1 raised: boom")
        assert ring.get_error() == "g1 raised: boom"
    finally:
        ring.close()


def test_input_ring_and_the_latent_held_from_outside():
    from rehearsal.play import shared as H

    inp = H.InputRing.create(capacity=8)
    try:
        inp.write(np.arange(6, dtype=np.float32))
        inp.write(np.arange(6, 12, dtype=np.float32))                  # wraps
        out = np.zeros(4, np.float32)
        assert inp.read(8, out) and out.tolist() == [8, 9, 10, 11]
        assert not inp.read(2, out)                                    # overwritten
        assert inp.get_latent() is None
        inp.set_latent([0.5, float("nan")])
        got = inp.get_latent()
        assert got[0] == 0.5 and np.isnan(got[1]) and len(got) == 2
        inp.set_latent(None)
        assert inp.get_latent() is None
    finally:
        inp.close()


def test_fades_keep_power_or_sum_and_end_where_they_should():
    a, b = fade_gains("equal-power", 0, 100, 100)
    np.testing.assert_allclose(a ** 2 + b ** 2, 1.0, atol=1e-6)
    assert b[-1] == pytest.approx(1.0) and a[-1] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(b) > 0)
    a, b = fade_gains("linear", 50, 100, 100)                      # the second half, then held at 1
    np.testing.assert_allclose(a + b, 1.0, atol=1e-6)
    assert b[49] == pytest.approx(1.0) and (b[50:] == 1.0).all()
    a, b = fade_gains("equal-power", 0, 8, 0)                      # no fade: a switch
    assert (b == 1.0).all()


def test_required_latency():
    assert required_latency(256, 256) == 256
    assert required_latency(256, 64) == 256
    assert required_latency(128, 256) == 256
    assert required_latency(200, 256) == 456


# -- the mixer, with stand-in hosts ---------------------------------------------------------------

_rings = []


@pytest.fixture(autouse=True)
def _close_rings():
    yield
    while _rings:
        _rings.pop().close()


class FakeHost:
    """A host's ring (real shared memory) filled by the test instead of a model process."""

    def __init__(self, gen, value, first_block, warm=2, fail_at=None, status=1):
        from rehearsal.play import shared as H

        self.ring = H.HostRing.create(blocks=16, block=4)
        _rings.append(self.ring)
        self.generation_id, self.name, self.warm_blocks = gen, f"g{gen}", warm
        self.value, self.fail_at, self.fail_status = value, fail_at, status
        self.ring.header[H.FIRST_BLOCK] = first_block
        self.first = first_block

    def render(self, k):
        from rehearsal.play import shared as H

        if k < self.first:
            return
        if self.fail_at is not None and k >= self.fail_at:
            if k == self.fail_at:
                self.ring.fail(k, self.fail_status, f"{self.name} failed")
            return
        self.ring.put(k, np.full(4, self.value, np.float32), H.OK)

    def exit_reason(self):
        return "killed"


def _mixer(fade=8):
    from rehearsal.play.mixer import Mixer

    events = []
    return Mixer(4, fade, "linear", lambda kind, p: events.append((kind, p))), events


def _run(m, hosts, blocks, start=0, late=()):
    """Callbacks of 2 frames (half a block) for blocks start.., every host rendering first."""
    dry = np.full(2, 0.25, np.float32)
    outs, models, ok = [], [], []
    for k in range(start, start + blocks):
        for h in hosts:
            if k not in late:
                h.render(k)
        for off in (0, 2):
            out, model = np.zeros(2, np.float32), np.zeros(2, np.float32)
            ok.append(m.mix(k * 4 + off, 2, dry, out, model))
            outs.append(out)
            models.append(model)
    return np.concatenate(outs), np.concatenate(models), ok


def test_mixer_warms_then_fades_in_from_dry():
    m, events = _mixer(fade=8)
    a = FakeHost(1, 1.0, first_block=0)
    m.offers.append(a)
    out, model, ok = _run(m, [a], 6)
    assert all(ok)
    # two warm blocks (dry; the model renders but is not heard), two fade blocks, then the model
    assert out[:8].tolist() == [0.25] * 8 and not model[:8].any()
    assert out[8:16].tolist() == pytest.approx([0.25 + (1.0 - 0.25) * (i + 1) / 8 for i in range(8)])
    assert model[8:16].tolist() == pytest.approx([(i + 1) / 8 for i in range(8)])
    assert out[16:].tolist() == [1.0] * 8
    assert [k for k, _ in events] == ["warming", "fading", "switched"]
    assert events[1][1]["input_frame"] == 8 and events[2][1]["input_frame"] == 16
    assert m.active is a and a.ring.header[5] == 1            # ACTIVE: its latent goes out over OSC


def test_a_late_block_is_played_dry_and_counted():
    m, _ = _mixer(fade=0)
    a = FakeHost(1, 1.0, first_block=0, warm=0)
    m.offers.append(a)
    out, model, ok = _run(m, [a], 4, late={2})
    assert ok == [True] * 4 + [False, False] + [True] * 2
    assert out[8:12].tolist() == [0.25] * 4 and not model[8:12].any()
    assert out[12:].tolist() == [1.0] * 4


def test_mixer_bypasses_a_failing_model_and_abandons_a_failing_switch():
    m, events = _mixer(fade=4)
    a = FakeHost(1, 1.0, first_block=0, fail_at=5)
    m.offers.append(a)
    out, model, _ = _run(m, [a], 8)
    assert out[-12:].tolist() == [0.25] * 12 and not model[-12:].any()   # dry from the failing block on
    failed = [p for k, p in events if k == "model-failed"]
    assert failed[0]["input_frame"] == 20 and failed[0]["kind"] == "model-error" and failed[0]["error"] == "g1 failed"
    assert m.active is None and m.retired[-1] == (a, "failed")
    b = FakeHost(2, 0.5, first_block=8)
    m.offers.append(b)
    _run(m, [b], 6, start=8)
    assert m.active is b
    m.set_fade(16)
    c = FakeHost(3, -0.5, first_block=14, fail_at=17, status=2)          # fails in its second fade block
    m.offers.append(c)
    out, _, _ = _run(m, [b, c], 6, start=14)
    assert m.active is b and m.incoming is None
    assert out[-4:].tolist() == [0.5] * 4
    sf_ = [p for k, p in events if k == "switch-failed"][0]
    assert sf_["kind"] == "non-finite" and sf_["back_to"] == 2 and sf_["was"] == "fade"


def test_a_failure_found_late_still_bypasses_the_model():
    """The failing block came after its callback (played dry, a glitch) and the host renders
    nothing more: the next callback finds the failure in the host's header, not a glitch
    after glitch for the rest of the take."""
    m, events = _mixer(fade=0)
    a = FakeHost(1, 1.0, first_block=0, warm=0, fail_at=5)
    m.offers.append(a)
    _run(m, [a], 5)
    assert m.active is a
    _, _, ok = _run(m, [], 1, start=5)          # block 5 is not there in time
    assert ok == [False, False] and not [k for k, _ in events if k == "model-failed"]
    a.render(5)                                  # ... then the model fails on it
    out, model, ok = _run(m, [a], 2, start=6)
    assert all(ok) and out.tolist() == [0.25] * 8 and not model.any()
    failed = [p for k, p in events if k == "model-failed"]
    assert len(failed) == 1 and failed[0]["input_frame"] == 24 and failed[0]["error"] == "g1 failed"
    assert m.active is None and m.retired[-1] == (a, "failed")


def test_a_newer_offer_replaces_one_still_warming_and_a_dead_host_is_bypassed():
    m, events = _mixer()
    a, b = FakeHost(1, 1.0, first_block=0), FakeHost(2, 2.0, first_block=1)
    m.offers.append(a)
    _run(m, [a], 1)
    m.offers.append(b)
    _run(m, [a, b], 8, start=1)
    assert m.active is b
    assert ("switch-abandoned", {"generation_id": 1, "input_frame": 4, "replaced_by": 2}) in events
    m.died.append(b)
    out, _, _ = _run(m, [], 1, start=9)
    assert m.active is None and out.tolist() == [0.25] * 4
    assert [p["kind"] for k, p in events if k == "model-failed"] == ["crashed"]


# -- the store: mirrors, reception, recovery, curation -------------------------------------------

@pytest.fixture
def play_db(workspace, db):
    """A session with a play of two takes (real files), two generations heard in turn."""
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.store.notations import store_notation
    from rehearsal.store.sessions import get_or_create_session
    from rehearsal.store.takes import create_take, finish_take
    from rehearsal.training.generations import create_generation, mark_finished
    from rehearsal.training.spec import RunSpec

    nid = store_notation(db, load_notation(find_notation("jam-reactions")))
    sid = get_or_create_session(db, "jam", nid)
    frames = 48000 * 10
    rng = np.random.default_rng(0)
    takes = []
    for number, name in ((1, "performer"), (2, "model")):
        path = workspace.session_audio_dir("jam") / f"take-{number:03d}-{name}.wav"
        sf.write(path, (0.2 * rng.standard_normal(frames)).astype(np.float32), 48000, subtype="FLOAT")
        tid = create_take(db, session_id=sid, number=number, path=workspace.relative(path), format="W64",
                          subtype="FLOAT", sample_rate=48000, channels=1, device="test", notation_id=nid)
        finish_take(db, tid, frames=frames, overflows=0)
        takes.append(tid)
    gens = []
    for i in range(2):
        spec = RunSpec(family="pitch", strategy="test", label=f"t{i}", seed=i, max_steps=1, validation=False, keep="all")
        g = create_generation(db, spec, dataset_ref="x", dataset_version_id=None, dataset_folder="x", dataset_hash="0")
        mark_finished(db, g, "complete")
        gens.append(g)
    play = db.execute("INSERT INTO plays (session_id, input_take_id, output_take_id, latency_samples, block_samples, "
                      "fade_ms, fade_curve, dry_wet, input_gain, device, started_at) VALUES "
                      "(?, ?, ?, 256, 256, 50, 'equal-power', 1, 1, 'test', 'now')", [sid, *takes]).lastrowid
    for gen, start, fade, reason in ((None, 0, 0, "start"), (gens[0], 48000, 2400, "start"),
                                     (gens[1], 5 * 48000, 48000, "switch")):
        db.execute("INSERT INTO play_models (play_id, generation_id, start_frame, fade_frames, reason, created_at) "
                   "VALUES (?, ?, ?, ?, ?, 'now')", [play, gen, start, fade, reason])
    return {"play": play, "takes": takes, "gens": gens, "session": sid}


def _tag(db, take, symbol, tap, who="ana"):
    from rehearsal.store.markers import insert_marker

    return insert_marker(db, take_id=take, symbol=symbol, glyph="*", tap_sample=tap, start_sample=max(0, tap - 48000),
                         end_sample=tap + 24000, who=who, source="osc:127.0.0.1")


def test_tags_are_mirrored_and_follow_undo(db, play_db):
    from rehearsal.play import sync_mirrors
    from rehearsal.store.markers import list_markers, undo

    inp, out = play_db["takes"]
    _tag(db, inp, "laugh", 2 * 48000)
    _tag(db, inp, "followed", 6 * 48000)
    assert sync_mirrors(db, play_db["play"]) == 2
    assert sync_mirrors(db, play_db["play"]) == 0                   # idempotent
    mirrored = list_markers(db, out)
    assert [(m.symbol, m.tap_sample, m.who) for m in mirrored] == [("laugh", 96000, "ana"), ("followed", 288000, "ana")]
    undo(db, take_id=inp)                                           # the last tag is taken back
    assert sync_mirrors(db, play_db["play"]) == 1
    assert [m.symbol for m in list_markers(db, out)] == ["laugh"]
    assert len(list_markers(db, out, include_deleted=True)) == 2


def test_reception_credits_the_generation_heard_at_each_tap(db, play_db):
    from rehearsal.play import reception, reception_all

    inp, _ = play_db["takes"]
    g1, g2 = play_db["gens"]
    _tag(db, inp, "laugh", 2 * 48000)                 # g1 (faded in around 1 s)
    _tag(db, inp, "laugh", 5 * 48000 + 20000)         # in g2's fade, before its middle: still g1
    _tag(db, inp, "too-reactive", 5 * 48000 + 30000, who="bo")   # past the middle: g2
    _tag(db, inp, "surprise", 10000)                  # dry: nobody's
    r1, r2 = reception(db, g1), reception(db, g2)
    assert r1["tags"] == {"laugh": {"glyph": "*", "count": 2}} and r1["who"] == {"ana": 2}
    assert list(r2["tags"]) == ["too-reactive"] and r2["who"] == {"bo": 1}
    assert r1["plays"] == r2["plays"] == 1
    assert r1["seconds"] == pytest.approx((5 * 48000 + 24000 - (48000 + 1200)) / 48000, abs=1e-3)
    assert r2["seconds"] == pytest.approx(10 - (5 * 48000 + 24000) / 48000, abs=1e-3)
    assert [r["generation_id"] for r in reception_all(db)] == [g1, g2]
    assert r1["settings"] == {"transform": {"laugh": 2}}


def test_tags_during_a_co_performing_play_count_for_its_mode_and_follow(db, play_db):
    """Issue 16: a jam reaction credits the generation and the co-performer settings in force."""
    import json

    from rehearsal.play import reception

    inp, _ = play_db["takes"]
    g1, _ = play_db["gens"]
    _tag(db, inp, "followed-me", 2 * 48000)
    db.execute("UPDATE plays SET coperform = ? WHERE id = ?",
               [json.dumps({"mode": "accompany", "follow": 0.8, "pause_s": 1.0, "answer_s": 4.0}), play_db["play"]])
    _tag(db, inp, "too-reactive", 3 * 48000)
    # the follow turned down live (OSC /rehearsal/play/follow) at 4 s: a tag after counts for 0.2
    from rehearsal.store import plays

    plays.add_event(db, play_db["play"], "follow", frame=4 * 48000, detail="0.2")
    _tag(db, inp, "laugh", 4 * 48000 + 100)
    assert reception(db, g1)["settings"] == {"accompany follow 0.8": {"followed-me": 1, "too-reactive": 1},
                                             "accompany follow 0.2": {"laugh": 1}}


def test_recovery_mirrors_and_closes_an_open_play(db, play_db):
    from rehearsal.play.room import recover_plays
    from rehearsal.store.markers import list_markers

    _tag(db, play_db["takes"][0], "laugh", 48000)
    assert recover_plays(db) == [play_db["play"]]
    assert [m.symbol for m in list_markers(db, play_db["takes"][1])] == ["laugh"]
    assert recover_plays(db) == []


def test_curation_selects_a_stream_and_a_generation(workspace, db, play_db):
    from rehearsal.curation import parse_pipeline, preview

    inp, out = play_db["takes"]
    g1, g2 = play_db["gens"]
    from rehearsal.play import sync_mirrors

    _tag(db, inp, "laugh", 3 * 48000)
    _tag(db, inp, "followed", 8 * 48000)
    sync_mirrors(db, play_db["play"])

    def clips(keep, generations=()):
        gens = f"\ngenerations = {list(generations)!r}".replace("'", '"') if generations else ""
        text = f'name = "t"\n[[steps]]\nuse = "select-stream"\nkeep = {list(keep)!r}{gens}\n'.replace("'", '"')
        run = preview(workspace, db, parse_pipeline(text), ["jam"])
        return sorted((c.take_id, c.tap) for c in run.clips)

    assert clips(["model"]) == [(out, 3 * 48000), (out, 8 * 48000)]
    assert clips(["performer"]) == [(inp, 3 * 48000), (inp, 8 * 48000)]
    assert clips(["model"], [f"g{g2}"]) == [(out, 8 * 48000)]
    assert clips(["performer", "model"], [f"g{g1}"]) == [(inp, 3 * 48000), (out, 3 * 48000)]
    with pytest.raises(Exception, match="choose from performer, model, recorded"):
        clips(["nobody"])


# -- OSC control ---------------------------------------------------------------------------------

class FakePlayer:
    def __init__(self):
        self.latent = []

    def set_latent(self, values):
        self.latent.append(values)


class FakeRoom:
    """What PlayOscSource needs of a room (the bus is real)."""

    def __init__(self, bus):
        self.bus, self.player, self.calls = bus, FakePlayer(), []

    def set_mix(self, x):
        self.calls.append(("mix", x))

    def set_gain(self, x):
        self.calls.append(("gain", x))

    def set_follow(self, x):
        if x > 1:
            raise ValueError("follow must be 0 (ignore the performer) to 1 (mirror them)")
        self.calls.append(("follow", x))

    def set_symbol(self, symbol):
        self.calls.append(("symbol", symbol))
        return self.refusal if symbol == "surprise" else None    # PlayRoom.set_symbol: why it is not taken

    refusal = ("g3 (an imported nn~ module, family rave) does not take symbols: this generation cannot be "
               "steered by them, so the symbol changes nothing it plays")

    def switch(self, ref):
        if ref == "g99":
            raise LookupError("no generation g99")
        self.calls.append(("switch", ref))


def test_osc_drives_latent_mix_gain_and_model(workspace, db, caplog):
    from pythonosc.udp_client import SimpleUDPClient

    from rehearsal.markers import MarkerBus
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.play.osc import PlayOscSource

    notation = load_notation(find_notation("jam-reactions"))

    class Clock:
        def frame_at(self, t):
            return None

    bus = MarkerBus(workspace.db_path, Clock(), notation).start()
    room = FakeRoom(bus)

    async def main():
        src = await PlayOscSource(room, notation, port=0).start()
        c = SimpleUDPClient("127.0.0.1", src.port)
        c.send_message("/rehearsal/latent", [0.5, float("nan"), 2])
        c.send_message("/rehearsal/latent/4", 1.5)
        c.send_message("/rehearsal/latent/release", [])
        c.send_message("/rehearsal/play/mix", 0.25)
        c.send_message("/rehearsal/play/gain", 2.0)
        c.send_message("/rehearsal/play/follow", 0.25)
        c.send_message("/rehearsal/play/follow", 2.0)         # out of 0-1: rejected in words
        c.send_message("/rehearsal/play/model", "g3")
        c.send_message("/rehearsal/play/model", "g99")        # no such generation: rejected
        c.send_message("/rehearsal/latent", ["loud"])         # wrong types: rejected
        c.send_message("/rehearsal/play/bogus", 1)            # unknown: rejected
        c.send_message("/rehearsal/tag", "laugh")             # tags still work
        c.send_message("/rehearsal/symbol", "laugh")          # the current symbol: steers the model
        c.send_message("/rehearsal/symbol", "nosuch")         # not in the notation: rejected
        c.send_message("/rehearsal/symbol", "surprise")       # kept, but the model playing takes no symbols
        for _ in range(200):
            if src.counts["packets"] >= 15:
                break
            await asyncio.sleep(0.01)
        src.close()
        return src

    src = asyncio.run(main())
    bus.close()
    assert src.counts["packets"] == 15
    assert room.player.latent[0][0] == 0.5 and math.isnan(room.player.latent[0][1]) and room.player.latent[0][2] == 2
    assert room.player.latent[1][3] == 1.5 and len(room.player.latent[1]) == 4
    assert room.player.latent[2] is None
    assert room.calls == [("mix", 0.25), ("gain", 2.0), ("follow", 0.25), ("switch", "g3"), ("symbol", "laugh"),
                          ("symbol", "surprise")]
    assert src.counts["symbol not taken"] == 1 and src.counts["symbols"] == 2 and src.symbol == "surprise"
    assert f"OSC from 127.0.0.1: symbol not taken: {room.refusal}" in caplog.text
    assert src.counts["unknown symbol"] == 1
    assert src.counts["controls"] == 7
    assert src.counts["wrong types"] == 2 and src.counts["unknown address"] == 1
    assert src.counts["unknown generation"] == 1
    assert src.counts["tags"] == 1


def test_each_family_says_whether_it_takes_symbols_and_a_generation_that_does_not_says_why():
    """One property, `Family.conditions`, for every family, the imported ones too; a
    generation's refusal in words (what play says instead of ignoring the symbol)."""
    import json

    from rehearsal.training.family import IMPORTED_FAMILIES, model_families, symbols_refusal
    from rehearsal.training.imported import FAMILIES

    every = {**model_families(), **IMPORTED_FAMILIES}
    assert {n: "symbols" in f.conditions for n, f in every.items()} == {
        "latent": True, "pitch": False, "autoregressive": False, "corpus": False, "rave": False, "external": False}
    assert set(FAMILIES) == {n for n, f in every.items() if f.imported} == {"rave", "external"}

    def gen(family, **params):
        return {"id": 3, "name": "g3", "family": family, "spec_json": json.dumps({"family_params": params})}

    for family in ("rave", "external"):
        assert symbols_refusal(gen(family), "laugh").startswith(
            f"g3 (an imported nn~ module, family {family}) does not take symbols")
    assert symbols_refusal(gen("pitch"), "laugh").startswith("g3 (family pitch) does not take symbols")
    assert "trained without them" in symbols_refusal(gen("latent"), "laugh")
    steered = gen("latent", condition="symbols", symbols=["laugh", "cry"])
    assert symbols_refusal(steered, "laugh") is None and symbols_refusal(steered, None) is None
    assert symbols_refusal(steered, "wow") == ("g3 never learned 'wow' (it knows laugh, cry): it keeps the "
                                               "symbol it had")
