"""The notation editor's document (rehearsal.notation.edit): edits change only what they touch.

Every shipped notation, read as its author wrote it, edited through `NotationDoc` (what the
Notation screen does on each keystroke) and written back: the diff holds the edited lines
and nothing else; comments, blank lines, indents and quotes stay.
"""

from __future__ import annotations

import difflib

import pytest

from rehearsal.notation import NotationError, parse_notation, shipped_notations
from rehearsal.notation.edit import NotationDoc, describe_binding, next_gesture, typed


def changed(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("stem", sorted(shipped_notations()))
def test_an_edit_of_each_shipped_notation_changes_only_its_lines(stem):
    text = shipped_notations()[stem].read_text(encoding="utf-8")
    doc = NotationDoc(text, stem)
    assert doc.text() == text and not doc.errors()                 # read and written back: byte for byte
    last = doc.count("symbols") - 1
    edited = (doc.with_value("symbols", 0, "label", "Edited")
                 .with_value(None, None, "after", 1.5)
                 .with_value("symbols", last, "colour", "cyan")
                 .with_value("symbols", 0, "label", "Edited"))          # the same value again: no change
    assert not edited.errors()
    label = next(line for line in text.splitlines() if line.startswith("label = "))
    after = next(line for line in text.splitlines() if line.startswith("after = "))
    colour = [line for line in text.splitlines() if line.startswith("colour = ")][last]
    lines = changed(text, edited.text())
    assert sorted(lines) == sorted([f"-{label}", '+label = "Edited"', f"-{after}", "+" + after.replace(after.split()[2], "1.5", 1),
                                    f"-{colour}", '+colour = "cyan"']), lines
    n = parse_notation(edited.text(), stem)
    assert n.symbols[0].label == "Edited" and n.symbols[-1].colour == "cyan"


def test_add_copy_move_remove_keep_the_layout():
    text = shipped_notations()["good-bad-pedal"].read_text(encoding="utf-8")
    doc = NotationDoc(text, "good-bad-pedal")
    down = doc.with_moved("symbols", 0, 1)
    assert [s.id for s in parse_notation(down.text()).symbols] == ["bad", "good"]
    assert "control = 64          # sustain; most pedals send 127 on press" in down.text()   # its comment travels
    assert down.with_moved("symbols", 1, -1).text() == text                                  # and back: the same file
    assert doc.with_moved("symbols", 0, -1) is doc                                           # nothing above the first

    added = doc.with_added("symbols", "maybe")
    assert changed(text, added.text()) == ['+[[symbols]]', '+id = "maybe"', '+glyph = "m"', '+label = "maybe"', '+']
    copied = doc.with_copied("symbols", 0, "good-2")
    n = parse_notation(copied.text())
    assert [s.id for s in n.symbols] == ["good", "good-2", "bad"]
    assert n.symbols[1].glyph == "✓" and not n.symbols[1].keys and not n.symbols[1].midi   # one press, one meaning

    removed = doc.with_removed("symbols", 1)
    assert [s.id for s in parse_notation(removed.text()).symbols] == ["good"]
    assert "\n\n[[actions]]" in removed.text()
    assert NotationDoc.new("my set", "my-set.toml").errors() == []


def test_bindings_and_gestures():
    text = shipped_notations()["instrumental-techniques"].read_text(encoding="utf-8")
    doc = NotationDoc(text, "instrumental-techniques")
    pedal = {"type": "control_change", "control": 80, "channel": 1, "polarity": "inverted", "threshold": 64,
             "gesture": "tap"}
    learnt = (doc.with_binding("symbols", 0, "keys", "pagedown")
                 .with_binding("symbols", 0, "osc", "/pedal/1")
                 .with_binding("symbols", 0, "midi", pedal))
    assert changed(text, learnt.text()) == [
        '-keys = ["1"]', '-osc = "/tech/tremolo"', '+keys = ["1", "pagedown"]', '+osc = ["/tech/tremolo", "/pedal/1"]',
        '+  [[symbols.midi]]', '+  type = "control_change"', '+  control = 80', '+  channel = 1',
        '+  polarity = "inverted"', '+  threshold = 64', '+  gesture = "tap"']     # indented as the file's own
    s = parse_notation(learnt.text()).symbols[0]
    assert [k.key for k in s.keys] == ["1", "pagedown"] and s.osc == ("/tech/tremolo", "/pedal/1")
    assert (s.midi[0].number, s.midi[0].polarity) == (80, "inverted")

    twice = learnt.with_gesture("symbols", 0, "keys", 1, "double-tap").with_gesture("symbols", 0, "midi", 0, "long-press")
    s = parse_notation(twice.text()).symbols[0]
    assert s.keys[1].gesture == "double-tap" and s.midi[0].gesture == "long-press"
    back = twice.with_binding_removed("symbols", 0, "midi", 0).with_binding_removed("symbols", 0, "osc", 1)
    assert changed(text, back.text()) == ['-keys = ["1"]', '+keys = ["1", {key = "pagedown", gesture = "double-tap"}]']
    assert [describe_binding(k, f) for k, _, f in learnt.bindings("symbols", 0)] == [
        "key 1 tap", "key pagedown tap", "MIDI CC 80 ch1 (inverted) tap", "OSC /tech/tremolo", "OSC /pedal/1"]
    assert next_gesture("keys", "double-tap") == "tap" and next_gesture("midi", "double-tap") == "long-press"


def test_a_bad_value_gets_the_checkers_error_and_bad_toml_cannot_be_opened():
    doc = NotationDoc(shipped_notations()["jam-reactions"].read_text(encoding="utf-8"), "jam.toml")
    bad = doc.with_value("symbols", 1, "before", typed("before", "soon"))
    assert [e.one_line() for e in bad.errors()] == \
        ["jam.toml:28: symbols[1].before: must be a number of seconds from 0 to 600, got 'soon'"]
    assert typed("before", "2") == 2 and typed("before", "2.5") == 2.5 and typed("label", "2") == "2"
    with pytest.raises(NotationError) as exc:
        NotationDoc('name = "x"\n[[symbols]\nid = "a"\n', "broken.toml")
    assert exc.value.one_line().startswith("broken.toml:2: invalid TOML")
