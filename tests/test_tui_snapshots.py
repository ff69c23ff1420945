"""Snapshots of the main screens, drawn from a fixed workspace with a frozen clock.

The reference SVGs live in tests/__snapshots__/ and are committed; CI (scripts/test)
compares against them and never updates them. After an intended change to a screen,
regenerate them by hand and review the diff:

    .venv/bin/python -m pytest tests/test_tui_snapshots.py --snapshot-update

The Record screen shows a take being recorded from a fake recorder that always reads the
same (levels, frames): meters from a live input would never draw the same twice. Every
other part (store, screens, widgets) is real.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from rehearsal.markers import Committed
from rehearsal.store import open_db
from rehearsal.store.markers import list_markers
from rehearsal.store.takes import get_take
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.messages import InputInfo, TakeStarted
from rehearsal.tui.options import TuiOptions
from tests.support.tui import FakeRoom, build_fixture_workspace, wait_for

SIZE = (120, 40)
FROZEN = datetime(2024, 5, 4, 21, 30)


@pytest.fixture
def fixture_ws(workspace):
    return workspace, build_fixture_workspace(workspace)


def make_app(ws) -> RehearsalApp:
    return RehearsalApp(ws, TuiOptions(open_input=False, session="tuesday rehearsal"), clock=lambda: FROZEN)


def test_record_screen(snap_compare, fixture_ws):
    ws, fx = fixture_ws
    app = make_app(ws)
    db = open_db(ws.db_path)
    take = get_take(db, fx["takes"][1])
    markers = list_markers(db, take["id"])
    db.conn.close()
    app.link.room = FakeRoom(fx["notation"], take, "tuesday rehearsal", fx["sessions"][0])
    app.link.info = InputInfo(device="system (JACK)", samplerate=48_000, channels=2, demo=False, preroll_s=10.0)

    async def run_before(pilot):
        record = app.views["record"]
        app.post_message(TakeStarted(take))
        await wait_for(pilot, lambda: record.shown_take == take["id"], "the take")
        for m in markers:
            app.link._on_event(Committed(m))
        await wait_for(pilot, lambda: record.ticks > 3 and len(record.query_one("TagLog").ids) == len(markers),
                       "meters and tags")
        record.workers.cancel_group(record, "meters")   # the screen holds still for its picture
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_review_screen(snap_compare, fixture_ws):
    ws, fx = fixture_ws
    app = make_app(ws)

    async def run_before(pilot):
        await pilot.press("f2")
        review = app.views["review"]
        await wait_for(pilot, lambda: review.is_mounted and len(review.shown) == 7, "the moments of take 2")
        await wait_for(pilot, lambda: review.seen is not None or review.seen_note, "what curation says")
        await pilot.press("s")                        # sort by agreement
        await wait_for(pilot, lambda: review.sort == "agreement", "the sort")
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_sessions_screen(snap_compare, fixture_ws):
    ws, fx = fixture_ws
    app = make_app(ws)

    async def run_before(pilot):
        await pilot.press("f3")
        sessions = app.views["sessions"]
        await wait_for(pilot, lambda: sessions.is_mounted and len(sessions.sessions) == 2, "the sessions")
        await pilot.press("up")
        await wait_for(pilot, lambda: sessions.session_id == fx["sessions"][0], "the first session")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, fixture_ws):
    ws, _ = fixture_ws
    app = make_app(ws)

    async def run_before(pilot):
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_notation_screen(snap_compare, fixture_ws):
    ws, _ = fixture_ws
    app = make_app(ws)

    async def run_before(pilot):
        await pilot.press("f7")
        notation = app.views["notation"]
        await wait_for(pilot, lambda: notation.is_mounted and notation.listed, "the notations")
        await pilot.press("enter")                    # good-bad-pedal
        await wait_for(pilot, lambda: notation.doc is not None, "the notation open")
        await pilot.press("down")                     # its first symbol: fields, preview, bindings
        await wait_for(pilot, lambda: notation.item == ("symbols", 0), "the first symbol")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_score_screen(snap_compare, fixture_ws):
    """The Score view over Record, 2.3 s into the example score's first event (after its count-in)."""
    from pathlib import Path

    from rehearsal.notation.score import parse_score
    from rehearsal.tui.screens.score import ScoreScreen

    ws, _ = fixture_ws
    example = Path(__file__).parent.parent / "docs" / "examples" / "breath-piece.score"
    score = parse_score(example.read_text(encoding="utf-8"), "breath-piece.score")
    app = RehearsalApp(ws, TuiOptions(open_input=False, session="tuesday rehearsal"), clock=lambda: FROZEN, score=score)

    async def run_before(pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, ScoreScreen) and app.screen.query("#score-now"),
                       "the score view")
        app.screen.seconds = lambda: 6.3
        app.screen.redraw()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
