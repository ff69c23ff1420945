"""The Play screen on real parts: a tiny trained generation in a real workspace, the real
play process (a file stands in for the performer, paced in real time), the real marker
bus and SQLite file, driven by Textual's pilot."""

from __future__ import annotations

import soundfile as sf

from rehearsal.training import synthetic
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from tests.support.playmodels import make_generation
from tests.support.tui import keys, markers_of, open_play_screen, screen_text, voice_play_app, wait_for


def _follow_events(workspace, play_id: int, kind: str = "follow") -> list[str]:
    from rehearsal.store import open_db

    db = open_db(workspace.db_path, migrate_schema=False)
    try:
        return [r[0] for r in db.execute("SELECT detail FROM play_events WHERE play_id = ? AND kind = ? "
                                         "ORDER BY id", [play_id, kind])]
    finally:
        db.conn.close()


async def test_play_a_generation_see_it_heard_tag_it_stop(workspace, tmp_path):
    """The co-performer too (issue 16): two corpus generations accompany the performer;
    the mode is chosen before the play (m), follow is turned live (, .) and the room stores
    the change as a `follow` play event. The steering symbol (issue 19): chosen before the
    play (>) and during it (/, from the notation's list), drawn large, stored as a `symbol`
    play event; the corpus generation does not take symbols and the screen says so. The
    notation binds the steer key < to bad and the switch key s to good: there they tag, as on
    Record, and steer or switch no more (enter switches)."""
    import json

    from rehearsal.store import open_db
    from tests.support.playmodels import make_corpus_generation

    db = open_db(workspace.db_path)
    other = make_corpus_generation(workspace, db, seeds=(3,), seconds=2.0, label="corpus other")
    gen = make_corpus_generation(workspace, db)
    db.conn.close()
    voice = tmp_path / "voice.wav"
    sf.write(voice, synthetic.voice(3.0, seed=4), 48000, subtype="FLOAT")

    from rehearsal.notation import find_notation

    notation = tmp_path / "good-bad-lt.toml"
    notation.write_text(open(find_notation("good-bad-pedal"), encoding="utf-8").read()
                        .replace('keys = ["b"]', 'keys = ["b", "<"]').replace('keys = ["g"]', 'keys = ["g", "s"]'), encoding="utf-8")
    options = TuiOptions(input_file=str(voice), play_output="none", osc_port=None, midi=(), midi_virtual=False,
                         session="play pilot", notation=str(notation))
    app = RehearsalApp(workspace, options)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            await wait_for(pilot, lambda: app.link.ready, "the recording room to open")
            view = await open_play_screen(pilot, app)
            assert view.chosen() == gen["name"]
            await keys(pilot, "m", "m", "comma")      # accompaniment, following by 0.4, for the next play
            await wait_for(pilot, lambda: (view.mode, view.follow) == ("accompany", 0.4), "accompaniment at 0.4")
            assert "mode accompany" in screen_text(view) and "follow 0.40" in screen_text(view)
            await keys(pilot, "greater_than_sign")   # the first of the notation's symbols steers the next play
            await wait_for(pilot, lambda: view.symbol == "good", "> to steer")   # keys() posts; it is handled later
            assert "GOOD" in screen_text(view)
            assert f"{gen['name']} takes no symbols" in screen_text(view)      # a corpus generation
            assert "steer  > /" in screen_text(view) and "< tags Bad" in screen_text(view)

            await keys(pilot, "p")
            await wait_for(pilot, lambda: view.playing and view.heard() == gen["name"],
                           f"{gen['name']} to be heard", timeout=30)
            play = view.room.play
            assert json.loads(play["coperform"]) == {"mode": "accompany", "follow": 0.4}
            await keys(pilot, "full_stop")           # live: the play process follows by 0.5 from here
            await wait_for(pilot, lambda: _follow_events(workspace, play["id"]) == ["0.5"],
                           "the follow change to be stored with the play", timeout=20)
            await wait_for(pilot, lambda: any(e.startswith(f"symbols-not-taken: {gen['name']}") for e in view.events)
                           and any("does not take symbols" in str(n.message) for n in app._notifications),
                           "the play to say the generation does not take the symbol")
            await keys(pilot, "slash")               # pick the steering symbol from the notation's list
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen" and app.screen.query("OptionList"),
                           "the symbol picker")
            assert [v for v, _ in app.screen.options] == ["", "good", "bad"]
            app.screen.query_one("OptionList").highlighted = 2
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: _follow_events(workspace, play["id"], "symbol") == ["good", "bad"],
                           "both symbols to be stored with the play", timeout=20)
            await wait_for(pilot, lambda: "BAD" in screen_text(view), "the symbol applied to be drawn")
            await keys(pilot, "m")                   # the running play keeps its mode
            await wait_for(pilot, lambda: any("the mode is chosen before a play" in str(n.message)
                                              for n in app._notifications), "the mode change to be refused")
            assert view.room.config.coperform["mode"] == "accompany"
            assert not app.link.ready          # the recording room gave its input to the play
            frames = view.last.take_frames
            await wait_for(pilot, lambda: view.last.take_frames > frames + 4800, "the status to move on")
            text = screen_text(view)
            assert f"hearing {gen['name']}" in text and "♪ playing" in text and "glitches" in text

            await keys(pilot, "ctrl+r")      # the input is the play's: no take can start
            await wait_for(pilot, lambda: any("stop it first" in str(n.message) for n in app._notifications),
                           "recording to be refused while playing")
            assert not app.link.recording

            await keys(pilot, "g")
            await pilot.pause(0.2)          # apart from g: two keys at once are not how a performer tags
            await keys(pilot, "less_than_sign")      # the notation's: it tags bad, the symbol stays
            await pilot.pause(0.2)
            await keys(pilot, "s")                   # the notation's: it tags good, no switch
            view.keys.flush()
            await wait_for(pilot, lambda: view.tags >= 3, "the tags to be committed and shown")
            tags = markers_of(workspace, play["input_take_id"])
            assert [m.symbol for m in tags] == ["good", "bad", "good"]
            assert view.chosen() == gen["name"] and "enter switch" in screen_text(view)
            # each tag steers (a pedal's tag does); < stepped nothing (it would have gone to "no symbol")
            await wait_for(pilot, lambda: _follow_events(workspace, play["id"], "symbol") == ["good", "bad"] * 2 + ["good"],
                           "the tags' symbols to be stored with the play", timeout=20)

            # dry/wet steps reach the play process; a switch crossfades to the other generation
            await keys(pilot, "left_square_bracket")
            await wait_for(pilot, lambda: abs(view.last.mix - 0.9) < 1e-3, "the mix to reach the play process")
            await keys(pilot, "up", "enter")
            assert view.chosen() == other["name"]
            await wait_for(pilot, lambda: view.heard() == other["name"], f"{other['name']} to be heard", timeout=20)
            await wait_for(pilot, lambda: any(e.startswith("switched") for e in view.events), "the switch event")

            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the play to stop")
            await wait_for(pilot, lambda: app.link.ready, "the recording room to reopen")
            # the tag was mirrored onto the model's take when the play finished
            assert [m.symbol for m in markers_of(workspace, play["output_take_id"])] == ["good", "bad", "good"]
            assert "stopped: play" in screen_text(view)
        finally:
            await app.shutdown()


