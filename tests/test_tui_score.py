"""Issue 19: the Score view (pilot): count-in, the current symbol large, the next ones, the
cursor, a pedal's pagedown advancing and pageup holding the score, escape back to Record."""

from __future__ import annotations

from pathlib import Path

from rehearsal.notation.score import parse_score
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from rehearsal.tui.screens.score import ScoreScreen, cursor_line
from tests.support.tui import wait_for

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "breath-piece.score"


class Clock:
    """Seconds since record was pressed, set by the test."""

    def __init__(self, t=None):
        self.t = t

    def __call__(self):
        return self.t


def _app(workspace, score):
    return RehearsalApp(workspace, TuiOptions(open_input=False, session="s"), score=score)


async def test_the_score_view_counts_in_shows_the_symbol_and_follows_a_pedal(workspace):
    score = parse_score(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    app = _app(workspace, score)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ScoreScreen) and app.screen.query("#score-now"),
                       "the score view over Record")
        view = app.screen
        now = view.query_one("#score-now")
        digits = view.query_one("#score-digits")
        assert "no input open yet" in str(view.query_one("#score-head").render())
        view.seconds = clock = Clock(1.2)                   # recording: 1.2 s into a 4 s count-in
        view.redraw()
        assert "count-in" in str(now.render()) and digits.value == "3"
        clock.t = 4.0 + 1.0                                 # 1 s into the first event (ʰ, 3 s, pp)
        view.redraw()
        text = str(now.render())
        assert "ʰ" in text and "BREATH / WHISPER" in text and "pp" in text and "close to the microphone" in text
        assert digits.value == "2.0" and "ʃ" in str(view.query_one("#score-next").render())
        await pilot.press("pagedown")                       # the pedal: on to the next event now
        assert "ʃ" in str(now.render()) and view.clock.position(5.0).index == 1
        await pilot.press("pageup")                         # hold: the cursor stops
        clock.t = 30.0
        view.redraw()
        assert view.clock.position(30.0).index == 1 and "HELD" in str(view.query_one("#score-head").render())
        await pilot.press("pageup")                         # and goes on from there
        clock.t = 33.5
        view.redraw()
        assert view.clock.position(33.5).index == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ScoreScreen), "back to Record")
        assert app.current_mode == "record"


def test_the_cursor_line_spans_the_score_and_marks_now():
    score = parse_score("notation: sound-poetry\np 2s\nrest 2s\nt 4s\n")
    line = cursor_line(score, 5.0, 16).plain.split("\n")
    assert line[0] == "p───    t───────" and line[1].index("▲") == 10
