"""Pilot tests of the Curation (F4) and Models (F5) screens on real parts: a real SQLite
workspace with rendered takes and markers, the curation library's real steps, and real
training worker processes (tiny budgets, one thread)."""

from __future__ import annotations

import json

import pytest

from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from rehearsal.tui.screens.models import ModelsScreen, sparkline_plot
from tests.support.curation_fixtures import CurationWorld
from tests.support.training import TINY, pluck_dataset
from rehearsal.tui.moments import clock
from tests.support.tui import keys, open_curation_screen, screen_text, wait_for

SIZE = (200, 60)

PIPELINE = """
[[steps]]
use = "select-symbols"
keep = ["good"]

[[steps]]
use = "loudness-gate"
min_db = -40
enabled = false
"""


def options() -> TuiOptions:
    return TuiOptions(open_input=False, osc_port=None, midi=(), midi_virtual=False, session="monday", ascii=True)


def row_of(table, key: str) -> int:
    return table.get_row_index(key)


async def answer_prompt(pilot, app, value: str, what: str) -> None:
    """Wait for a TextPrompt over the screen, type `value` into it, press enter."""
    await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt" and app.screen.query("Input"), what)
    app.screen.query_one("Input").value = value
    await keys(pilot, "enter")


def table_text(screen, selector: str) -> str:
    table = screen.query_one(selector)
    return "\n".join(" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


async def test_curation_screen_previews_steps_plays_a_removal_and_commits(jack_server, workspace, db):
    world = CurationWorld.create(workspace, db)
    tid = world.add_take()
    world.tag_part(tid, "good", "a3")
    world.tag_part(tid, "good", "a4")
    world.tag_part(tid, "good", "quiet2")       # silent: the loudness gate removes it
    world.tag_part(tid, "bad", "noise")         # not selected
    (workspace.home / "pipelines").mkdir(exist_ok=True)
    (workspace.home / "pipelines" / "gate.toml").write_text(f'name = "gate"\n{PIPELINE}', encoding="utf-8")

    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await open_curation_screen(pilot, app)
            assert any(label == "good-takes" for label, _ in screen.pipelines)   # shipped ones too

            sessions = screen.query_one("#cur-sessions")
            sessions.focus()
            sessions.move_cursor(row=row_of(sessions, "monday"))
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.chosen_sessions == ["monday"], "the session to be chosen")

            pipelines = screen.query_one("#cur-pipelines")
            pipelines.focus()
            pipelines.move_cursor(row=row_of(pipelines, str(workspace.home / "pipelines" / "gate.toml")))
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.pipeline is not None, "the pipeline")
            shown = table_text(screen, "#cur-params")
            assert "min_db | -40" in shown                          # its parameters are shown,
            assert "max_db | (none)" in shown and "drop | []" in shown   # and the defaults it does not set

            # switch the gate on in the TUI: an edit of the pipeline's text, checked like a file
            params = screen.query_one("#cur-params")
            params.focus()
            params.move_cursor(row=row_of(params, "2:enabled"))
            await keys(pilot, "enter")
            await answer_prompt(pilot, app, "true", "the parameter prompt")
            await wait_for(pilot, lambda: screen.pipeline.steps[1].enabled, "the gate to be on")
            assert "(edited)" in screen.pipeline.source
            await keys(pilot, "w")                                  # save the edited pipeline
            await answer_prompt(pilot, app, "gate-on", "the save prompt")
            await wait_for(pilot, lambda: screen.saved_pipelines, "the pipeline to be saved")
            saved = workspace.home / "pipelines" / "gate-on.toml"
            assert screen.saved_pipelines == [saved] and "enabled = true" in saved.read_text()
            await wait_for(pilot, lambda: any(p == saved for _, p in screen.pipelines), "it in the list")

            await keys(pilot, "s")                                  # one step: select-symbols
            await wait_for(pilot, lambda: len(screen.reports) == 1, "the first step")
            first = screen.reports[0]
            assert (first.name, first.clips_in, first.clips_out) == ("select-symbols", 4, 3)
            assert not screen.done

            await keys(pilot, "s")                                  # the gate
            await wait_for(pilot, lambda: len(screen.reports) == 2, "the second step")
            gate = screen.reports[1]
            assert (gate.clips_in, gate.clips_out) == (3, 2) and screen.done
            assert gate.seconds_out == pytest.approx(3.6, abs=0.01)
            (removed,) = screen.shown_removals
            assert removed.clip.start_s == pytest.approx(6.1, abs=1e-3) and "dB" in removed.reason
            steps = table_text(screen, "#cur-steps")
            assert "loudness-gate" in steps and "3 → 2" in steps and "4 → 3" in steps
            assert "6.10" in table_text(screen, "#cur-removals")

            # nothing written before the commit
            assert not list(db.query("SELECT * FROM dataset_versions"))

            removals = screen.query_one("#cur-removals")
            removals.focus()
            await keys(pilot, "enter")                              # plays what was cut (JACK output)
            await wait_for(pilot, lambda: screen.auditioned or screen.audition_problem, "the removal to play",
                           timeout=20)
            assert screen.auditioned and screen.auditioned[0][1] == round(1.8 * 48000), screen.audition_problem

            await keys(pilot, "c")
            await answer_prompt(pilot, app, "gated", "the name prompt")
            await wait_for(pilot, lambda: screen.committed, "the commit")
            await wait_for(pilot, lambda: screen.version_ref == "gated@1", "the version's coverage")
            rows = list(db.query("SELECT v.number, v.clip_count FROM dataset_versions v "
                                 "JOIN datasets d ON d.id = v.dataset_id WHERE d.name = 'gated'"))
            assert rows == [{"number": 1, "clip_count": 2}]
            from rehearsal.curation import version_info
            assert "enabled = true" in version_info(db, "gated@1").pipeline_toml   # the edited text is kept
            await wait_for(pilot, lambda: "gated@1" in table_text(screen, "#cur-versions"), "the version in the list")
            assert "2 clips" in screen_text(screen)                 # the coverage summary

            # the clip map: move to the other clip and listen to it
            assert len(screen.points) == 2 and screen.point == 0 and "@ 1/2" in screen_text(screen)
            await keys(pilot, "right_square_bracket")
            await wait_for(pilot, lambda: screen.point == 1, "the next clip on the map")
            p = screen.points[1]
            await keys(pilot, "l")
            await wait_for(pilot, lambda: len(screen.auditioned) == 2 or screen.audition_problem, "the map's clip")
            assert screen.auditioned[1][1] == p["end_sample"] - p["start_sample"], screen.audition_problem
        finally:
            await app.shutdown()


