"""MIDI through a real rtmidi virtual port on the test JACK server, into a real bus and SQLite.

A JackPlayer writes MIDI at known sample positions; its process callback stamps the
monotonic time of the cycle that carries each event, which is when the pedal "was
pressed" as far as any listener on this JACK server can know.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

from rehearsal.markers.midi import (
    MidiError, MidiSource, _PortClock, alsa_sequencer_available, choose_api, list_input_ports, resolve_port,
)
from rehearsal.store.people import map_source
from tests.support.jackplayer import JackPlayer
from tests.support.markerbus import BusHarness

pytestmark = pytest.mark.jack

NOTATION = """
name = "midi test"
[[symbols]]
id = "good"
glyph = "+"
  [[symbols.midi]]
  control = 64
  gesture = "tap"
[[symbols]]
id = "bad"
glyph = "x"
  [[symbols.midi]]
  control = 64
  gesture = "long-press"
[[symbols]]
id = "inv"
glyph = "i"
  [[symbols.midi]]
  control = 80
  press = 0
[[symbols]]
id = "hit"
glyph = "h"
  [[symbols.midi]]
  type = "note"
  note = 60
  channel = 2
[[symbols]]
id = "prog"
glyph = "p"
  [[symbols.midi]]
  type = "program_change"
  program = 5
[[actions]]
id = "undo"
  [[actions.midi]]
  control = 64
  gesture = "double-tap"
