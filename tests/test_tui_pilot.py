"""The TUI on real parts, driven by Textual's pilot: a real capture process streaming the demo
take, the real marker bus and SQLite file, real UDP for OSC, real JACK ports for playback
and MIDI (the JACK dummy server from conftest)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from textual.widgets import Select

from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from rehearsal.tui.screens.learn import ListenScreen
from rehearsal.tui.screens.modals import HelpScreen, NoInputScreen, PickScreen
from rehearsal.tui.widgets import Flash, Palette, TagLog, Timeline
from tests.support.tui import (JackEar, keys, markers_of, palette_first_hit, screen_text, shutdown_with_pedal,
                                wait_for)

SIZE = (120, 40)


def options(**kw) -> TuiOptions:
    base = dict(demo=True, osc_port=None, midi=(), midi_virtual=False, session="pilot")
    return TuiOptions(**{**base, **kw})


def send_osc(port: int, address: str, *args) -> None:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b.build().dgram, ("127.0.0.1", port))


async def open_and_record(app, pilot) -> dict:
    await wait_for(pilot, lambda: app.link.ready, "the demo input to open")
    await keys(pilot, "ctrl+r")
    await wait_for(pilot, lambda: app.link.recording and app.views["record"].shown_take is not None,
                   "the take to start")
    return app.link.room.take


async def open_and_record_with_midi(app, pilot) -> dict:
    """Record, with the room's MIDI open (a virtual port over JACK): the take."""
    take = await open_and_record(app, pilot)
    await wait_for(pilot, lambda: app.link.midi is not None or app.link.midi_error, "MIDI to open")
    assert app.link.midi is not None, app.link.midi_error
    return take


async def settle(app, pilot) -> None:
    """Everything pressed so far is committed and shown: the key source's waiting presses,
    then the bus, then the UI's inbox."""
    app.link.keys.flush()
    await asyncio.get_running_loop().run_in_executor(None, app.link.room.bus.flush)
    await wait_for(pilot, lambda: not app.link._inbox, "the UI to take the bus events")
    await pilot.pause()


