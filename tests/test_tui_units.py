"""TUI building blocks without a running app: moments, learnt triggers, glyphs, the time line, screens."""

from __future__ import annotations

import json

import mido
import pytest

from rehearsal.notation import MidiBinding, find_notation, load_notation
from rehearsal.store.markers import Marker
from rehearsal.tui.glyphs import drawable, shown, terminal_is_limited
from rehearsal.tui.learned import (add_key, add_midi, apply_learned, binding_from_message, load_learned,
                                   remember_key, remember_midi, save_learned)
from rehearsal.tui.moments import Filter, agreement, clock, moments_of, select

SR = 48_000


def _m(id_, tap_s, who, symbol="good", source="key"):
    tap = round(tap_s * SR)
    return Marker(id=id_, take_id=1, symbol=symbol, glyph="✓", tap_sample=tap, start_sample=max(0, tap - SR),
                  end_sample=tap + SR, who=who, source=source, gesture="tap", created_at="2024-01-01T00:00:00Z")


def test_agreement_counts_distinct_people_near_a_moment():
    markers = [_m(1, 10.0, "ana"), _m(2, 11.0, "ben"), _m(3, 12.5, "ana"), _m(4, 30.0, "cy"), _m(5, 13.0, "cy")]
    agree = agreement(markers, SR, window_s=4.0)
    assert agree == {1: 3, 2: 3, 3: 3, 4: 1, 5: 3}
    assert agreement(markers, SR, window_s=0.5) == {1: 1, 2: 1, 3: 2, 4: 1, 5: 2}   # 12.5 and 13.0


def test_select_filters_and_sorts_by_agreement_then_time():
    take = {"id": 1, "number": 1, "sample_rate": SR}
    markers = [_m(1, 5.0, "ana", "bad", "midi:pedal"), _m(2, 20.0, "ben"), _m(3, 21.0, "cy", source="osc:1.2.3.4"),
               _m(4, 40.0, "ana")]
    moments = moments_of([(take, markers)])
    assert [m.id for m in select(moments, Filter(), "agreement")] == [2, 3, 1, 4]
    assert [m.id for m in select(moments, Filter(), "time")] == [1, 2, 3, 4]
    assert [m.id for m in select(moments, Filter(symbol="good", who="ana"))] == [4]
    assert [m.id for m in select(moments, Filter(source="osc:1.2.3.4"))] == [3]
    with pytest.raises(ValueError):
        select(moments, Filter(), "loudness")


def test_clock_reads_like_a_musician():
    assert clock(0) == "0:00.0"
    assert clock(83.26) == "1:23.3"
    assert clock(3725, tenths=False) == "1:02:05"


def test_learnt_key_moves_from_one_symbol_to_another_and_survives_a_reload(tmp_path):
    n = load_notation(find_notation("good-bad-pedal"))
    n2 = add_key(n, "good", "pagedown")
    n3 = add_key(n2, "bad", "pagedown")        # the same key and gesture: it moves
    assert ("pagedown", "tap") in n3.key_targets() and n3.key_targets()[("pagedown", "tap")].id == "bad"
    assert all(k.key != "pagedown" for k in n3.symbol("good").keys)
    with pytest.raises(ValueError, match="long-press"):
        add_key(n, "good", "pagedown", "long-press")

    data = remember_key(load_learned(tmp_path, n), "bad", "pagedown", "tap")
    data = remember_midi(data, "good", MidiBinding("control_change", 80, 0, "tap", polarity="inverted"))
    path = save_learned(tmp_path, n, data)
    assert json.loads(path.read_text())["keys"] == [{"target": "bad", "key": "pagedown", "gesture": "tap"}]
    again = apply_learned(n, load_learned(tmp_path, n))
    assert again.key_targets()[("pagedown", "tap")].id == "bad"
    assert any(b.number == 80 and b.polarity == "inverted" for b in again.symbol("good").midi)
    # a learnt CC takes the control and gesture away from any other symbol
    moved = add_midi(again, "bad", MidiBinding("control_change", 80, 0, "tap", polarity="inverted"))
    assert not any(b.number == 80 for b in moved.symbol("good").midi)


def test_learnt_bindings_file_that_is_not_json_is_a_clear_error(tmp_path):
    n = load_notation(find_notation("good-bad-pedal"))
    path = tmp_path / "bindings" / "good _ bad (one pedal).json"
    from rehearsal.tui.learned import bindings_path

    path = bindings_path(tmp_path, n)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path.name).split(".")[0][:5]):
        load_learned(tmp_path, n)


def test_binding_from_midi_message_reads_polarity():
    assert binding_from_message(mido.Message("control_change", channel=2, control=64, value=127)) == MidiBinding(
        "control_change", 64, 2, "tap", polarity="normal")
    assert binding_from_message(mido.Message("control_change", control=81, value=0)).polarity == "inverted"
    assert binding_from_message(mido.Message("note_on", note=60, velocity=0)) is None   # a note-off
    assert binding_from_message(mido.Message("note_on", note=60, velocity=90), "double-tap").gesture == "double-tap"
    assert binding_from_message(mido.Message("program_change", program=3), "long-press").gesture == "tap"
    assert binding_from_message(mido.Message("clock")) is None


def test_glyph_falls_back_to_ascii():
    n = load_notation(find_notation("jam-reactions"))
    laugh = n.symbol("laugh")
    assert shown(laugh) == laugh.glyph
    assert shown(laugh, ascii_only=True) == laugh.ascii
    assert shown(laugh, limited=True) == laugh.ascii           # the Linux console, a non-UTF-8 terminal
    assert not drawable("\ue000")                               # a private-use code point: no font has it
    assert terminal_is_limited({"TERM": "linux"}, "utf-8")
    assert terminal_is_limited({"TERM": "xterm"}, "latin-1")
    assert not terminal_is_limited({"TERM": "xterm-256color"}, "utf-8")


def test_timeline_places_glyphs_where_tags_landed():
    from rehearsal.tui.widgets.timeline import Mark, Timeline

    tl = Timeline(min_span_s=10)
    tl.set_take(10 * SR, SR, preroll=2 * SR)
    tl.marks = {1: Mark(5 * SR, 4 * SR, 6 * SR, "✓", "green"), 2: Mark(0, 0, SR, "😂", "yellow")}
    row = tl.glyph_row(20)
    assert row[10][0] == "✓"
    assert row[0][0] == "😂" and row[1][0] == ""               # a wide glyph takes two columns
    assert tl.scale(40).startswith("0:00")


def test_screen_registry_gives_each_screen_a_key_and_refuses_clashes():
    from rehearsal.tui.screens.registry import ScreenSpec, register_screen, screen_specs

    specs = screen_specs()
    assert [s.name for s in specs][:3] == ["record", "review", "sessions"]
    assert [s.key for s in specs][:3] == ["f1", "f2", "f3"]
    with pytest.raises(ValueError, match="already"):
        register_screen(ScreenSpec(name="other", title="Other", key="f1", factory=object))
    with pytest.raises(ValueError, match="f1..f9"):
        register_screen(ScreenSpec(name="other", title="Other", key="ctrl+x", factory=object))


def test_demo_take_ships_with_the_package_and_is_music_sized():
    import soundfile as sf

    from rehearsal.tui.options import demo_take_path

    path = demo_take_path()
    info = sf.info(str(path))
    assert info.samplerate == 48_000 and 20 <= info.duration <= 30
    assert path.stat().st_size < 1_500_000
    audio, _ = sf.read(str(path))
    assert abs(audio).max() > 0.3          # music, not silence
