"""The Notation screen (F7) in Textual's pilot: create, copy, edit, reorder, learn, save.

Real parts: the app on a real workspace, the files it writes read back by the checker of
`rehearsal notation check` (the CLI itself, through click), and for learning a real MIDI
port over the test JACK server (rtmidi's virtual port `rehearsal`, played by a JACK
client), real UDP for an OSC button and the real SQLite file for the history rule.
"""

from __future__ import annotations

import difflib

import numpy as np
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.notation import load_notation, shipped_notations
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from rehearsal.tui.screens.modals import TextPrompt
from rehearsal.tui.screens.notation import LearnBindingScreen, NotationScreen
from tests.support.tui import keys, screen_text, shutdown_with_pedal, wait_for

SIZE = (120, 40)


def options(**kw) -> TuiOptions:
    base = dict(open_input=False, osc_port=None, midi=(), midi_virtual=False, session="notation")
    return TuiOptions(**{**base, **kw})


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


async def open_notation_screen(pilot, app) -> NotationScreen:
    await keys(pilot, "f7")
    await wait_for(pilot, lambda: app.current_mode == "notation" and app.views["notation"].listed, "the notations")
    return app.views["notation"]


async def open_notation(pilot, screen: NotationScreen, stem: str, *, held_back: bool = False) -> None:
    """Select `stem` in the notations list and press enter; it opens, or (held_back) the screen
    warns of unsaved changes instead."""
    table = screen.query_one("#notations")
    await pilot.pause()      # a notation just opened focuses its symbols after the next refresh
    table.focus()
    table.move_cursor(row=[r[0] for r in screen.listed].index(stem))
    await wait_for(pilot, lambda: screen.app.focused is table and table.cursor_row == table.get_row_index(stem),
                   "the notations list")
    await keys(pilot, "enter")
    if held_back:
        await wait_for(pilot, lambda: "unsaved changes" in str(screen.query_one("#notation-status").content),
                       "the warning")
    else:
        await wait_for(pilot, lambda: screen.stem == stem and screen.doc is not None, f"{stem} to open")


async def focus_field(pilot, screen: NotationScreen, key: str, row: int | None = None):
    if row is not None:
        items = screen.query_one("#notation-items")
        items.focus()
        items.move_cursor(row=row)
        await wait_for(pilot, lambda: screen.rows.index(screen.item) == row, f"row {row}")
    box = screen.query_one(f"#f-{key}")
    box.focus()
    await wait_for(pilot, lambda: screen.app.focused is box and not screen._filling, f"the {key} field")
    return box


async def type_into(pilot, screen: NotationScreen, key: str, text: str, row: int | None = None, clear=True):
    box = await focus_field(pilot, screen, key, row)
    if box.value:   # focus selects the whole value (typing replaces it): clear it, or go to its end
        await keys(pilot, "ctrl+u" if clear else "end")    # a binding: it runs after letters sent with it
        await wait_for(pilot, lambda: box.value == "" if clear else box.selection.is_empty, "the cursor")
    await keys(pilot, *text)
    await wait_for(pilot, lambda: box.value.endswith(text), f"{text!r} typed into {key}")
    await pilot.pause()
    return box


async def save(pilot, screen: NotationScreen) -> None:
    count = len(screen.saved)
    await keys(pilot, "ctrl+s")
    await wait_for(pilot, lambda: len(screen.saved) > count, "the save")


def check_cli(ws, path) -> tuple[int, str]:
    out = CliRunner().invoke(main, ["--home", str(ws.home), "notation", "check", str(path)])
    return out.exit_code, out.output