async def test_record_tag_see_it_stop_review_play_retag_undo_redo(jack_server, workspace):
    app = RehearsalApp(workspace, options(osc_port=0))
    ear = None
    async with app.run_test(size=SIZE) as pilot:
        try:
            take = await open_and_record(app, pilot)
            record = app.views["record"]
            log, timeline, flash = record.query_one(TagLog), record.query_one(Timeline), record.query_one(Flash)

            # a key press: flashed at once, then committed, in the log and on the time line
            await keys(pilot, "g")
            await wait_for(pilot, lambda: flash.shown == "✓", "the flash")
            assert log.row_count == 0                      # shown before the store has it
            await wait_for(pilot, lambda: log.row_count == 1, "the tag in the log")
            assert "Good" in log.texts()[0] and "keyboard" in log.texts()[0]
            assert len(timeline.marks) == 1
            assert "✓" in [g for g, _ in timeline.glyph_row(timeline.size.width)]

            # a held key: the terminal's auto-repeat (a press, ~0.3 s, then a burst) is one tag
            await keys(pilot, "b")
            await pilot.pause(0.3)          # the terminal's initial repeat delay: the stimulus, not a wait
            await keys(pilot, *["b"] * 6)
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 8, "the presses")
            await settle(app, pilot)
            assert app.link.keys.stats()["repeats"] >= 5
            assert [m.symbol for m in markers_of(workspace, take["id"])] == ["good", "bad"]

            # OSC from a phone: who and device in the log
            send_osc(app.link.osc.port, "/rehearsal/tag", "good", "ana")
            await wait_for(pilot, lambda: log.row_count == 3, "the OSC tag in the log")
            assert any("ana" in row and "OSC 127.0.0.1" in row for row in log.texts())

            # undo / redo of the keyboard's last tag while recording (each person undoes their own, not
            # the phone's): struck through in the log, off the time line, and back
            bad_id = log.ids[1]
            await keys(pilot, "ctrl+z")
            await wait_for(pilot, lambda: "(undone)" in log.texts()[1], "the undo in the log")
            assert bad_id not in timeline.marks and "(undone)" not in log.texts()[2]
            await keys(pilot, "ctrl+y")
            await wait_for(pilot, lambda: "(undone)" not in log.texts()[1], "the redo in the log")
            assert bad_id in timeline.marks

            await keys(pilot, "ctrl+r")
            await wait_for(pilot, lambda: not app.link.recording, "the take to stop")
            stored = markers_of(workspace, take["id"])
            assert sorted(m.symbol for m in stored) == ["bad", "good", "good"]

            # review: the three moments, play the first through the JACK output
            await keys(pilot, "f2")
            review = app.views["review"]
            await wait_for(pilot, lambda: len(review.shown) == 3, "the moments in review")
            first = review.shown[0]
            assert review.selected == first.id
            await keys(pilot, "space")
            await wait_for(pilot, lambda: review.playing == first.id, "playback to start", timeout=20)
            ear = JackEar("tui-ear")
            assert ear.connect_from("PortAudio"), "the app's output has no JACK ports"
            assert ear.heard.wait(10), "nothing heard from the app's output"
            await keys(pilot, "escape")
            await wait_for(pilot, lambda: review.played, "playback to end")
            assert review.played[-1][0] == first.id and review.played[-1][1] > 0

            # filter by person, then back; next / previous
            who = review.query_one("#f-who", Select)
            who.value = "ana"
            await wait_for(pilot, lambda: [m.marker.who for m in review.shown] == ["ana"], "the filter")
            who.value = Select.NULL
            await wait_for(pilot, lambda: len(review.shown) == 3, "the filter cleared")
            assert review.selected == review.shown[2].id            # ana's moment stays selected
            for key, row in (("p", 1), ("p", 0), ("p", 0), ("n", 1), ("p", 0)):
                await keys(pilot, key)
                await wait_for(pilot, lambda: review.selected == review.shown[row].id, f"{key} to row {row}")
            assert review.selected == first.id

            # re-tag (good -> bad), undo, redo: each stored at once
            def symbol_of(mid):
                return next(m.symbol for m in markers_of(workspace, take["id"]) if m.id == mid)

            await keys(pilot, "t")
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen), "the symbol picker")
            await keys(pilot, "down", "enter")
            await wait_for(pilot, lambda: symbol_of(first.id) == "bad", "the re-tag to be stored")
            await wait_for(pilot, lambda: review.current() and review.current().marker.symbol == "bad",
                           "the list to show the re-tag")
            await keys(pilot, "ctrl+z")
            await wait_for(pilot, lambda: symbol_of(first.id) == "good", "undo")
            await keys(pilot, "ctrl+y")
            await wait_for(pilot, lambda: symbol_of(first.id) == "bad", "redo")

            # nudge, note, delete + undo
            before = next(m for m in markers_of(workspace, take["id"]) if m.id == first.id)
            await keys(pilot, "full_stop")
            await wait_for(pilot, lambda: next(m for m in markers_of(workspace, take["id"]) if m.id == first.id)
                           .tap_sample == before.tap_sample + 4800, "the nudge")
            await keys(pilot, "m")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "TextPrompt", "the note prompt")
            await keys(pilot, *"lovely", "enter")
            await wait_for(pilot, lambda: next(m for m in markers_of(workspace, take["id"]) if m.id == first.id)
                           .note == "lovely", "the note")
            await keys(pilot, "e")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RegionPrompt", "the trim prompt")
            app.screen.query_one("#start").value = "0.25"
            app.screen.query_one("#end").value = "1.5"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: next(m for m in markers_of(workspace, take["id"]) if m.id == first.id)
                           .start_sample == 12_000, "the trim")
            assert next(m for m in markers_of(workspace, take["id"]) if m.id == first.id).end_sample == 72_000
            await keys(pilot, "d")
            await wait_for(pilot, lambda: len(markers_of(workspace, take["id"], include_deleted=False)) == 2,
                           "the delete")
            await keys(pilot, "ctrl+z")
            await wait_for(pilot, lambda: len(markers_of(workspace, take["id"], include_deleted=False)) == 3,
                           "undoing the delete")
        finally:
            if ear is not None:
                ear.close()
            await app.shutdown()


