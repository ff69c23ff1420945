"""Helpers for the TUI tests: waiting on the app's state, and a JACK client that listens."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np


async def wait_for(pilot, predicate, what: str, timeout: float = 15.0) -> None:
    """Let the app run until `predicate()` holds; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)


_CHARACTERS = {"space": " ", "full_stop": ".", "comma": ",", "enter": "\r", "question_mark": "?",
               "less_than_sign": "<", "greater_than_sign": ">"}


async def keys(pilot, *names: str) -> None:
    """Deliver key presses as a terminal does, back to back.

    `pilot.press` waits for the app to go idle after each key; with meters redrawn 30
    times a second that takes up to a second per key, which is not how a held key's
    auto-repeat (or a quick player) arrives. The key events are posted as they come."""
    from textual import events

    for name in names:
        if name == " ":
            name = "space"
        char = _CHARACTERS.get(name, name if len(name) == 1 else None)
        pilot.app.post_message(events.Key(name, char))
    await asyncio.sleep(0)


async def shutdown_with_pedal(app, player) -> None:
    """Shut the app down with a JackPlayer pedal in this process (or None): rtmidi closes its
    JACK client holding the GIL, so the player's Python callback sits out meanwhile."""
    if player is not None:
        player.client.deactivate()
    await app.shutdown()
    if player is not None:
        player.client.close()


def palette_first_hit(app) -> str:
    """The command palette's first hit for what was typed ("" while it searches)."""
    try:
        return str(app.screen.query_one("CommandList").get_option_at_index(0).prompt)
    except Exception:
        return ""


def screen_text(screen) -> str:
    """Everything the screen's Static widgets hold, as plain text (Rich tables included)."""
    from rich.console import Console
    from textual.widgets import Static

    console = Console(width=200, record=True, file=open("/dev/null", "w"), color_system=None)
    for s in screen.query(Static):
        console.print(s.content)
    return console.export_text()


def markers_of(ws, take_id: int, include_deleted: bool = True):
    from rehearsal.store import open_db
    from rehearsal.store.markers import list_markers

    db = open_db(ws.db_path)
    try:
        return list_markers(db, take_id, include_deleted=include_deleted)
    finally:
        db.conn.close()


class JackEar:
    """A JACK client whose inputs listen to other clients' outputs (the app's playback)."""

    def __init__(self, name: str = "ear", channels: int = 2):
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.ins = [self.client.inports.register(f"in_{i + 1}") for i in range(channels)]
        self.peak = 0.0
        self.heard = threading.Event()
        self.threshold = 0.01
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        for p in self.ins:
            peak = float(np.abs(p.get_array()).max())
            if peak > self.peak:
                self.peak = peak
        if self.peak > self.threshold:
            self.heard.set()

    def connect_from(self, client_prefix: str) -> list[str]:
        outs = [p for p in self.client.get_ports(is_output=True, is_audio=True) if p.name.startswith(client_prefix)]
        for i, out in enumerate(outs):
            self.client.connect(out, self.ins[i % len(self.ins)])
        return [p.name for p in outs]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


# -- a fixed workspace for snapshots ------------------------------------------------------------
FIXED_NOW = "2024-05-04T19:30:00.000Z"