async def test_create_copy_edit_reorder_and_an_invalid_value_refused_with_the_checkers_words(workspace):
    from tests.test_tui_pilot import send_osc

    app = RehearsalApp(workspace, options(osc_port=0))
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await open_notation_screen(pilot, app)
            assert [r[0] for r in screen.listed] == sorted(shipped_notations())

            # create: a name, then the template's one symbol; add a second and fill it in
            await keys(pilot, "n")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "the name prompt")
            await keys(pilot, *"my-set", "enter")
            await wait_for(pilot, lambda: screen.stem == "my-set", "the new notation")
            items = screen.query_one("#notation-items")
            await wait_for(pilot, lambda: app.focused is items, "the symbols list focused")
            items.move_cursor(row=1)                          # the template's symbol
            await keys(pilot, "a")
            await wait_for(pilot, lambda: screen.doc.count("symbols") == 2, "the added symbol")
            assert screen.item == ("symbols", 1)
            await keys(pilot, "enter")                        # enter: into the item's first field (id)
            await wait_for(pilot, lambda: app.focused is screen.query_one("#f-id"), "the id field")
            await keys(pilot, "ctrl+u")
            await wait_for(pilot, lambda: app.focused.value == "", "the id cleared")
            await keys(pilot, *"hum")
            await wait_for(pilot, lambda: screen.doc.value("symbols", 1, "id") == "hum", "the id typed")
            await type_into(pilot, screen, "label", "humming")
            screen.query_one("#f-glyph").value = "ʰ"          # what a paste does: one change
            await wait_for(pilot, lambda: screen.doc.value("symbols", 1, "glyph") == "ʰ", "the glyph")
            assert "ʰ" in str(screen.query_one("#glyph-preview").content)   # its preview, and its fallback
            assert "ASCII  hum " in str(screen.query_one("#glyph-preview").content)   # no ascii set: from the id
            await type_into(pilot, screen, "ascii", "h")
            await wait_for(pilot, lambda: "ASCII  h " in str(screen.query_one("#glyph-preview").content), "the fallback")

            # an invalid colour: refused as typed, with the checker's own message; the document keeps the good one
            box = await type_into(pilot, screen, "colour", "#12")
            assert box.has_class("refused")
            assert screen.doc.value("symbols", 1, "colour") == ""   # the empty box: optional, taken
            (refused,) = screen.refused
            bad = screen.doc.with_value("symbols", 1, "colour", "#12").text()
            target = workspace.notations_dir / "my-set.toml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(bad, encoding="utf-8")
            code, out = check_cli(workspace, target)
            target.unlink()
            assert code == 1 and f"error: {refused.one_line()}" in out.splitlines()
            assert "symbols[1].colour: '#12' is not a colour" in refused.one_line()
            await keys(pilot, "a", "b", "c", "d")             # #12a (#rgb) taken, #12ab refused, ... #12abcd taken
            await wait_for(pilot, lambda: screen.doc.value("symbols", 1, "colour") == "#12abcd", "a good colour")
            assert not box.has_class("refused") and not screen.refused

            # learn an OSC button with no room open: the dialog listens on a port of its own
            await keys(pilot, "escape")
            await wait_for(pilot, lambda: app.focused is items, "back on the list")
            await keys(pilot, "l")
            await wait_for(pilot, lambda: isinstance(app.screen, LearnBindingScreen) and app.screen.listening, "listening")
            assert "MIDI: not available (off)" in screen_text(app.screen)
            send_osc(app.screen._own_osc.port, "/hum", 1.0)
            await wait_for(pilot, lambda: ("osc", 0, {"address": "/hum"}) in screen.doc.bindings("symbols", 1),
                           "the OSC button learnt")

            # reorder: hum before good; an undo action
            await keys(pilot, "left_square_bracket")
            await wait_for(pilot, lambda: screen.doc.value("symbols", 0, "id") == "hum", "the move")
            await keys(pilot, "d")                             # a copy of hum, without its bindings
            await wait_for(pilot, lambda: screen.doc.value("symbols", 1, "id") == "hum-2", "the copy of hum")
            assert screen.doc.bindings("symbols", 1) == [] and screen.item == ("symbols", 1)
            await keys(pilot, "delete")
            await wait_for(pilot, lambda: screen.doc.count("symbols") == 2, "the copy removed")
            await keys(pilot, "u")
            await wait_for(pilot, lambda: screen.doc.count("actions") == 1, "the undo action")
            await save(pilot, screen)
            code, out = check_cli(workspace, target)
            assert code == 0, out
            saved = load_notation(target)
            assert [s.id for s in saved.symbols] == ["hum", "good"] and [a.id for a in saved.actions] == ["undo"]
            hum = saved.symbol("hum")
            assert (hum.glyph, hum.ascii, hum.label, hum.colour, hum.osc) == ("ʰ", "h", "humming", "#12abcd", ("/hum",))
            assert target.read_text().startswith("# my set: a notation made")    # the template's comment kept
            await wait_for(pilot, lambda: "my-set" in [r[0] for r in screen.listed], "the list to show it")

            # copy a shipped notation: a new file, a new name, everything else as the author wrote it
            await open_notation(pilot, screen, "jam-reactions")
            screen.query_one("#notations").focus()
            await keys(pilot, "c")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), "the copy prompt")
            await keys(pilot, "enter")                         # jam-reactions-copy
            await wait_for(pilot, lambda: screen.stem == "jam-reactions-copy", "the copy")
            await open_notation(pilot, screen, "sound-poetry", held_back=True)     # unsaved: enter once is not enough
            await save(pilot, screen)
            copy = workspace.notations_dir / "jam-reactions-copy.toml"
            assert changed_lines(shipped_notations()["jam-reactions"].read_text(), copy.read_text()) == [
                '-name = "jam reactions"', '+name = "jam reactions (jam-reactions-copy)"']
        finally:
            await app.shutdown()