@pytest.fixture
def two_generations(workspace):
    """g1 (convergent, from scratch) and g2 (from g1), trained for real on a tiny dataset."""
    from rehearsal import training as T
    from rehearsal.store import open_db

    ds = pluck_dataset(workspace.home / "datasets" / "plucks", n=3, seconds=1.0)
    db = open_db(workspace.db_path)
    try:
        ids = []
        for parent in (None, "g1"):
            req = T.make_request(db, T.resolve_dataset(workspace, db, str(ds)), "convergent", max_steps=4,
                                 seed=1, parent_ref=parent, scratch=parent is None,
                                 params={**TINY, "eval_every_steps": "2", "patience": "0"})
            (gid,) = T.plan_generations(workspace, db, req)
            run = T.start_run(workspace, gid, threads=1, set_current="")
            assert run.wait(120) == 0, (run.folder / "worker.log").read_text()[-2000:]
            ids.append(gid)
        T.set_current(db, "g1")
    finally:
        db.conn.close()
    return ids, ds


def jam_with(workspace, gen_id: int) -> None:
    """A play of `gen_id` accompanying at follow 0.8, turned to 0.2 live at 4 s (a `follow`
    event), with jam reactions tapped under both: the rows a play room leaves."""
    from rehearsal.notation import find_notation, load_notation
    from rehearsal.store import open_db, plays
    from rehearsal.store.markers import insert_marker
    from rehearsal.store.notations import store_notation
    from rehearsal.store.sessions import get_or_create_session
    from rehearsal.store.takes import create_take, finish_take

    db = open_db(workspace.db_path)
    try:
        nid = store_notation(db, load_notation(find_notation("jam-reactions")))
        sid = get_or_create_session(db, "jam", nid)
        takes = []
        for number, name in ((1, "performer"), (2, "model")):
            t = create_take(db, session_id=sid, number=number, path=f"sessions/jam/take-{number:03d}-{name}.w64",
                            format="W64", subtype="FLOAT", sample_rate=48000, channels=1, device="test",
                            notation_id=nid)
            finish_take(db, t, frames=10 * 48000, overflows=0)
            takes.append(t)
        play = plays.create_play(db, session_id=sid, input_take_id=takes[0], output_take_id=takes[1],
                                 latency_samples=256, block_samples=256, fade_ms=50, fade_curve="equal-power",
                                 dry_wet=1, input_gain=1, device="test", engine_pid=None,
                                 coperform={"mode": "accompany", "follow": 0.8, "pause_s": 1.0, "answer_s": 4.0})
        plays.add_model(db, play, gen_id, 0, reason="start", fade_frames=0)
        plays.add_event(db, play, "follow", frame=4 * 48000, detail="0.2")
        for symbol, s in (("followed", 1), ("too-reactive", 2), ("followed", 5), ("followed", 6), ("laugh", 7)):
            insert_marker(db, take_id=takes[0], symbol=symbol, glyph="*", tap_sample=s * 48000,
                          start_sample=s * 48000 - 24000, end_sample=s * 48000, who="ana", source="osc:127.0.0.1")
    finally:
        db.conn.close()