async def test_no_input_says_so_and_offers_the_demo(workspace):
    app = RehearsalApp(workspace, options(demo=False, device="no-such-device"))
    async with app.run_test(size=SIZE) as pilot:
        try:
            await wait_for(pilot, lambda: isinstance(app.screen, NoInputScreen), "the no-input dialog")
            assert "no-such-device" in app.screen.wanted and app.input_problem
            await keys(pilot, "d")
            await wait_for(pilot, lambda: app.link.ready, "the demo input")
            assert app.link.info.demo and app.link.info.samplerate == 48_000
            # the take starts with the pre-roll: sound from before "record" was pressed
            await wait_for(pilot, lambda: (app.views["record"].last_tick or 0) and
                           app.views["record"].last_tick.frames > 48_000, "a second of pre-roll")
            await keys(pilot, "g")       # tapped before record: kept for the take
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 1, "the press")
            await keys(pilot, "ctrl+r")
            await wait_for(pilot, lambda: app.link.recording, "the take")
            take = app.link.room.take
            assert take["preroll_frames"] >= 48_000
            await settle(app, pilot)
            tags = markers_of(workspace, take["id"])
            assert [m.symbol for m in tags] == ["good"] and tags[0].tap_sample < take["preroll_frames"]
        finally:
            await app.shutdown()


async def test_learn_a_page_turner_key_and_a_midi_pedal_focused_lists_do_not_swallow_them(jack_server, workspace):
    from tests.support.jackplayer import JackPlayer

    app = RehearsalApp(workspace, options(midi_virtual=True, midi_api="jack"))
    player = None
    async with app.run_test(size=SIZE) as pilot:
        try:
            take = await open_and_record_with_midi(app, pilot)

            # learn: PageDown (a USB page-turner) -> bad
            await keys(pilot, "ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen), "the symbol picker")
            await keys(pilot, "down", "enter")                  # bad
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen) and "gesture" in app.screen.title_text,
                           "the gesture picker")
            await keys(pilot, "enter")                          # tap
            await wait_for(pilot, lambda: isinstance(app.screen, ListenScreen), "listening")
            assert "Press your pedal now" in screen_text(app.screen)
            assert "cannot long-press" in screen_text(app.screen)
            await keys(pilot, "ctrl+r", "pagedown")             # an app key while listening is refused
            await wait_for(pilot, lambda: not isinstance(app.screen, ListenScreen), "the key to be learnt")
            assert app.link.recording
            saved = json.loads((workspace.home / "bindings" / "good _ bad (one pedal).json").read_text())
            assert {"target": "bad", "key": "pagedown", "gesture": "tap"} in saved["keys"]

            # PageDown with a list focused (the palette, then the tag log): it tags, the list does not scroll
            record = app.views["record"]
            record.query_one(Palette).focus()
            await keys(pilot, "pagedown")
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 1, "the first PageDown")
            record.query_one(TagLog).focus()
            await pilot.pause(0.2)    # apart from the first press, or it would count as auto-repeat
            await keys(pilot, "pagedown")
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 2, "the second PageDown")
            await settle(app, pilot)
            assert [m.symbol for m in markers_of(workspace, take["id"])] == ["bad", "bad"]

            # learn a MIDI footswitch that sends 0 on press (CC 80): inverted polarity
            player = JackPlayer("pedal", channels=1, midi=True)
            player.connect_midi_to("RtMidiIn Client:rehearsal")
            await keys(pilot, "ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen), "the symbol picker")
            await keys(pilot, "enter")                          # good
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen) and "gesture" in app.screen.title_text,
                           "the gesture picker")
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ListenScreen) and app.screen.listening, "listening")
            player.play(np.zeros((4800, 1), np.float32), [(0, bytes([0xB0, 80, 0])), (2400, bytes([0xB0, 80, 127]))])
            await wait_for(pilot, lambda: not isinstance(app.screen, ListenScreen), "the pedal to be heard")
            # the dialog's result is applied by its dismiss callback, a message later
            await wait_for(pilot, lambda: any(b.number == 80 for b in app.notation.symbol("good").midi),
                           "the pedal to be learnt")
            good = app.notation.symbol("good")
            assert any(b.type == "control_change" and b.number == 80 and b.polarity == "inverted" for b in good.midi), (
                good.midi, app.notation.symbol("bad").midi, app.link.midi.stats())
            assert player.done.wait(5)
            player.play(np.zeros((9600, 1), np.float32), [(0, bytes([0xB0, 80, 0])), (4800, bytes([0xB0, 80, 127]))])
            await wait_for(pilot, lambda: [m.symbol for m in markers_of(workspace, take["id"])] == ["bad", "bad", "good"],
                           "the learnt pedal to tag")
            assert markers_of(workspace, take["id"])[-1].source == "midi:rehearsal"
        finally:
            await shutdown_with_pedal(app, player)