"""

SR = 48000


@contextmanager
def player_paused(player: JackPlayer):
    """python-rtmidi holds the GIL while it opens or closes a JACK client, and the JACK
    server waits for every active client's cycle meanwhile: a Python process callback in
    this same process (the JackPlayer's) then cannot get the GIL, and the open stalls for
    JACK's timeout or for good. So the player sits out while ports open and close."""
    player.client.deactivate()
    try:
        yield
    finally:
        player.client.activate()


def open_source(harness, player, **kwargs) -> MidiSource:
    with player_paused(player):
        source = MidiSource(harness.bus, harness.notation, api="jack", **kwargs)
    if kwargs.get("virtual", "rehearsal"):
        player.connect_midi_to("RtMidiIn Client:rehearsal")
    return source


def close_source(source: MidiSource, player: JackPlayer) -> None:
    with player_paused(player):
        source.close()


def cc(control, value, channel=0):
    return bytes([0xB0 | channel, control, value])


def note_on(note, velocity, channel=0):
    return bytes([0x90 | channel, note, velocity])


def program(number, channel=0):
    return bytes([0xC0 | channel, number])


class Played:
    """Plays MIDI events (sample index, bytes) and stamps the monotonic time of each one's cycle."""

    LEAD = SR // 10   # a connection made just before takes effect at a cycle boundary: start later

    def __init__(self, player: JackPlayer, events, seconds: float):
        self.events = sorted((index + self.LEAD, data) for index, data in events)
        self.stamps: dict[int, float] = {}     # by the index given (without the lead)
        self.player = player

        def stamp(pos, frames):
            now = time.monotonic()
            for index, _ in self.events:
                if pos <= index < pos + frames:
                    self.stamps[index - self.LEAD] = now

        player.cycle_callbacks[:] = [stamp]
        player.play(np.zeros((int(seconds * SR) + self.LEAD, player.channels), np.float32), self.events)

    def wait(self, timeout=30.0):
        assert self.player.done.wait(timeout), "the player did not finish"
        return self


@pytest.fixture
def harness(workspace):
    h = BusHarness(workspace, NOTATION)
    yield h
    h.close()


@pytest.fixture
def player(jack_server):
    p = JackPlayer("midi-tester", channels=1, midi=True)
    yield p
    p.close()


@pytest.fixture
def source(harness, player):
    s = open_source(harness, player, virtual="rehearsal")
    yield s
    close_source(s, player)


def test_port_clock_takes_the_earlier_of_read_time_and_chained_deltas():
    clock = _PortClock()
    assert clock.arrivals(10.0, [0.0]) == [10.0]                     # the first: when it was read
    # three read late together: the last at most at the read time, each before by its delta,
    # and none later than the previous estimate plus its delta
    assert clock.arrivals(10.5, [0.1, 0.1, 0.1]) == pytest.approx([10.1, 10.2, 10.3])
    assert clock.arrivals(20.0, [0.05]) == pytest.approx([10.35])     # the poller stalled: deltas know
    assert clock.arrivals(40.0, [15.0]) == [40.0]                    # long gaps are not chained
    fresh = _PortClock()
    assert fresh.arrivals(5.0, [0.0, 0.2, 0.3]) == pytest.approx([4.5, 4.7, 5.0])


def test_auto_api_takes_jack_without_an_alsa_sequencer():
    assert choose_api("auto") == ("alsa" if alsa_sequencer_available() else "jack")
    with pytest.raises(MidiError, match="unknown MIDI API"):
        choose_api("coremidi")


@pytest.mark.skipif(alsa_sequencer_available(), reason="this machine has an ALSA sequencer")
def test_alsa_without_a_sequencer_is_a_clear_error(harness):
    with pytest.raises(MidiError, match="ALSA sequencer"):
        MidiSource(harness.bus, harness.notation, api="alsa")


def test_pedal_taps_land_at_their_press_even_when_committed_after_the_window(harness, player, source):
    # CC64 carries tap, double-tap and long-press: a tap is committed ~350 ms late
    events = [(4800, cc(64, 127)), (4800 + 2400, cc(64, 0)),
              (4800 + SR, cc(64, 127)), (4800 + SR + 2400, cc(64, 0))]
    played = Played(player, events, 2.0)
    assert harness.wait_committed(2)
    played.wait()
    markers = harness.markers()
    assert [m.symbol for m in markers] == ["good", "good"]
    assert all(m.source == "midi:rehearsal" and m.gesture == "tap" for m in markers)
    for m, index in zip(markers, (4800, 4800 + SR)):
        # against the monotonic time of the JACK cycle that carried the press (not against
        # the sample count: a loaded machine runs the dummy driver's cycles late)
        expected = harness.clock.frame_at(played.stamps[index])
        assert abs(m.tap_sample - expected) <= 256, (m.tap_sample, expected)


def test_long_press_and_double_tap_undo_on_one_pedal(harness, player, source):
    events = [
        (2400, cc(64, 127)), (2400 + SR, cc(64, 0)),                        # held 1 s: bad
        (int(1.5 * SR), cc(64, 127)), (int(1.55 * SR), cc(64, 0)),          # tap: good
        (int(2.5 * SR), cc(64, 127)), (int(2.55 * SR), cc(64, 0)),          # double-tap: undo
        (int(2.62 * SR), cc(64, 127)), (int(2.67 * SR), cc(64, 0)),         # (0.12 s: well inside 0.35)
    ]
    Played(player, events, 3.0)
    assert harness.wait_for(lambda ms: len(harness.undone) == 1)
    assert [m.symbol for m in harness.markers()] == ["bad"]            # good was undone
    assert [m.symbol for m in harness.markers(include_deleted=True)] == ["bad", "good"]
    assert harness.undone[0].marker.symbol == "good"
    assert source.stats()["gestures"]["long-press"] == 1


def test_inverted_pedal_note_off_as_velocity_zero_and_program_change(harness, player, source):
    map_source(harness.db, "midi:rehearsal/ch2", "drummer")
    harness.db.conn.commit()
    harness.bus.begin_take(harness.take_id, 0, SR)     # the bus reads the people map when a take begins
    events = [
        (1000, cc(80, 127)),                    # an inverted pedal at rest: no tag
        (3000, cc(80, 0)), (6000, cc(80, 127)),  # pressed (0), released (127): one tag
        (9000, cc(80, 127)),                    # repeated rest value: nothing
        (12000, note_on(60, 100, channel=1)), (15000, note_on(60, 0, channel=1)),  # vel 0 = note-off
        (30000, note_on(60, 90, channel=1)), (33000, bytes([0x81, 60, 0])),
        (36000, note_on(60, 90, channel=0)),    # channel 1: not bound (the binding says channel 2)
        (40000, program(5)), (41000, program(6)),
    ]
    Played(player, events, 1.0).wait()
    assert harness.wait_committed(4)
    harness.bus.flush()
    markers = harness.markers()
    assert [m.symbol for m in markers] == ["inv", "hit", "hit", "prog"]
    hits = [m for m in markers if m.symbol == "hit"]
    assert all(m.who == "drummer" for m in hits)       # per-channel person mapping
    assert markers[0].who == "midi:rehearsal"
    counts = source.stats()["counts"]
    assert counts["unbound"] == 2                       # the note on channel 1, program 6


def test_sysex_clock_and_garbage_are_ignored_and_counted(harness, player, source):
    events = [
        (100, bytes([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7])),   # sysex
        (200, bytes([0xF8])), (300, bytes([0xF8])),           # clock
        (400, bytes([0xFE])),                                 # active sensing
        (500, bytes([0xFA])),                                 # start
        (600, bytes([0x40, 0x40])),                           # data bytes without a status
        (700, bytes([0xB0, 64])),                             # truncated control change
        (800, bytes([0xE0, 0, 64])),                          # pitch bend: valid, not a pedal
        (900, bytes([0xF4])),                                 # undefined status
        (2000, program(5)),                                   # sentinel
    ]
    Played(player, events, 0.5).wait()
    assert harness.wait_committed(1)
    stats = source.stats()
    counts = stats["counts"]
    assert counts["sysex"] == 1 and counts["clock"] == 2 and counts["active sensing"] == 1
    assert counts["transport"] == 1 and counts["garbage"] == 3 and counts["unbound"] == 1
    assert stats["messages"] == 10
    assert "program_change" in stats["last"]["message"] and stats["ports"] == ["rehearsal"]
    assert [m.symbol for m in harness.markers()] == ["prog"]


def test_named_port_and_unknown_port(harness, jack_server):
    # The pedal here is an rtmidi output port: its JACK process callback is C++, so it needs
    # no GIL and opening our input while it runs cannot stall (see player_paused).
    import rtmidi

    pedal = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="footswitch")
    pedal.open_virtual_port("pedal out")
    try:
        available = list_input_ports("jack")
        assert "footswitch:pedal out" in available
        with pytest.raises(MidiError, match="footswitch:pedal out"):     # the error lists what exists
            MidiSource(harness.bus, harness.notation, api="jack", ports=["no such pedal"], virtual=None)
        assert resolve_port("FOOTSWITCH:PEDAL OUT", available) == "footswitch:pedal out"
        source = MidiSource(harness.bus, harness.notation, api="jack", ports=["footswitch"], virtual=None)
        try:
            assert source.stats()["ports"] == ["footswitch:pedal out"]
            assert source.stats()["unguarded"] == []          # the sysex guard found our input port
            # a new JACK connection takes effect at a cycle boundary the pedal's client may
            # not have reached yet: press again until one lands (each press is a tag)
            for _ in range(50):
                pedal.send_message(list(program(5)))
                if harness.wait_committed(1, timeout=0.2):
                    break
            assert harness.wait_committed(1)
            harness.bus.flush()
            assert {m.source for m in harness.markers()} == {"midi:footswitch:pedal out"}
        finally:
            source.close()
    finally:
        pedal.delete()