def build_fixture_workspace(ws) -> dict:
    """Two sessions, three takes, tags from three people on keys, MIDI and OSC; every
    timestamp fixed so screens drawn from it are the same on every run."""
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.store import open_db
    from rehearsal.store.markers import insert_marker, update_marker
    from rehearsal.store.notations import store_notation
    from rehearsal.store.sessions import get_or_create_session
    from rehearsal.store.takes import create_take, finish_take

    notation = load_notation(find_notation("good-bad-pedal"))
    db = open_db(ws.db_path)
    nid = store_notation(db, notation)
    sr = 48_000
    s1 = get_or_create_session(db, "tuesday rehearsal", nid)
    s2 = get_or_create_session(db, "gig warm-up", nid)
    takes = []
    for sid, number, seconds in ((s1, 1, 95.0), (s1, 2, 182.5), (s2, 1, 61.0)):
        tid = create_take(db, session_id=sid, number=number, path=f"audio/s{sid}/take-{number:03d}.w64",
                          format="W64", subtype="FLOAT", sample_rate=sr, channels=2, device="system (JACK)",
                          notation_id=nid, started_at=FIXED_NOW, preroll_frames=10 * sr)
        finish_take(db, tid, frames=int(seconds * sr), overflows=0)
        takes.append(tid)
    tags = [  # (take index, seconds, symbol, who, source)
        (1, 12.0, "good", "ana", "midi:FS-5U"), (1, 13.1, "good", "ben", "key"), (1, 14.0, "good", "cy", "osc:10.0.0.7"),
        (1, 40.2, "bad", "ana", "midi:FS-5U"), (1, 77.7, "good", "ben", "key"), (1, 120.4, "bad", "cy", "osc:10.0.0.7"),
        (1, 150.0, "good", "ana", "midi:FS-5U"), (0, 30.0, "good", "ben", "key"), (2, 20.0, "bad", "ana", "key"),
    ]
    ids = []
    for ti, at, symbol, who, source in tags:
        tap = int(at * sr)
        glyph = notation.symbol(symbol).glyph
        ids.append(insert_marker(db, take_id=takes[ti], symbol=symbol, glyph=glyph, tap_sample=tap,
                                 start_sample=max(0, tap - 8 * sr), end_sample=tap + 2 * sr, who=who, source=source))
    update_marker(db, ids[4], note="the groove finally locks")
    db.execute("UPDATE sessions SET created_at = ?", [FIXED_NOW])
    db.execute("UPDATE takes SET ended_at = ?", [FIXED_NOW])
    db.execute("UPDATE markers SET created_at = ?", [FIXED_NOW])
    db.execute("UPDATE marker_edits SET at = ?", [FIXED_NOW])
    db.conn.close()
    return {"notation": notation, "takes": takes, "markers": ids, "sessions": [s1, s2]}


class FakeRecorder:
    """A recorder that always reads the same: for snapshots only (the pilot tests use real ones)."""

    samplerate, channels, device = 48_000, 2, "system (JACK)"

    def status(self):
        from rehearsal.audio import RecorderStatus

        return RecorderStatus(frames=48_000 * 173, overflows=0, levels=(0.5, 0.125), recording=True,
                              take_frames=int(48_000 * 163.2), lost=0)


class FakeRoom:
    def __init__(self, notation, take: dict, session_name: str, session_id: int):
        self.notation, self.take, self.session_name, self.session_id = notation, take, session_name, session_id
        self.recorder = FakeRecorder()
        self.recovered = []


async def open_play_screen(pilot, app):
    """F6, then wait until the Play screen lists the generations; returns the screen."""
    await keys(pilot, "f6")
    await wait_for(pilot, lambda: app.current_mode == "play" and app.views["play"].generations,
                   "the play screen to list the generations")
    return app.views["play"]


async def open_curation_screen(pilot, app):
    """F4, then wait until the Curation screen lists sessions and pipelines; returns the screen."""
    from rehearsal.tui.screens.curation import CurationScreen

    await keys(pilot, "f4")
    await wait_for(pilot, lambda: app.current_mode == "curation", "the curation screen")
    screen = app.screen
    assert isinstance(screen, CurationScreen)
    await wait_for(pilot, lambda: screen.sessions and screen.pipelines, "the lists")
    return screen


def voice_play_app(workspace, tmp_path, session: str, seconds: float = 3.0):
    """A RehearsalApp whose input is a synthetic voice file (the performer, paced in real
    time), no sound output, no OSC/MIDI, no recording room opened: for the Play tests."""
    import soundfile as sf

    from rehearsal.training import synthetic
    from rehearsal.tui.app import RehearsalApp
    from rehearsal.tui.options import TuiOptions

    voice = tmp_path / "voice.wav"
    sf.write(voice, synthetic.voice(seconds, seed=4), 48000, subtype="FLOAT")
    return RehearsalApp(workspace, TuiOptions(input_file=str(voice), play_output="none", osc_port=None, midi=(),
                                              midi_virtual=False, session=session, open_input=False))