async def test_switch_notation_for_the_next_take(workspace):
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            first = await open_and_record(app, pilot)
            await keys(pilot, "ctrl+t")
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen), "the notation picker")
            stems = [value for value, _ in app.screen.options]
            await keys(pilot, *["down"] * stems.index("jam-reactions"), "enter")
            await wait_for(pilot, lambda: app.link.next_notation is not None, "the next notation")
            assert app.notation.name == "good / bad (one pedal)"     # this take keeps its notation
            assert "next take: jam reactions" in screen_text(app.views["record"])
            await keys(pilot, "ctrl+n")
            await wait_for(pilot, lambda: app.link.room.take and app.link.room.take["id"] != first["id"], "the new take")
            # the room switches first; the new notation's keys are bound on the app's next turn
            await wait_for(pilot, lambda: app.notation.name == "jam reactions" and "l" in app._live_keys, "the switch")
            await keys(pilot, "l")                                     # laughter, in the new notation
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 1, "the press")
            await settle(app, pilot)
            second = app.link.room.take
            assert [m.symbol for m in markers_of(workspace, second["id"])] == ["laugh"]
            assert "laugh" in screen_text(app.views["record"]) or app.views["record"].query_one(Palette).get_row("laugh")
        finally:
            await app.shutdown()


async def test_tags_behind_a_locked_database_show_as_delayed_then_land(workspace, monkeypatch):
    """Issue 12 finding 4: another program holds the database's write lock past the busy
    timeout; a tap waits in the journal and the record screen says Delayed until it lands."""
    import sqlite3

    from rehearsal.store import db as store_db
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 300)
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            take = await open_and_record(app, pilot)
            view = app.views["record"]
            lock = sqlite3.connect(str(workspace.db_path), isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            lock.execute("UPDATE sessions SET name = name")
            try:
                await keys(pilot, "g")
                await wait_for(pilot, lambda: view.delayed, "the Delayed state")
                assert "Delayed: tags wait, safe, in the journal" in screen_text(view)
                assert markers_of(workspace, take["id"]) == []
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            await wait_for(pilot, lambda: not view.delayed, "the journal to be stored")
            assert [m.symbol for m in markers_of(workspace, take["id"])] == ["good"]
            assert "Delayed" not in screen_text(view)
        finally:
            await app.shutdown()


async def test_sessions_create_rename_open_and_export(workspace):
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            await open_and_record(app, pilot)
            await keys(pilot, "g")
            await wait_for(pilot, lambda: app.link.keys.stats()["presses"] == 1, "the press")
            await settle(app, pilot)
            await keys(pilot, "ctrl+r")
            await wait_for(pilot, lambda: not app.link.recording, "the take to stop")

            await keys(pilot, "f3")
            await wait_for(pilot, lambda: app.views.get("sessions") and app.views["sessions"].sessions, "the sessions")
            sessions = app.views["sessions"]
            await keys(pilot, "c")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt", "the name prompt")
            await keys(pilot, *"friday", "enter")
            await wait_for(pilot, lambda: any(s["name"] == "friday" for s in sessions.sessions), "the new session")
            await wait_for(pilot, lambda: sessions.selected_session() and sessions.selected_session()["name"] == "friday",
                           "the new session selected")
            await keys(pilot, "r")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt", "the rename prompt")
            app.screen.query_one("Input").value = "friday night"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: any(s["name"] == "friday night" for s in sessions.sessions), "the rename")
            await keys(pilot, "enter")                    # open: new takes go there
            await wait_for(pilot, lambda: app.link.room.session_name == "friday night", "the session opened")
            await keys(pilot, "ctrl+r")
            await wait_for(pilot, lambda: app.link.recording, "a take in the new session")
            assert app.link.room.take["session_id"] == sessions.selected_session()["id"]
            await keys(pilot, "ctrl+r")
            await wait_for(pilot, lambda: not app.link.recording, "the take to stop")

            # export the first session's markers as Audacity labels
            first_session = next(s for s in sessions.sessions if s["name"] == "pilot")
            sessions.session_id = first_session["id"]
            await keys(pilot, "x")
            await wait_for(pilot, lambda: isinstance(app.screen, PickScreen), "the format picker")
            await keys(pilot, "down", "enter")             # audacity
            await wait_for(pilot, lambda: sessions.exported, "the export")
            (path,) = sessions.exported
            assert path == workspace.home / "exports" / "pilot" / "take-001.txt"
            start, end, label = path.read_text().splitlines()[0].split("\t")
            assert float(start) <= float(end) and "good" in label and label.startswith("✓")
        finally:
            await app.shutdown()


