"""The gesture recogniser, driven by a manual clock: every timing decision is deterministic."""

from __future__ import annotations

import threading

import pytest

from rehearsal.markers.gestures import (
    GestureGroup, GestureRecognizer, GestureTiming, ManualScheduler, TimerThread,
)

T0 = 1000.0


def make(targets, timing=None, scheduler=None):
    sched = scheduler or ManualScheduler(T0)
    out = []
    rec = GestureRecognizer(targets, lambda target, gesture, t: out.append((target, gesture, round(t - T0, 4))),
                            timing=timing or GestureTiming(), scheduler=sched)
    return rec, sched, out


ONE_PEDAL = {"tap": "good", "double-tap": "undo", "long-press": "bad"}


def test_tap_only_commits_at_once_at_the_press_time():
    rec, sched, out = make({"tap": "good"})
    rec.press(T0 + 0.5)
    assert out == [("good", "tap", 0.5)]          # before any time passes
    rec.release(T0 + 0.6)
    sched.advance(5)
    assert out == [("good", "tap", 0.5)]
    assert sched.pending == 0


def test_a_tap_that_could_become_a_double_tap_waits_for_the_window_but_lands_at_its_press():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    sched.advance_to(T0 + 1.0)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.08)
    sched.advance_to(T0 + 1.34)
    assert out == []                              # could still be a double-tap
    sched.advance_to(T0 + 1.5)
    assert out == [("good", "tap", 1.0)]          # committed after the window, at the first press


def test_double_tap_lands_at_the_first_press_and_makes_no_tap():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.08)
    rec.press(T0 + 1.25)
    assert out == [("undo", "double-tap", 1.0)]   # at the second press, no wait
    rec.release(T0 + 1.3)
    sched.advance(5)
    assert out == [("undo", "double-tap", 1.0)]


def test_presses_further_apart_than_the_window_are_two_taps():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    for t in (1.0, 1.4):
        sched.advance_to(T0 + t)
        rec.press(T0 + t)
        rec.release(T0 + t + 0.05)
    sched.advance(2)
    assert out == [("good", "tap", 1.0), ("good", "tap", 1.4)]


def test_long_press_fires_while_still_held_and_release_adds_nothing():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 2.0)
    sched.advance_to(T0 + 2.55)
    assert out == []
    sched.advance_to(T0 + 2.7)
    assert out == [("bad", "long-press", 2.0)]
    rec.release(T0 + 3.5)
    sched.advance(2)
    assert out == [("bad", "long-press", 2.0)]


def test_one_pedal_short_press_is_a_tap_committed_after_the_window():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    sched.advance_to(T0 + 1.2)
    rec.release(T0 + 1.2)
    assert out == []
    sched.advance_to(T0 + 1.4)
    assert out == [("good", "tap", 1.0)]


def test_one_pedal_press_held_past_the_window_but_short_of_long_is_a_tap_at_release():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    sched.advance_to(T0 + 1.5)
    rec.release(T0 + 1.5)
    assert out == [("good", "tap", 1.0)]


def test_one_pedal_double_tap():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.1)
    rec.press(T0 + 1.2)
    rec.release(T0 + 1.3)
    sched.advance(3)
    assert out == [("undo", "double-tap", 1.0)]


def test_tap_and_long_press_without_double_tap_commits_the_tap_at_release():
    rec, sched, out = make({"tap": "good", "long-press": "bad"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.1)
    assert out == [("good", "tap", 1.0)]


def test_contact_bounce_on_press_and_release_makes_one_tap():
    rec, sched, out = make({"tap": "good"})
    for dt, down in ((0, 1), (0.002, 0), (0.004, 1), (0.006, 0), (0.007, 1), (0.2, 0), (0.202, 1), (0.205, 0)):
        (rec.press if down else rec.release)(T0 + 1 + dt)
    sched.advance(2)
    assert out == [("good", "tap", 1.0)]
    assert rec.counts["bounce"] == 6


def test_a_bounce_that_ends_released_is_not_a_long_press():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.004)   # inside the debounce: judged once the debounce has passed
    sched.advance_to(T0 + 3)
    assert out == [("good", "tap", 1.0)]


def test_debounce_is_configurable():
    rec, sched, out = make({"tap": "good"}, timing=GestureTiming(debounce=0.05))
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.01)
    rec.press(T0 + 1.03)          # 30 ms: bounce under a 50 ms debounce
    rec.release(T0 + 1.2)
    rec.press(T0 + 1.4)
    assert out == [("good", "tap", 1.0), ("good", "tap", 1.4)]


def test_window_and_long_press_thresholds_are_configurable():
    timing = GestureTiming(double_tap_window=0.5, long_press=1.0)
    rec, sched, out = make(ONE_PEDAL, timing=timing)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.1)
    rec.press(T0 + 1.45)          # beyond the default 350 ms, inside 500 ms
    rec.release(T0 + 1.5)
    rec.press(T0 + 3.0)
    sched.advance_to(T0 + 3.8)    # 0.8 s: a long-press by default, not with 1.0 s
    assert out == [("undo", "double-tap", 1.0)]
    sched.advance_to(T0 + 4.1)
    assert out == [("undo", "double-tap", 1.0), ("bad", "long-press", 3.0)]


def test_late_timers_cannot_reorder_gestures():
    # The scheduler never advances: deadlines are judged from the event times alone.
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.05)
    rec.press(T0 + 2.0)           # the window of the first ran out long ago
    rec.release(T0 + 2.05)
    rec.press(T0 + 2.2)
    assert out == [("good", "tap", 1.0), ("undo", "double-tap", 2.0)]


