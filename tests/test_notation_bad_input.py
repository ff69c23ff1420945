"""Issue 13, finding 1: every bad notation gets a clear error naming file:line, all in one run.

The reproducers live in tests/fuzz_corpus/notation/ (the fuzz suite replays them too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.notation import NotationError, load_notation, validate_notation

CORPUS = Path(__file__).parent / "fuzz_corpus" / "notation"

EXPECTED = {  # file -> (line, words in the error)
    "reject-deep-nesting.toml": (1, "nested more than"),
    "reject-zero-width-id.toml": (6, "invisible characters"),
    "reject-nfc-duplicate-id.toml": (6, "already the id of symbols[0]"),
    "reject-duplicate-action.toml": (8, "already the id of actions[0]"),
    "reject-conflicting-polarity.toml": (8, "one polarity"),
    "reject-reserved-key.toml": (5, "app's own keys"),
    "reject-unknown-key.toml": (5, "did you mean 'pagedown'"),
    "reject-control-on-note.toml": (7, "takes note = N, not control"),
    "reject-typo-gestur.toml": (5, "did you mean 'gesture'"),
    "reject-unknown-default.toml": (3, "did you mean 'before'"),
    "reject-escape-glyph.toml": (4, "control or invisible"),
    "reject-line-after-multiline-string.toml": (9, "is not a colour"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reproducer_is_refused_with_file_line_and_words(name):
    line, words = EXPECTED[name]
    with pytest.raises(NotationError) as err:
        load_notation(CORPUS / name)
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)
    assert str(err.value).startswith(f"{CORPUS / name}:{line}: ")


def test_a_byte_order_mark_is_accepted():
    assert load_notation(CORPUS / "accept-bom.toml").symbols[0].id == "good"


def test_validate_notation_collects_every_error_without_raising():
    text = ('name = "x"\n[[symbols]]\nid = "a"\nglyph = "+"\nkeys = ["pagedwn"]\n'
            '[[symbols]]\nid = "b"\nglyph = "x"\ncolour = "nope"\n[[actions]]\nid = "undoo"\n')
    notation, errors = validate_notation(text, "three.toml")
    assert notation is None
    assert [(e.line, e.field) for e in errors] == [
        (5, "symbols[0].keys"), (9, "symbols[1].colour"), (11, "actions[0].id")]
    assert "did you mean 'undo'" in errors[2].message


def _cli(*args, home):
    return subprocess.run([str(Path(sys.executable).with_name("rehearsal")), "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60)


def test_notation_check_reports_every_error_and_list_never_writes_escapes(tmp_path):
    bad = tmp_path / "two.toml"
    bad.write_text('name = "x"\n[[symbols]]\nid = "a"\nglyph = "+"\nkeys = ["f1"]\n'
                   '[[symbols]]\nid = "b"\nglyph = "x"\nwobble = 1\n')
    r = _cli("notation", "check", str(bad), home=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == [f"error: {bad}:5: symbols[0].keys: 'f1' is one of the app's own keys: choose another",
                     f"error: {bad}:9: symbols[1].wobble: unknown field; expected one of " + lines[1].split("one of ", 1)[1]]
    ws_notations = tmp_path / "notations"
    ws_notations.mkdir()
    (ws_notations / "evil.toml").write_text('name = "evil\\u001b]0;owned\\u0007"\n[[symbols]]\nid = "a"\nglyph = "+"\n')
    r = _cli("notation", "list", home=tmp_path)
    assert r.returncode == 0 and "evil" in r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