async def test_a_failing_model_is_bypassed_and_the_screen_says_so(workspace, tmp_path, monkeypatch):
    import os

    from rehearsal.store import open_db
    from tests.support.playmodels import install_faulty_family, make_faulty_generation

    site = install_faulty_family(tmp_path / "site")   # the play process finds the family through PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    db = open_db(workspace.db_path)
    faulty = make_faulty_generation(workspace, db, fail_after_blocks=150, mode="raise")
    db.conn.close()
    app = voice_play_app(workspace, tmp_path, "play pilot")
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            view = await open_play_screen(pilot, app)
            await keys(pilot, "p")
            # heard for 150 blocks, then it raises: under load the screen may never show the short
            # while it was heard, so what is waited for is its failure, which names it
            await wait_for(pilot, lambda: any(e.startswith(f"model-failed: {faulty['name']}") for e in view.events),
                           "the failure to be reported", timeout=60)
            await wait_for(pilot, lambda: view.heard() is None and view.last.take_frames > 0, "the bypass (dry)")
            text = screen_text(view)
            assert f"model-failed: {faulty['name']}" in text and "hearing dry" in text
            frames = view.last.take_frames
            await wait_for(pilot, lambda: view.last.take_frames > frames + 4800, "the take to go on")
            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the play to stop")
            assert not app.link.ready     # no recording room was open before: none is opened after
        finally:
            await app.shutdown()


