"""The keyboard source: bindings, gestures and auto-repeat suppression (manual clock), then
end to end into a real bus and SQLite workspace."""

from __future__ import annotations

import pytest

from rehearsal.markers.gestures import ManualScheduler
from rehearsal.markers.keys import KeySource
from rehearsal.notation import parse_notation
from tests.support.markerbus import BusHarness

NOTATION = """
name = "keys test"
[[symbols]]
id = "good"
glyph = "+"
keys = ["g", {key = "pagedown", gesture = "tap"}]
[[symbols]]
id = "bad"
glyph = "x"
keys = [{key = "pagedown", gesture = "double-tap"}]
[[actions]]
id = "undo"
keys = ["u"]
"""

T0 = 500.0


class ListBus:
    def __init__(self):
        self.events = []

    def submit(self, event):
        self.events.append(event)
        return True

    def seen(self):
        return [(e.target, e.gesture, round(e.t - T0, 3), e.action, e.source) for e in self.events]


@pytest.fixture
def keys():
    sched = ManualScheduler(T0)
    bus = ListBus()
    src = KeySource(bus, parse_notation(NOTATION), scheduler=sched)
    return src, sched, bus


def test_a_key_press_tags_at_its_press_time_once_it_is_known_not_to_repeat(keys):
    src, sched, bus = keys
    assert src.press("g", T0 + 1.0)
    sched.advance_to(T0 + 1.05)
    assert bus.events == []                  # a repeat could still follow
    sched.advance_to(T0 + 1.2)
    assert bus.seen() == [("good", "tap", 1.0, False, "key")]


def test_a_held_key_makes_one_tag_whatever_its_auto_repeat(keys):
    src, sched, bus = keys
    # X11 defaults: first repeat after 660 ms, then 25 per second; held for 2 s
    presses = [1.0] + [1.66 + i * 0.04 for i in range(35)]
    for t in presses:
        sched.advance_to(T0 + t)
        src.press("g", T0 + t)
    sched.advance(2)
    assert bus.seen() == [("good", "tap", 1.0, False, "key")]
    assert src.stats()["repeats"] == 35


def test_a_first_repeat_after_a_short_initial_delay_is_caught_too(keys):
    src, sched, bus = keys
    for t in (1.0, 1.25, 1.28, 1.31):        # 250 ms initial delay, 30 ms repeats
        sched.advance_to(T0 + t)
        src.press("u", T0 + t)
    sched.advance(1)
    assert bus.seen() == [("undo", "tap", 1.0, True, "key")]


def test_two_presses_closer_than_the_gap_make_one_tag_at_the_first(keys):
    src, sched, bus = keys
    src.press("g", T0 + 1.0)
    src.press("g", T0 + 1.08)
    sched.advance(2)
    assert bus.seen() == [("good", "tap", 1.0, False, "key")]


def test_deliberate_presses_are_not_mistaken_for_repeats(keys):
    src, sched, bus = keys
    for t in (1.0, 1.2, 1.4):
        sched.advance_to(T0 + t)
        src.press("g", T0 + t)
    sched.advance(1)
    assert [e[2] for e in bus.seen()] == [1.0, 1.2, 1.4]


def test_double_tap_on_a_key(keys):
    src, sched, bus = keys
    for t in (1.0, 1.2):                     # inside the 350 ms window
        sched.advance_to(T0 + t)
        src.press("pagedown", T0 + t)
    sched.advance(1)
    assert bus.seen() == [("bad", "double-tap", 1.0, False, "key")]
    for t in (3.0, 3.5):                     # further apart: two taps
        sched.advance_to(T0 + t)
        src.press("pagedown", T0 + t)
    sched.advance(1)
    assert bus.seen()[1:] == [("good", "tap", 3.0, False, "key"), ("good", "tap", 3.5, False, "key")]


def test_a_tap_waiting_for_its_window_is_committed_before_an_action(keys):
    src, sched, bus = keys
    src.press("pagedown", T0 + 1.0)
    sched.advance_to(T0 + 1.15)
    src.press("u", T0 + 1.15)
    sched.advance(1)
    assert [e[0] for e in bus.seen()] == ["good", "undo"]


def test_unbound_keys_are_not_taken(keys):
    src, sched, bus = keys
    assert not src.press("z", T0 + 1)
    sched.advance(1)
    assert bus.events == [] and src.stats()["unbound"] == 1


def test_repeat_gap_is_configurable():
    sched, bus = ManualScheduler(T0), ListBus()
    src = KeySource(bus, parse_notation(NOTATION), scheduler=sched, repeat_gap=0.3)
    for t in (1.0, 1.2):                     # 200 ms: a repeat under a 300 ms gap
        sched.advance_to(T0 + t)
        src.press("g", T0 + t)
    sched.advance(1)
    assert [e[2] for e in bus.seen()] == [1.0]
    with pytest.raises(ValueError):
        KeySource(bus, parse_notation(NOTATION), scheduler=sched, repeat_gap=-1)


def test_flush_and_notation_change(keys):
    src, sched, bus = keys
    src.press("g", T0 + 1.0)
    src.flush()
    assert len(bus.events) == 1
    src.set_notation(parse_notation(NOTATION.replace('keys = ["g", ', 'keys = [')))
    assert not src.press("g", T0 + 2.0)


def test_keys_end_to_end_into_the_database(workspace):
    h = BusHarness(workspace, NOTATION)
    src = KeySource(h.bus, h.notation)          # the real timer thread
    try:
        t = h.clock.time_of(96_000)             # 2 s into the take
        src.press("g", t)

        def hold(key, start, repeats=10):       # press, then auto-repeat after 500 ms every 30 ms
            src.press(key, start)
            for i in range(repeats):
                src.press(key, start + 0.5 + 0.03 * i)

        hold("g", t + 1.0)                      # one more tag, not eleven
        assert h.wait_committed(2)
        hold("u", t + 3.0)                      # one undo, not eleven
        assert h.wait_for(lambda ms: len(h.undone) == 1)
        h.bus.flush()
        assert len(h.undone) == 1 and len(h.committed) == 2
        live = h.markers()
        assert [(m.symbol, m.source, m.tap_sample) for m in live] == [("good", "key", 96_000)]
        assert len(h.markers(include_deleted=True)) == 2
    finally:
        src.close()
        h.close()