async def test_review_shows_disagreements_and_curation_s_regions_and_w_withdraws_a_person(workspace, db):
    """Review (F2): `≠` and the agreement step's reason where two people's tags conflict (`x`
    goes there); the region good-takes will use beside each moment, `e` trims that region,
    and the trimmed region is what curation keeps (never recomputed). Then `W` on Curation."""
    from rehearsal.curation.review import review
    from tests.support.tui import markers_of

    world = CurationWorld.create(workspace, db)
    tid = world.add_take()
    app_options = options()
    app_options.who = "ana"                                     # the person at the keyboard
    ana = world.tag(tid, "good", 4.1, 5.9, who="ana", tap_s=6.3)
    bo = world.tag(tid, "bad", 4.3, 5.9, who="bo", tap_s=6.5)      # the same phrase: bo says bad
    alone = world.tag(tid, "good", 8.1, 9.9, who="ana", tap_s=10.4)
    want = review(workspace, db, "monday")
    assert set(want.disputes) == {ana, bo} and want.regions[alone] != (round(8.1 * 48000), round(9.9 * 48000))
    app = RehearsalApp(workspace, app_options)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await keys(pilot, "f2")
            screen = app.views["review"]
            await wait_for(pilot, lambda: len(screen.shown) == 3 and screen.seen is not None, "curation's view")
            assert screen.seen.regions == want.regions and screen.seen_note == ""
            agree = {int(screen.query_one("#moments").coordinate_to_cell_key((i, 0)).row_key.value):
                     str(screen.query_one("#moments").get_row_at(i)[6]) for i in range(3)}
            assert agree[ana].endswith("≠") and agree[bo].endswith("≠") and not agree[alone].endswith("≠")
            screen.query_one("#moments").move_cursor(row=[m.id for m in screen.shown].index(alone))
            await wait_for(pilot, lambda: screen.selected == alone, "the lone moment")
            start, end = (x / 48000 for x in want.regions[alone])
            assert f"uses {clock(start)}–{clock(end)}" in screen_text(screen)
            await keys(pilot, "x")
            await wait_for(pilot, lambda: screen.selected in (ana, bo), "the next disagreement")
            assert "people disagree: bo agreed on bad" in screen_text(screen) and "ana said good" in screen_text(screen)
            screen.query_one("#moments").move_cursor(row=[m.id for m in screen.shown].index(alone))
            await wait_for(pilot, lambda: screen.selected == alone, "the lone moment again")
            await keys(pilot, "e")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RegionPrompt", "the trim prompt")
            assert (app.screen.start_s, app.screen.end_s) == (start, end)      # it trims what curation uses
            app.screen.query_one("#start").value = "8.50"
            app.screen.query_one("#end").value = "9.50"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.seen and alone in screen.seen.corrected, "the trim, seen by curation")
            assert screen.seen.regions[alone] == (8.5 * 48000, 9.5 * 48000)
            assert [(m.start_sample, m.end_sample) for m in markers_of(workspace, tid) if m.id == alone] == \
                [(408_000, 456_000)]
            assert "keeps this region: trimmed by hand" in screen_text(screen)

            # `W` on the Curation screen (the same app, to spare a start): pick a person; recorded
            # with who is at the keyboard and when; picked again, the withdrawal is undone
            curation = await open_curation_screen(pilot, app)
            for undo in (False, True):
                await keys(pilot, "W")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen"
                               and app.screen.query("OptionList"), "the person picker")
                assert [v for v, _ in app.screen.options] == ["ana", "bo"]
                assert ("comes back" in app.screen.options[1][1]) is undo
                app.screen.query_one("OptionList").highlighted = 1
                await keys(pilot, "enter")
                want = "bo: withdrawal undone" if undo else "bo withdrew: their tags, takes and input channels"
                await wait_for(pilot, lambda: curation.withdrawal_text.startswith(want), want)
            assert want in screen_text(curation)
            rows = db.execute("SELECT person, withdrawn_by, withdrawn_at, undone_by, undone_at "
                              "FROM person_withdrawals").fetchall()
            assert len(rows) == 1 and rows[0][:2] == ("bo", "ana") and rows[0][3] == "ana" and rows[0][2] and rows[0][4]
        finally:
            await app.shutdown()


