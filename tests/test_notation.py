"""Notations: every shipped set is valid; a wrong file names its file, line and field."""

from __future__ import annotations

import pytest

from rehearsal.notation import NotationError, find_notation, load_notation, parse_notation, shipped_notations
from tests.support.proc import run_cli

GOOD = '''
name = "test"
[[symbols]]
id = "good"
glyph = "✓"
label = "Good"
colour = "#00ff00"
keys = ["g"]
'''


def test_four_shipped_notations_load_with_what_the_issue_asks():
    shipped = {stem: load_notation(path) for stem, path in shipped_notations().items()}
    assert {"good-bad-pedal", "sound-poetry", "instrumental-techniques", "jam-reactions"} <= set(shipped)
    pedal = shipped["good-bad-pedal"]
    gestures = {(t.id, b.gesture) for t, b in pedal.bindings()}
    assert gestures == {("good", "tap"), ("bad", "long-press"), ("undo", "double-tap")}
    assert 1 <= len(shipped["sound-poetry"].symbols) <= 20
    assert {"tremolo", "glissando", "harmonics"} <= {s.id for s in shipped["instrumental-techniques"].symbols}
    assert {"laugh", "surprise", "followed", "too-reactive"} <= {s.id for s in shipped["jam-reactions"].symbols}
    for n in shipped.values():
        assert all(s.glyph and s.ascii.isascii() for s in n.symbols)


def test_a_tap_marks_a_retroactive_region_per_symbol():
    n = parse_notation(GOOD.replace('keys = ["g"]', 'keys = ["g"]\nbefore = 3.5\nafter = 0.5'))
    assert (n.symbols[0].before_s, n.symbols[0].after_s) == (3.5, 0.5)
    assert parse_notation(GOOD).symbols[0].before_s == 8.0  # the default


@pytest.mark.parametrize("change, line, field", [
    (('colour = "#00ff00"', 'colour = "not-a-colour"'), 7, "symbols[0].colour"),
    (('glyph = "✓"', 'glyph = ""'), 5, "symbols[0].glyph"),
    (('keys = ["g"]', 'keys = [{key = "g", gesture = "long-press"}]'), 8, "symbols[0].keys"),
    (('keys = ["g"]', 'keys = ["g"]\nosc = "no-slash"'), 9, "symbols[0].osc"),
    (('keys = ["g"]', 'keys = ["g"]\nbefore = -1'), 9, "symbols[0].before"),
    (('keys = ["g"]', 'keys = ["g"]\nwobble = 1'), 9, "symbols[0].wobble"),
    (('keys = ["g"]', 'keys = ["g"]\n[[symbols.midi]]\ntype = "control_change"\ncontrol = 300'), 11,
     "symbols[0].midi[0].control"),
])
def test_errors_name_file_line_and_field(change, line, field):
    text = GOOD.replace(*change)
    with pytest.raises(NotationError) as err:
        parse_notation(text, "mine.toml")
    assert err.value.source == "mine.toml"
    assert err.value.field == field
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"mine.toml:{line}: {field}: ")


def test_duplicate_ids_and_conflicting_bindings_are_refused():
    twice = GOOD + GOOD.split("\n", 2)[2].replace('keys = ["g"]', 'keys = ["h"]')
    with pytest.raises(NotationError, match="already the id"):
        parse_notation(twice)
    clash = GOOD + GOOD.split("\n", 2)[2].replace('id = "good"', 'id = "other"')
    with pytest.raises(NotationError, match="already bound to 'good'"):
        parse_notation(clash)


def test_syntax_errors_name_the_line():
    with pytest.raises(NotationError) as err:
        parse_notation('name = "x"\n[[symbols]]\nid = \n', "broken.toml")
    assert err.value.line == 3 and "invalid TOML" in str(err.value)


def test_unicode_glyphs_are_first_class():
    n = parse_notation(GOOD.replace('glyph = "✓"', 'glyph = "ʃ😂"').replace('id = "good"', 'id = "ʃ-laugh"'))
    assert n.symbols[0].glyph == "ʃ😂" and n.symbols[0].id == "ʃ-laugh"
    assert n.symbols[0].ascii.isascii()


def test_notation_check_command(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('colour = "#00ff00"', 'colour = 12'), encoding="utf-8")
    result = run_cli(["--home", str(tmp_path / "ws"), "notation", "check", str(bad)])
    assert result.returncode == 1
    assert f"{bad}:7: symbols[0].colour:" in result.stderr
    ok = run_cli(["--home", str(tmp_path / "ws"), "notation", "check", "jam-reactions"])
    assert ok.returncode == 0 and "6 symbols" in ok.stdout


def test_find_prefers_the_workspace_then_shipped(tmp_path):
    (tmp_path / "good-bad-pedal.toml").write_text(GOOD, encoding="utf-8")
    assert find_notation("good-bad-pedal", tmp_path) == tmp_path / "good-bad-pedal.toml"
    assert find_notation("jam-reactions", tmp_path).name == "jam-reactions.toml"
    with pytest.raises(NotationError, match="no notation of that name"):
        find_notation("nope", tmp_path)
