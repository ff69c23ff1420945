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
        await wait_for(pilot, lambda: "no input open yet" in str(view.query_one("#score-head").render()),
                       "the view's first drawing")
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


async def test_a_pedal_and_osc_move_the_score_view_and_the_take_is_labelled_as_performed(jack_server, workspace,
                                                                                         tmp_path):
    """The TUI recording from a score (an input file, a MIDI pedal over JACK bound to the
    notation's score-hold, OSC /rehearsal/score/advance): the bus's cues move the Score
    view's clock where they were pressed, and the take's score markers are where the events
    were shown, t held 3 s and k cut short, as `rehearsal record --score` labels them."""
    import soundfile as sf

    from rehearsal.training import synthetic
    from tests.support.score_pedal import HOLD, NAME, score_pedal, write_pedal_notation
    from tests.support.tui import keys, markers_of
    from tests.test_tui_pilot import send_osc

    write_pedal_notation(tmp_path)
    path = tmp_path / "s.score"
    path.write_text("title: held\nauthor: ana\nnotation: poetry-pedal.toml\ncount-in: 0.5s\n"
                    "p 1s\nt 3s\nk 20s\nm 2s\n", encoding="utf-8")
    # streamed at 4x from when the input opens: long enough for a loaded machine to get to ctrl+r
    sf.write(str(tmp_path / "in.wav"), synthetic.timbre(48.0, "mid", seed=3), 48000, subtype="FLOAT")
    options = TuiOptions(session="held", score=str(path), input_file=str(tmp_path / "in.wav"), speed=4.0, preroll=0.0,
                         midi=(NAME,), midi_virtual=False, midi_api="jack", osc_port=0)
    with score_pedal() as pedal:
        app = RehearsalApp(workspace, options)
        async with app.run_test(size=(120, 40)) as pilot:
            try:
                await wait_for(pilot, lambda: isinstance(app.screen, ScoreScreen) and app.link.ready
                               and (app.link.midi is not None or app.link.midi_error), "the input and MIDI to open")
                assert app.link.midi is not None, app.link.midi_error
                view = app.screen
                head, now = view.query_one("#score-head"), view.query_one("#score-now")

                def at():                       # where the Score view is in the score
                    t = view.seconds()
                    return view.clock.position(t) if t is not None else None

                pedal.tap(HOLD)                 # before the take: said, nothing moves
                await wait_for(pilot, lambda: any("score-hold (midi:" in str(n.message) and "no take is recording"
                                                  in str(n.message) for n in app._notifications), "the refusal")
                await keys(pilot, "ctrl+r")
                await wait_for(pilot, lambda: at() is not None and at().index == 1, "the score to reach t")
                pedal.tap(HOLD)
                await wait_for(pilot, lambda: "HELD" in str(head.render()), "the pedal to hold the score")
                held_from = view.seconds()
                # the performer stays on t 3 s of the take (0.75 s at 4x): the take's own clock
                await wait_for(pilot, lambda: view.seconds() > held_from + 3.0, "3 s of the take")
                view.redraw()
                assert at().index == 1 and "ALVEOLAR PLOSIVE" in str(now.render())
                pedal.tap(HOLD)
                await wait_for(pilot, lambda: "HELD" not in str(head.render()), "the pedal to let it go")
                await wait_for(pilot, lambda: at().index == 2, "the score to reach k")
                on_k = view.seconds()    # 1 s of k first (an event advanced past at once is not marked)
                await wait_for(pilot, lambda: view.seconds() > on_k + 1.0, "1 s of k")
                send_osc(app.link.osc.port, "/rehearsal/score/advance")
                await wait_for(pilot, lambda: "BILABIAL NASAL" in str(now.render()), "OSC to advance the score to m")
                assert at().index == 3
                await wait_for(pilot, lambda: at().done, "the end of the score")
                take = app.link.room.take
                await keys(pilot, "ctrl+r")
                await wait_for(pilot, lambda: any("markers on take" in str(n.message) or "could not label" in
                                                  str(n.message) for n in app._notifications),
                               "the take to be labelled by its score", timeout=30)
                said = [str(n.message) for n in app._notifications]
                assert any("4 markers on take" in n for n in said), (said, app.score_clock.performed().events)
            finally:
                await app.shutdown()
    shown = {e.symbol: e.start_s for e in app.score_clock.performed().events}
    # t lasts 3 s (0.75 s at 4x: a loaded machine's screen still sees it), k unheld at 4 s; k
    # would last 20 s and OSC cut it short after 1 s (on CI's loaded machine the advance came
    # up to 7.6 s of the take late, 1.9 s at 4x: k is long so that a stall still cuts it short)
    assert shown["plosive-k"] >= 6.5 and shown["nasal-m"] - shown["plosive-k"] < 18.0, shown   # held; cut short
    stored = markers_of(workspace, take["id"])
    assert [m.symbol for m in stored] == ["plosive-p", "plosive-t", "plosive-k", "nasal-m"]
    assert {(m.who, m.source) for m in stored} == {("ana", "score")}
    origin = take["preroll_frames"] + 0.5 * 48000                 # the end of the count-in
    k, m = ((x.start_sample - origin) / 48000 for x in stored[2:])
    # unheld k at 4 s, m at 24 s; the aligner moves each +-1 s at most (steady noise has no onsets)
    assert k > 5.5 and m - k < 18.0, (k, m, stored)