async def test_models_screen_lineage_current_note_and_loss_curve(jack_server, workspace, two_generations):
    from rehearsal import training as T
    from rehearsal.store import open_db

    (g1, g2), ds = two_generations
    jam_with(workspace, g2)
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            await keys(pilot, "f5")
            await wait_for(pilot, lambda: app.current_mode == "models", "the models screen")
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            await wait_for(pilot, lambda: len(screen.rows) == 2, "the lineage")
            assert [(depth, g["name"]) for depth, g in screen.rows] == [(0, "g1"), (1, "g2")]
            assert screen.current == g1
            text = table_text(screen, "#mod-lineage")
            assert "convergent" in text and "complete" in text and "└ g2" in text and "★ g1" in text

            # the selected generation (the newest) shows its loss curve from its progress file
            await wait_for(pilot, lambda: screen.selected == g2 and screen.curve["train"], "g2's loss curve")
            assert [s for s, _ in screen.curve["train"]] == [1, 2, 3, 4]
            assert "train loss" in screen_text(screen)
            # how it was received in play, per co-performer setting, the most tagged first
            await wait_for(pilot, lambda: "in play: 1 play(s)" in screen_text(screen), "g2's reception")
            text = screen_text(screen)
            liked, other = text.index("accompany follow 0.2: * followed x2, * laugh x1"), \
                text.index("accompany follow 0.8: * followed x1, * too-reactive x1")
            assert liked < other
            assert screen.previews                                  # preview files listed
            await keys(pilot, "p")                                  # plays one (through JACK)
            await wait_for(pilot, lambda: screen.auditioned or screen.audition_problem, "a preview to play",
                           timeout=20)
            assert screen.auditioned and screen.auditioned[0][1] > 0, screen.audition_problem

            await keys(pilot, "c", "P")                             # the picture: g2 with its parent g1
            await wait_for(pilot, lambda: screen.plotted, "the picture of the curves")
            assert screen.plotted.name == "g2-training.png" and screen.plotted.stat().st_size > 20_000
            assert screen.compared == [g2] and "noise" in screen_text(screen)   # the baseline on the text curve

            await keys(pilot, "u")                                  # make g2 current
            await wait_for(pilot, lambda: screen.current == g2, "g2 to be current")
            db = open_db(workspace.db_path)
            try:
                assert T.current_generation(db)["id"] == g2
            finally:
                db.conn.close()

            await keys(pilot, "m")
            await answer_prompt(pilot, app, "brighter attacks", "the note prompt")
            await wait_for(pilot, lambda: screen.notes.get(g2), "the note")
            assert screen.notes[g2][0]["text"] == "brighter attacks"
            # stored, then drawn when the detail refreshes
            await wait_for(pilot, lambda: "brighter attacks" in screen_text(screen), "the note shown")

            await keys(pilot, "y")                                  # a symbol of the notation
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen"
                           and app.screen.query("OptionList"), "the symbol picker")
            symbol = app.screen.options[0][0]
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: len(screen.notes.get(g2, [])) == 2, "the symbol note")
            assert screen.notes[g2][1]["symbol"] == symbol
            db = open_db(workspace.db_path)
            try:
                assert [(n["text"], n["symbol"]) for n in T.notes(db, g2)] == [("brighter attacks", None),
                                                                              (None, symbol)]
            finally:
                db.conn.close()

            await keys(pilot, "b")                                  # back to g1
            await wait_for(pilot, lambda: screen.current == g1, "g1 to be current again")
        finally:
            await app.shutdown()