async def test_play_screen_with_no_sound_card_plays_the_demo_take_and_says_so(workspace, tmp_path, monkeypatch):
    from rehearsal.store import open_db
    from tests.test_play_anywhere import no_sound_card

    for k, v in no_sound_card(tmp_path).items():   # the play process inherits a machine with no device
        monkeypatch.setenv(k, v)
    db = open_db(workspace.db_path)
    gen = make_generation(workspace, db, "pitch", seed=1, steps=0)
    db.conn.close()
    options = TuiOptions(osc_port=None, midi=(), midi_virtual=False, session="no card", open_input=False)
    app = RehearsalApp(workspace, options)
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            view = await open_play_screen(pilot, app)
            await keys(pilot, "p")
            await wait_for(pilot, lambda: view.playing and view.heard() == gen["name"], "the model heard", timeout=30)
            assert "no sound card" in screen_text(view) and "demo take" in screen_text(view)
            frames = view.last.take_frames
            await wait_for(pilot, lambda: view.last.take_frames > frames + 4800, "both streams recorded")
            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the play to stop")
        finally:
            await app.shutdown()


async def test_play_screen_says_tags_are_delayed_behind_a_locked_database_then_stored(workspace, tmp_path,
                                                                                      monkeypatch):
    """Issue 12 finding 4 on the Play screen: another program (a second SQLite connection)
    holds the write lock past the busy timeout during a play; a tag waits in the journal,
    the screen says it is delayed, and once the lock goes that it was stored."""
    import sqlite3

    from rehearsal.store import db as store_db
    from rehearsal.store import open_db

    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 300)
    db = open_db(workspace.db_path)
    gen = make_generation(workspace, db, "pitch", seed=1, steps=0)
    db.conn.close()
    app = voice_play_app(workspace, tmp_path, "play lock")
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            view = await open_play_screen(pilot, app)
            await keys(pilot, "p")
            await wait_for(pilot, lambda: view.playing and view.heard() == gen["name"], "the model heard", timeout=30)
            take_id = view.room.play["input_take_id"]
            title = view.query_one("#play-taglog-title")
            lock = sqlite3.connect(str(workspace.db_path), isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            lock.execute("UPDATE sessions SET name = name")
            try:
                await keys(pilot, "g")
                await wait_for(pilot, lambda: title.delayed, "the Delayed state", timeout=20)
                assert "Delayed: tags wait, safe, in the journal" in screen_text(view)
                assert markers_of(workspace, take_id) == [] and view.tags == 0
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            await wait_for(pilot, lambda: not title.delayed and view.tags == 1, "the journal to be stored", timeout=20)
            text = screen_text(view)
            assert "Delayed" not in text and "delayed tags stored (1, in order)" in text
            assert [m.symbol for m in markers_of(workspace, take_id)] == ["good"]
            await keys(pilot, "p")
            await wait_for(pilot, lambda: not view.playing and not view.busy, "the play to stop")
        finally:
            await app.shutdown()