async def test_a_round_trip_edit_through_the_editor_changes_only_the_edited_lines(workspace):
    """sound-poetry and instrumental-techniques here; good-bad-pedal is edited in the learn test
    below and jam-reactions copied above, each checked line by line the same way (and all four
    through the editor's document in test_notation_edit.py)."""
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await open_notation_screen(pilot, app)
            for stem in ("sound-poetry", "instrumental-techniques"):
                path = shipped_notations()[stem]
                await open_notation(pilot, screen, stem)
                # what a paste into the field does (the other tests type key by key)
                box = await focus_field(pilot, screen, "label", row=1)                     # the first symbol
                box.value += " (edited)"
                await wait_for(pilot, lambda: screen.doc.value("symbols", 0, "label").endswith(" (edited)"), "the label")
                box = await focus_field(pilot, screen, "before", row=0)                    # [defaults] before
                box.value = "2.5"
                await wait_for(pilot, lambda: screen.doc.value(None, None, "before") == "2.5", "before")
                await save(pilot, screen)
                original, saved = path.read_text(), (workspace.notations_dir / f"{stem}.toml").read_text()
                changed = changed_lines(original, saved)
                assert len(changed) == 4, (stem, changed)
                label = next(line for line in original.splitlines() if line.startswith("label = "))
                before = next(line for line in original.splitlines() if line.startswith("before = "))
                assert changed == [f"-{before}", "+" + before.replace(before.split()[2], "2.5", 1),   # its comment kept
                                   f"-{label}", f"+{label[:-1]} (edited)\""], changed
                assert load_notation(workspace.notations_dir / f"{stem}.toml").symbols[0].label.endswith("(edited)")
        finally:
            await app.shutdown()