async def pick(pilot, app, title_word: str, value: str | None) -> None:
    """Wait for the PickScreen whose title holds `title_word`; choose `value` (None: the first)."""
    await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen" and title_word in app.screen.title_text
                   and app.screen.query("OptionList"), f"the {title_word} picker")
    if value is not None:
        app.screen.query_one("OptionList").highlighted = [v for v, _ in app.screen.options].index(value)
    await keys(pilot, "enter")


async def test_models_screen_trains_shows_the_live_loss_and_cancels(workspace):
    """`t`: pick a dataset, a strategy, a family and its steering; the run is its own process,
    polled by a worker; its loss curve grows while it trains; `x` cancels it and the current
    model is untouched. Steering by symbols is offered where the family supports it (latent:
    the run learns the dataset's symbol) and shown disabled with the reason where not (pitch)."""
    from rehearsal import training as T
    from rehearsal.store import open_db

    pluck_dataset(workspace.home / "datasets" / "plucks", n=3, seconds=1.0)
    app = RehearsalApp(workspace, options())
    async with app.run_test(size=SIZE) as pilot:
        try:
            await keys(pilot, "f5")
            await wait_for(pilot, lambda: app.current_mode == "models", "the models screen")
            screen = app.screen
            screen.train_options = {"seed": 1, "params": dict(TINY)}
            await keys(pilot, "t")
            await pick(pilot, app, "dataset", None)                 # the only dataset: plucks/
            await pick(pilot, app, "strategy", "convergent")
            await pick(pilot, app, "family", "pitch")
            await wait_for(pilot, lambda: "Steer" in getattr(app.screen, "title_text", ""), "the steering choice")
            steer = app.screen.query_one("OptionList")
            assert steer.get_option("symbols").disabled and not steer.get_option("none").disabled
            assert "the pitch family (cannot be steered by symbols); families that can: latent" in app.screen.note
            await keys(pilot, "escape")                             # the form is left: nothing planned
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ModelsScreen", "the form to close")

            screen.train_options = {"seed": 1, "params": {**TINY, "width": "16", "hidden": "16", "n_noise_bands": "8",
                                                          "noise_table": "4096"}}     # a small latent model
            await keys(pilot, "t")
            await pick(pilot, app, "dataset", None)
            await pick(pilot, app, "strategy", "convergent")
            await pick(pilot, app, "family", "latent")
            await wait_for(pilot, lambda: "Steer" in getattr(app.screen, "title_text", ""), "the steering choice")
            assert not app.screen.query_one("OptionList").get_option("symbols").disabled
            await pick(pilot, app, "Steer", "symbols")
            await answer_prompt(pilot, app, "5000 steps", "the budget prompt")
            await wait_for(pilot, lambda: 1 in screen.runs and screen.selected == 1, "the run to start")
            await wait_for(pilot, lambda: len(screen.curve["train"]) >= 3, "the loss curve while training",
                           timeout=60)
            # the lineage is read again when the run's first progress arrives, which can come
            # after the curve (a timer reads the progress file too): wait for it, then check
            await wait_for(pilot, lambda: screen.rows and screen.rows[0][1]["status"] == "running",
                           "g1 running in the lineage")
            assert 1 not in screen.ended
            assert "train loss" in screen_text(screen)
            await keys(pilot, "x")
            await wait_for(pilot, lambda: 1 in screen.ended, "the run to end", timeout=60)
            assert screen.ended[1]["status"] == "cancelled"
            await wait_for(pilot, lambda: screen.rows[0][1]["status"] == "cancelled", "g1 cancelled in the lineage")
            db = open_db(workspace.db_path)
            try:
                g1 = T.get_generation(db, 1)
                assert g1["status"] == "cancelled" and T.current_generation(db) is None
                params = json.loads(g1["spec_json"])["family_params"]
                assert g1["family"] == "latent" and (params["condition"], params["symbols"]) == ("symbols", ["pluck"])
            finally:
                db.conn.close()
        finally:
            await app.shutdown()