def test_a_late_release_still_makes_a_long_press():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.9)         # the timer never ran
    assert out == [("bad", "long-press", 1.0)]


def test_an_event_stamped_before_a_deadline_but_handled_after_it_still_counts():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.05)
    sched.advance_to(T0 + 1.36)   # 10 ms past the window, inside the timers' grace
    rec.press(T0 + 1.34)          # stamped inside the window by the MIDI thread
    assert out == [("undo", "double-tap", 1.0)]


def test_a_missing_release_counts_as_a_new_press():
    rec, sched, out = make({"tap": "good"})
    rec.press(T0 + 1.0)
    rec.press(T0 + 1.5)           # note-on, note-on: the note-off was lost
    assert out == [("good", "tap", 1.0), ("good", "tap", 1.5)]


def test_press_only_devices_double_tap_with_tap():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    rec.tap(T0 + 1.0)
    rec.tap(T0 + 1.2)
    rec.tap(T0 + 2.0)
    sched.advance_to(T0 + 3)
    assert out == [("undo", "double-tap", 1.0), ("good", "tap", 2.0)]


def test_unbound_gestures_are_counted_not_emitted():
    rec, sched, out = make({"long-press": "bad"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.1)
    rec.press(T0 + 2.0)
    sched.advance_to(T0 + 2.7)
    assert out == [("bad", "long-press", 2.0)]
    assert rec.counts["unbound"] == 1


def test_flush_commits_a_waiting_tap():
    rec, sched, out = make({"tap": "good", "double-tap": "undo"})
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.1)
    rec.flush()
    assert out == [("good", "tap", 1.0)]
    sched.advance(5)
    assert out == [("good", "tap", 1.0)]


def test_flush_takes_a_release_still_judged_as_bounce_as_a_release():
    # under load a press and its release can be stamped 3 ms apart; closing must not lose it
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    rec.release(T0 + 1.003)
    rec.flush()
    assert out == [("good", "tap", 1.0)]


def test_flush_leaves_a_held_press_alone():
    rec, sched, out = make(ONE_PEDAL)
    rec.press(T0 + 1.0)
    rec.flush()
    assert out == []
    sched.advance_to(T0 + 2)
    assert out == [("bad", "long-press", 1.0)]


def test_group_commits_waiting_taps_before_an_action():
    sched = ManualScheduler(T0)
    out = []
    group = GestureGroup(lambda target, gesture, t: out.append((target, gesture, round(t - T0, 3))),
                         scheduler=sched, is_action=lambda target: target == "undo")
    good = group.recognizer("cc64", {"tap": "good", "double-tap": "undo"})
    undo = group.recognizer("cc65", {"tap": "undo"})
    good.press(T0 + 1.0)
    good.release(T0 + 1.05)
    undo.press(T0 + 1.1)          # inside the good pedal's window
    assert out == [("good", "tap", 1.0), ("undo", "tap", 1.1)]
    sched.advance(2)
    assert len(out) == 2


def test_timing_is_validated():
    with pytest.raises(ValueError, match="double_tap_window"):
        GestureTiming(double_tap_window=-1)
    with pytest.raises(ValueError, match="unknown gestures"):
        make({"triple-tap": "x"})


def test_real_timer_thread_commits_a_waiting_tap_from_its_own_thread():
    timer = TimerThread("test-gesture-timer")
    try:
        done = threading.Event()
        out = []

        def on_gesture(target, gesture, t):
            out.append((target, gesture, t, threading.current_thread().name))
            done.set()

        rec = GestureRecognizer({"tap": "good", "double-tap": "undo"}, on_gesture,
                                timing=GestureTiming(double_tap_window=0.05), scheduler=timer)
        t = timer.now()
        rec.press(t)
        rec.release(t + 0.01)
        assert done.wait(2.0)
        assert out == [("good", "tap", t, "test-gesture-timer")]
    finally:
        timer.close()


def test_real_timer_thread_runs_in_time_order_and_honours_cancel():
    timer = TimerThread("test-order")
    try:
        ran, done = [], threading.Event()
        now = timer.now()
        timer.call_at(now + 0.03, lambda: ran.append(3))
        timer.call_at(now + 0.01, lambda: ran.append(1))
        timer.call_at(now + 0.02, lambda: ran.append(2)).cancel()
        timer.call_at(now + 0.02, lambda: 1 / 0)          # a failing callback stops nothing
        timer.call_at(now + 0.04, done.set)
        assert done.wait(2.0)
        assert ran == [1, 3]
    finally:
        timer.close()


def test_recogniser_is_thread_safe_under_concurrent_presses_and_timers():
    timer = TimerThread("test-hammer")
    try:
        lock = threading.Lock()
        out = []

        def on_gesture(target, gesture, t):
            with lock:
                out.append(gesture)

        timing = GestureTiming(debounce=0.0, double_tap_window=0.002, long_press=0.004, grace=0.0)
        group = GestureGroup(on_gesture, timing=timing, scheduler=timer)
        recs = [group.recognizer(i, {"tap": "t", "double-tap": "d", "long-press": "l"}) for i in range(4)]

        def hammer(rec):
            for _ in range(300):
                rec.press()
                rec.release()

        threads = [threading.Thread(target=hammer, args=(r,)) for r in recs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        group.flush()
        counts = group.counts()
        # every press is accounted for exactly once: a tap, half a double-tap, or a long-press
        assert counts["tap"] + 2 * counts["double-tap"] + counts["long-press"] == 1200 - counts["bounce"]
        assert len(out) == counts["tap"] + counts["double-tap"] + counts["long-press"]
    finally:
        timer.close()