async def test_learn_a_midi_pedal_an_osc_button_and_a_key_save_and_takes_keep_their_copy(jack_server, workspace):
    """Learnt from a real MIDI port over JACK and real UDP, saved, and the history rule: the take
    recorded before the save keeps the notation it was recorded with, the next take gets the new one."""
    from rehearsal.store import open_db
    from tests.support.jackplayer import JackPlayer
    from tests.test_tui_pilot import open_and_record_with_midi, send_osc

    app = RehearsalApp(workspace, options(open_input=True, demo=True, midi_virtual=True, midi_api="jack", osc_port=0))
    player = None
    async with app.run_test(size=SIZE) as pilot:
        try:
            first = await open_and_record_with_midi(app, pilot)
            screen = await open_notation_screen(pilot, app)
            await open_notation(pilot, screen, "good-bad-pedal")
            await type_into(pilot, screen, "label", "Keep", row=1)

            # a MIDI footswitch that sends 0 on press and 127 on release (CC 80, channel 1)
            player = JackPlayer("editor-pedal", channels=1, midi=True)
            player.connect_midi_to("RtMidiIn Client:rehearsal")
            screen.query_one("#notation-items").focus()
            await keys(pilot, "l")
            await wait_for(pilot, lambda: isinstance(app.screen, LearnBindingScreen) and app.screen.listening, "listening")
            player.play(np.zeros((4800, 1), np.float32), [(0, bytes([0xB0, 80, 0])), (2400, bytes([0xB0, 80, 127]))])
            await wait_for(pilot, lambda: not isinstance(app.screen, LearnBindingScreen), "the pedal to be heard")
            await wait_for(pilot, lambda: any(f.get("control") == 80 for _, _, f in screen.doc.bindings("symbols", 0)),
                           "the pedal in the notation")
            midi = [f for k, _, f in screen.doc.bindings("symbols", 0) if k == "midi" and f.get("control") == 80]
            assert midi == [{"type": "control_change", "control": 80, "channel": 1, "polarity": "inverted",
                             "threshold": 64, "gesture": "tap"}]
            assert player.done.wait(5)

            # an OSC button (1 on press, 0 on release) on the room's OSC port
            await keys(pilot, "l")
            await wait_for(pilot, lambda: isinstance(app.screen, LearnBindingScreen) and app.screen.listening, "listening")
            send_osc(app.input.osc.port, "/pedalboard/push1", 1.0)
            send_osc(app.input.osc.port, "/pedalboard/push1", 0.0)
            await wait_for(pilot, lambda: ("osc", 1, {"address": "/pedalboard/push1"}) in screen.doc.bindings("symbols", 0),
                           "the OSC button in the notation")

            # a key (a page-turner's PageDown), then made a double-tap with g
            await keys(pilot, "l")
            await wait_for(pilot, lambda: isinstance(app.screen, LearnBindingScreen), "listening")
            await keys(pilot, "ctrl+r")                        # an app key: refused, still listening
            await pilot.pause()
            assert isinstance(app.screen, LearnBindingScreen) and app.link.recording
            await keys(pilot, "pagedown")
            await wait_for(pilot, lambda: ("keys", 1, {"key": "pagedown"}) in screen.doc.bindings("symbols", 0),
                           "the key in the notation")
            bindings = screen.query_one("#notation-bindings")
            bindings.focus()
            await wait_for(pilot, lambda: app.focused is bindings, "the bindings list focused")
            bindings.move_cursor(row=1)
            await wait_for(pilot, lambda: bindings.cursor_row == 1, "pagedown highlighted")
            await keys(pilot, "g")
            await wait_for(pilot, lambda: ("keys", 1, {"key": "pagedown", "gesture": "double-tap"})
                           in screen.doc.bindings("symbols", 0), "the double-tap")

            await save(pilot, screen)
            saved_path = workspace.notations_dir / "good-bad-pedal.toml"
            original = shipped_notations()["good-bad-pedal"].read_text()
            assert changed_lines(original, saved_path.read_text()) == [
                '-label = "Good"', '+label = "Keep"',
                '-keys = ["g"]', '-osc = "/good"',
                '+keys = ["g", {key = "pagedown", gesture = "double-tap"}]', '+osc = ["/good", "/pedalboard/push1"]',
                '+  [[symbols.midi]]', '+  type = "control_change"', '+  control = 80', '+  channel = 1',
                '+  polarity = "inverted"', '+  threshold = 64', '+  gesture = "tap"']
            assert check_cli(workspace, saved_path)[0] == 0

            # the history rule: this take keeps its copy; the saved notation applies from the next take
            await wait_for(pilot, lambda: app.link.next_notation is not None, "the saved notation for the next take")
            assert app.notation.symbol("good").label == "Good"
            await keys(pilot, "ctrl+n")
            await wait_for(pilot, lambda: app.link.room.take and app.link.room.take["id"] != first["id"], "the next take")
            second = app.link.room.take
            await wait_for(pilot, lambda: app.notation.symbol("good").label == "Keep", "the switch")
            db = open_db(workspace.db_path)
            try:
                text_of = {tid: db.execute("SELECT n.toml FROM takes t JOIN notations n ON n.id = t.notation_id "
                                           "WHERE t.id = ?", [tid]).fetchone()[0] for tid in (first["id"], second["id"])}
            finally:
                db.conn.close()
            assert text_of[first["id"]] == original
            assert text_of[second["id"]] == saved_path.read_text()
        finally:
            await shutdown_with_pedal(app, player)