def test_loss_plot_draws_train_and_validation():
    text = sparkline_plot({"train": [(1, 1.0), (2, 0.5), (3, 0.25)], "val": [(2, 0.9)]}).plain
    grid = "\n".join(text.splitlines()[:8])
    assert grid.count("·") == 3 and grid.count("o") == 1 and "0.2500" in grid and "1.0000" in grid
    assert sparkline_plot({"train": [], "val": []}).plain == "no loss yet"
    assert json.dumps(sparkline_plot({"train": [(1, 2.0)], "val": []}).plain)
    with_noise = sparkline_plot({"train": [(1, 1.0), (2, 0.5)], "val": []}, baseline=2.0).plain.splitlines()
    assert with_noise[0].endswith("-" * 47 + "│") and "2.0000" in with_noise[0] and "noise 2.0000 (-)" in with_noise[-1]


def test_training_budgets_as_typed():
    from rehearsal.training import parse_budget   # the CLI's --budget parser, used by the TUI

    assert parse_budget("") == {} and parse_budget("500 steps") == {"max_steps": 500}
    assert parse_budget("3m") == {"budget_s": 180.0} and parse_budget("90s") == {"budget_s": 90.0}
    for bad in ("many steps", "0 steps", "soon"):
        with pytest.raises(ValueError):
            parse_budget(bad)


def test_pipeline_edits_round_trip_and_are_checked_like_files():
    import tomllib

    from rehearsal.curation import PipelineError, load_pipeline, parse_pipeline, shipped_pipelines
    from rehearsal.tui.pipeline_edit import dump, edit_param, parse_value

    for name, path in shipped_pipelines().items():        # every shipped pipeline survives the rewrite
        p = load_pipeline(path)
        again = parse_pipeline(dump(tomllib.loads(p.text)), "again.toml")
        assert (again.name, again.description, again.steps, again.analysis) == \
               (p.name, p.description, tuple(s.__class__(**{**s.__dict__, "line": t.line})
                                             for s, t in zip(p.steps, again.steps)), p.analysis), name

    p = parse_pipeline(f'name = "gate"\n{PIPELINE}', "gate.toml")
    edited = edit_param(p, 2, "min_db", parse_value("-35.5"))
    assert edited.steps[1].params["min_db"] == -35.5 and not edited.steps[1].enabled
    assert edited.source == "gate.toml (edited)" and "min_db = -35.5" in edited.text
    assert edit_param(edited, 1, "keep", parse_value('["good", "ok \\"x\\""]')).steps[0].params["keep"] == \
        ["good", 'ok "x"']
    with pytest.raises(PipelineError, match=r"steps\[2\]\.min_db"):
        edit_param(p, 2, "min_db", parse_value('"loud"'))
    with pytest.raises(ValueError, match="not a TOML value"):
        parse_value("loud")
    with pytest.raises(ValueError, match="no step 9"):
        edit_param(p, 9, "min_db", 1)
