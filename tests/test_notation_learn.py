"""`rehearsal notation learn`: the real command in a subprocess, a JACK player as the pedal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from rehearsal.markers.learn import Heard, snippet
from rehearsal.notation import parse_notation

HEADER = 'name = "learned"\n[[symbols]]\nid = "mark"\nglyph = "m"\n'


def binding_of(text: str):
    """The snippet pasted under a symbol must make a valid notation; returns its MIDI binding."""
    n = parse_notation(HEADER + text, "<learned>")
    return n.symbols[0]


class Learn:
    """`rehearsal notation learn` running; stderr is read line by line on a thread."""

    def __init__(self, *args: str, home):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal", "--home", str(home), "notation", "learn", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.out: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True)]
        for r in self._readers:
            r.start()

    def _read(self):
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match:
        rx = re.compile(pattern)
        with self._cond:
            found = self._cond.wait_for(lambda: next(filter(None, map(rx.search, self.lines)), None), timeout)
        assert found, f"no line matching {pattern!r} in:\n{''.join(self.lines)}"
        return found

    def finish(self, timeout: float = 20.0) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        for r in self._readers:
            r.join(5)
        return self.proc.returncode, "".join(self.out), "".join(self.lines)


def test_snippets_parse_for_every_kind_of_pedal():
    cases = [
        (Heard("midi", "p", "control_change", 64, 0, 127, 0, True), ("control_change", 64, 0, "normal", 64)),
        (Heard("midi", "p", "control_change", 80, 3, 0, 127, True), ("control_change", 80, 3, "inverted", 64)),
        (Heard("midi", "p", "control_change", 81, 0, 100, 20, True), ("control_change", 81, 0, "normal", 60)),
        (Heard("midi", "p", "control_change", 82, 0, 40, 90, True), ("control_change", 82, 0, "inverted", 65)),
        (Heard("midi", "p", "control_change", 83, 0, 0, None, False), ("control_change", 83, 0, "inverted", 64)),
        (Heard("midi", "p", "note", 60, 9, 100, 0, True), ("note", 60, 9, "normal", 64)),
        (Heard("midi", "p", "program_change", 5, 0, None, None, True), ("program_change", 5, 0, "normal", 64)),
    ]
    for heard, expected in cases:
        [b] = binding_of(snippet(heard)).midi
        assert (b.type, b.number, b.channel, b.polarity, b.threshold) == expected, snippet(heard)
    long_press = snippet(Heard("midi", "p", "control_change", 64, 0, 127, 0, True), gesture="long-press")
    assert binding_of(long_press).midi[0].gesture == "long-press"
    osc = snippet(Heard("osc", "127.0.0.1", address='/page1/"odd"'))
    assert binding_of(osc).osc == ('/page1/"odd"',)


@pytest.mark.jack
def test_learn_hears_an_inverted_pedal_over_jack(jack_server, tmp_path):
    from tests.support.jackplayer import JackPlayer

    learn = Learn("--midi-api", "jack", "--timeout", "30", home=tmp_path / "ws")
    learn.wait_line("press your pedal now")
    player = JackPlayer("learn-pedal", channels=1, midi=True)
    try:
        player.connect_midi_to("RtMidiIn Client:rehearsal")
        sr = player.samplerate
        # an inverted footswitch on CC 82, channel 3: 0 when pressed, 127 when let go
        player.play(np.zeros((sr // 2, 1), np.float32),
                    [(256, bytes([0xF8])), (512, bytes([0xB2, 82, 0])), (sr // 4, bytes([0xB2, 82, 127]))])
        rc, out, err = learn.finish()
    finally:
        player.close()
    assert rc == 0, err
    assert "control change 82 on channel 3, 0 on press, 127 on release" in out
    [b] = binding_of(out).midi
    assert (b.type, b.number, b.channel, b.polarity, b.threshold, b.gesture) == \
        ("control_change", 82, 2, "inverted", 64, "tap")


@pytest.mark.jack
def test_learn_hears_an_osc_button(jack_server, tmp_path):
    learn = Learn("--no-midi", "--osc-port", "0", "--timeout", "30", home=tmp_path / "ws")
    port = int(learn.wait_line(r"OSC: listening on 127\.0\.0\.1:(\d+)").group(1))
    learn.wait_line("press your pedal now")
    client = SimpleUDPClient("127.0.0.1", port)
    client.send_message("/rehearsal/tag", "good")     # built-in: not something to bind
    client.send_message("/page2/push7", 1.0)
    client.send_message("/page2/push7", 0.0)
    rc, out, err = learn.finish()
    assert rc == 0, err
    assert binding_of(out).osc == ("/page2/push7",)


@pytest.mark.jack
def test_learn_says_so_when_nothing_arrives(jack_server, tmp_path):
    learn = Learn("--midi-api", "jack", "--timeout", "0.5", home=tmp_path / "ws")
    rc, out, err = learn.finish()
    assert rc == 1
    assert out == ""
    assert "nothing heard in 0.5 s" in err