def test_close_really_closes_the_port(harness, player):
    source = open_source(harness, player, virtual="rehearsal")
    names = lambda: [p.name for p in player.client.get_ports(is_midi=True, is_input=True)]  # noqa: E731
    assert "RtMidiIn Client:rehearsal" in names()
    close_source(source, player)
    assert "RtMidiIn Client:rehearsal" not in names()
    source.close()    # twice is fine


def test_close_commits_a_tap_still_in_its_window(harness, player, source):
    released = threading.Event()
    handle = source.inputs.handler

    def spy(port, msg, raw, t):
        handle(port, msg, raw, t)
        if msg is not None and msg.type == "control_change" and msg.value == 0:
            released.set()

    source.inputs.handler = spy
    Played(player, [(100, cc(64, 127)), (1000, cc(64, 0))], 0.1).wait()
    assert released.wait(5)
    assert source.stats()["gestures"]["tap"] == 0     # still inside its 350 ms double-tap window
    with player_paused(player):
        source.close()         # the tap must not be lost with the port
    assert harness.wait_committed(1)
    assert [m.symbol for m in harness.markers()] == ["good"]


# -- the sysex guard (issue 12, finding 3) --------------------------------------------------
def taps(first: int, n: int, every: int, period: int = 1):
    """n note-on/off pedal taps (note 60 on channel 2: "hit", a tap alone, so never waiting for
    a double-tap window), each press at the start of a cycle when period is the cycle length."""
    out = []
    for i in range(n):
        at = first + i * every
        at -= at % period
        out += [(at + 1, note_on(60, 100, channel=1)), (at + 1201, note_on(60, 0, channel=1))]
    return out


def test_an_unterminated_sysex_does_not_swallow_the_taps_after_it(harness, player, source):
    # F0 7D 01 and no F7: rtmidi's parser appends every later event to it ("continuing
    # sysex") and queues nothing until an event ends in F7. The first tap is in the same
    # cycle as the sysex (it comes back inside it), the others after.
    events = [(0, bytes([0xF0, 0x7D, 0x01]))] + taps(0, 20, SR // 20)
    Played(player, events, 1.2).wait(30)
    assert harness.wait_committed(20)
    harness.bus.flush()
    assert [m.symbol for m in harness.markers()] == ["hit"] * 20
    stats = source.stats()
    assert stats["counts"]["unterminated sysex"] == 1 and stats["counts"]["recovered"] == 1   # the press (the release is a cycle later)
    assert stats["unguarded"] == [] and stats["counts"]["used"] == 40
    assert source.summary() == ("MIDI: 1 unterminated sysex swallowed later messages; 1 of them recovered "
                                "from inside it (the sysex bytes were dropped)")


def test_a_30_kb_sysex_in_every_cycle_loses_no_tap(harness, player, source):
    # a 30 KB sysex in every cycle, split as senders of long sysex do (a2jmidid and others):
    # its first part without F7 at the start of the cycle, the rest at its end, and the
    # taps between them
    period = player.client.blocksize
    seconds = 50 * 0.06 + 0.2
    body = [i % 128 for i in range(30_000)]
    events = []
    for start in range(0, int(seconds * SR), period):
        events.append((start, bytes([0xF0, 0x7D] + body[:15_000])))
        events.append((start + period - 1, bytes(body[15_000:] + [0xF7])))
    events += taps(2400, 50, int(0.06 * SR), period)
    Played(player, events, seconds).wait(60)
    assert harness.wait_committed(50, timeout=30)
    harness.bus.flush()
    assert [m.symbol for m in harness.markers()] == ["hit"] * 50
    assert source.stats()["counts"]["recovered"] >= 50