async def test_help_lists_every_binding_and_the_command_palette_switches_screens(workspace):
    app = RehearsalApp(workspace, options(open_input=False, ascii=True))
    async with app.run_test(size=SIZE) as pilot:
        try:
            # ASCII fallback: the palette draws the notation's ASCII alternatives
            palette = app.views["record"].query_one(Palette)
            assert [str(palette.get_row_at(i)[0]) for i in range(2)] == ["+", "x"]

            await keys(pilot, "question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and "ctrl+r" in screen_text(app.screen), "help")
            text = screen_text(app.screen)
            for needle in ("ctrl+r", "ctrl+n", "ctrl+z", "ctrl+t", "ctrl+l", "ctrl+p", "F1", "F2", "F3",
                           "Good", "Bad", "undo", "redo", "CC64", "/good", "/rehearsal/tag",
                           "nudge +0.1 s", "re-tag", "trim", "note", "delete", "export markers", "new session",
                           "cannot long-press"):
                assert needle in text, needle
            await keys(pilot, "escape")
            await wait_for(pilot, lambda: app.screen is app.views["record"], "help to close")

            await keys(pilot, "ctrl+p")
            await wait_for(pilot, lambda: type(app.focused).__name__ == "CommandInput", "the command palette")
            await keys(pilot, *"go to sessions")
            await wait_for(pilot, lambda: "Sessions" in palette_first_hit(app), "the palette to find the command")
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: app.current_mode == "sessions", "the sessions screen")
        finally:
            await app.shutdown()


def test_the_tui_does_not_import_torch(workspace):
    """Start-up, recording and playing a generation never import torch in the TUI's process
    (it takes seconds and hundreds of MB; the play process's hosts hold the model); nor do
    the co-performer's controls (mode, follow)."""
    from rehearsal.store import open_db
    from tests.support.playmodels import make_generation

    db = open_db(workspace.db_path)
    make_generation(workspace, db, "pitch", seed=1)
    db.conn.close()
    code = f"""
import asyncio, sys
from rehearsal.store import Workspace
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions

async def main():
    app = RehearsalApp(Workspace.at({str(workspace.home)!r}), TuiOptions(demo=True, osc_port=0, midi=(),
                                                                         midi_virtual=False, play_output="none"))
    async with app.run_test() as pilot:
        while not app.link.ready:
            await pilot.pause(0.05)
        await pilot.press("ctrl+r")
        while not app.link.recording:
            await pilot.pause(0.05)
        await pilot.press("g", "f2", "f3", "f4", "f5", "f6", "f1", "ctrl+r")
        while app.link.recording:
            await pilot.pause(0.05)
        # the curation, models and play screens load their lists (rehearsal.curation, .training)
        while not (app.views["curation"].pipelines and app.views["models"].loaded and app.views["play"].loaded):
            await pilot.pause(0.05)
        # play the generation (the demo input goes to the play process) and stop
        play = app.views["play"]
        await pilot.press("f6", "m", "comma", "m", "m", "p")     # round the modes back to transform; follow 0.4
        while play.heard() != "g1":
            await pilot.pause(0.05)
        await pilot.press("full_stop")                          # refused: this play transforms
        refused = any("follow is a control of accompaniment" in str(n.message) for n in app._notifications)
        print(play.playing_mode, play.follow, refused)
        await pilot.press("p")
        while play.playing or not app.link.ready:
            await pilot.pause(0.05)
        await app.shutdown()
    print("torch" in sys.modules)

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2:] == ["transform 0.4 True", "False"]
