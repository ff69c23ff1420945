"""What a new ensemble trips over in its first hour (issue 10), each checked the way it was
found: set-up from a fresh checkout, the README's commands, the TUI's screens through the
pilot on real parts (a real workspace, the demo input through the capture process, JACK
MIDI ports), the CLI's budgets and messages, a real training run that fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.tui.app import RehearsalApp
from rehearsal.tui.options import TuiOptions
from tests.support.tui import keys, open_curation_screen, palette_first_hit, screen_text, wait_for

ROOT = Path(__file__).resolve().parents[1]
WIDE = (120, 40)          # the snapshots' terminal: what a laptop's terminal usually is


def tui_options(**kw) -> TuiOptions:
    base = dict(open_input=False, osc_port=None, midi=(), midi_virtual=False, session="monday", ascii=True)
    return TuiOptions(**{**base, **kw})


def invoke(home: Path, *args: str):
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def generation_count(home: Path) -> int:
    from rehearsal.store import open_db

    db = open_db(home / "rehearsal.db")      # the store's migrations make every table
    try:
        return db.execute("SELECT count(*) FROM generations").fetchone()[0]
    finally:
        db.conn.close()


# -- set-up and the README -------------------------------------------------------------------
def test_setup_prints_a_few_lines_and_what_to_do_next(tmp_path):
    """`scripts/setup --test` in a fresh checkout of this tree, counting what it prints.

    To stay cheap (seconds, not minutes) the checkout gets this tree's virtual environment,
    hard-linked (`cp -al`: no bytes copied, nothing shared is written: pip replaces files, it
    never edits them) with its bin/ and pyvenv.cfg copied and pointed at the new place, as
    `python -m venv` would have written them there. What runs is set-up's real path: system
    packages checked, pip upgraded, the pinned dependencies resolved, the package built by
    setuptools and installed editable. What it skips is downloading and unpacking the
    dependencies, which goes to pip's log, not to the terminal, on a first install too."""
    if not shutil.which("git"):
        pytest.skip("needs git for a checkout of the tree")
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("needs the .venv that scripts/setup makes")
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    subprocess.run(["cp", "-al", str(venv), str(clone / ".venv")], check=True)
    for rel in ("bin", "pyvenv.cfg"):          # the few files that name the venv's place: real copies
        linked = clone / ".venv" / rel
        shutil.rmtree(linked) if linked.is_dir() else linked.unlink()
        (shutil.copytree(venv / rel, linked, symlinks=True) if (venv / rel).is_dir()
         else shutil.copy2(venv / rel, linked))
    for f in [clone / ".venv" / "pyvenv.cfg", *(clone / ".venv" / "bin").iterdir()]:
        if f.is_file() and not f.is_symlink():
            data = f.read_bytes()
            if str(venv).encode() in data[:100_000] and b"\0" not in data[:4096]:
                f.write_bytes(data.replace(str(venv).encode(), str(clone / ".venv").encode()))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    done = subprocess.run(["scripts/setup", "--test"], cwd=clone, capture_output=True, text=True, env=env,
                          timeout=300)
    printed = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, "\n".join(printed)
    assert len(printed) <= 8, "\n".join(printed)              # was ~190 lines of setuptools warnings
    text = "\n".join(printed)
    assert "source .venv/bin/activate" in text and "rehearsal --demo" in text and "scripts/test" in text
    log = (clone / ".venv" / "setup.log").read_text()
    assert "Successfully installed" in log and "rehearsal" in log
    for warning in ("project.license` as a TOML table is deprecated", "Package would be ignored"):
        assert warning not in log, warning                    # fixed in pyproject.toml, not only hidden
    # what it says to do next works: activated, `rehearsal` is on PATH (the clone's own)
    after = subprocess.run(["bash", "-c", "source .venv/bin/activate && command -v rehearsal && rehearsal --version"],
                           cwd=clone, capture_output=True, text=True, env=env, timeout=60)
    assert after.returncode == 0 and after.stdout.startswith(str(clone / ".venv" / "bin")), after.stderr
    # the clone's install pointed this tree's venv nowhere: it still imports rehearsal from here
    here = subprocess.run([str(venv / "bin" / "python"), "-c", "import rehearsal; print(rehearsal.__file__)"],
                          capture_output=True, text=True, check=True)
    assert here.stdout.startswith(str(ROOT)), here.stdout


def test_readme_says_how_rehearsal_gets_on_path():
    readme = (ROOT / "README.md").read_text()
    headless = readme.split("## Headless use", 1)[1].split("\n## ", 1)[0]
    before_first_command = headless.split("rehearsal record", 1)[0]
    assert "source .venv/bin/activate" in before_first_command and ".venv/bin/rehearsal" in before_first_command


# -- budgets: one parser, the same words in the CLI and the TUI -----------------------------------
def test_budgets_read_as_people_write_them():
    from rehearsal.training import SpecError, parse_budget

    assert parse_budget("") == {}
    for text, seconds in (("90s", 90), ("90", 90), ("3m", 180), ("5 minutes", 300), ("1h30m", 5400),
                          ("1 hour 30 min", 5400), ("1.5h", 5400), ("2 hours", 7200)):
        assert parse_budget(text) == {"budget_s": seconds}, text
    assert parse_budget("500 steps") == {"max_steps": 500} and parse_budget("1 step") == {"max_steps": 1}
    for nothing in ("0s", "0", "0 steps", "0m0s"):
        with pytest.raises(SpecError, match="more than nothing"):
            parse_budget(nothing)
    for bad in ("soon", "many steps", "1h30", "-5s", "5 apples"):
        with pytest.raises(SpecError, match=r"is not a budget: a time \(90s"):
            parse_budget(bad)


def test_cli_refuses_no_budget_in_words_before_any_generation(tmp_path):
    from tests.support.training import pluck_dataset

    ds = pluck_dataset(tmp_path / "plucks", n=2, seconds=0.5)
    home = tmp_path / "ws"
    for args in (["--budget", "0s"], ["--budget", "0 steps"], ["--steps", "0"], ["-p", "budget_s=0"],
                 ["--budget", "soon"], ["--budget", "1m", "--steps", "3"]):
        out = invoke(home, "train", "-d", str(ds), *args)
        assert out.exit_code == 1, (args, out.output)
        assert "Error: " in out.output and ("more than nothing" in out.output or "not a budget" in out.output
                                            or "one budget" in out.output), (args, out.output)
        assert "Traceback" not in out.output
    assert generation_count(home) == 0                        # refused before a generation existed
    # the TUI's words pass the CLI's budget parser: what stops this one is the dataset
    out = invoke(home, "train", "-d", str(tmp_path / "no such dataset"), "--budget", "500 steps")
    assert out.exit_code == 1 and "no such folder or dataset" in out.output and "not a budget" not in out.output, out.output


# -- the TUI -------------------------------------------------------------------------------------
async def test_models_screen_takes_the_clis_budget_words_and_shows_why_a_run_failed(workspace):
    """`t` on Models: "0s" is refused in words before any generation exists; "500 steps" is
    a budget (the CLI's words); a run that fails says why in the status line and beside the
    generation."""
    from rehearsal import training as T
    from rehearsal.store import open_db
    from tests.support.training import TINY, pluck_dataset

    pluck_dataset(workspace.home / "datasets" / "plucks", n=2, seconds=0.5)
    app = RehearsalApp(workspace, tui_options())

    async def train_with(pilot, budget: str) -> None:
        await keys(pilot, "t")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen", "the dataset picker")
        await keys(pilot, "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen"
                       and "strategy" in app.screen.title_text and app.screen.query("OptionList"), "the strategy picker")
        choices = [v for v, _ in app.screen.options]
        app.screen.query_one("OptionList").highlighted = choices.index("convergent")
        await keys(pilot, "enter")
        for title_word in ("family", "Steer"):          # the default family, not steered by symbols
            await wait_for(pilot, lambda: type(app.screen).__name__ == "PickScreen"
                           and title_word in app.screen.title_text and app.screen.query("OptionList")
                           and app.screen.focused is app.screen.query_one("OptionList"), f"the {title_word} picker")
            if title_word == "Steer":
                app.screen.query_one("OptionList").highlighted = [v for v, _ in app.screen.options].index("none")
            await keys(pilot, "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt" and app.screen.query("Input"),
                       "the budget prompt")
        assert "5 minutes" in screen_text(app.screen) and "500 steps" in screen_text(app.screen)
        app.screen.query_one("Input").value = budget
        await keys(pilot, "enter")

    async with app.run_test(size=WIDE) as pilot:
        try:
            await keys(pilot, "f5")
            await wait_for(pilot, lambda: app.current_mode == "models", "the models screen")
            screen = app.screen
            await train_with(pilot, "0s")
            await wait_for(pilot, lambda: "cannot use that budget" in screen.status, "the refusal")
            assert "a budget must be more than nothing" in screen.status
            assert generation_count(workspace.home) == 0

            # a time budget over before the first step: the run fails for real, in its process
            screen.train_options = {"seed": 1, "params": {**TINY, "budget_s": "0.000001"}}
            await train_with(pilot, "500 steps")
            await wait_for(pilot, lambda: 1 in screen.ended, "the run to end", timeout=60)
            reason = "its time budget ran out at step 0, before its first checkpoint: give it a longer budget"
            assert screen.status == f"g1 failed: {reason}"
            await wait_for(pilot, lambda: screen.rows and screen.rows[0][1]["status"] == "failed", "g1 failed")
            await wait_for(pilot, lambda: f"failed: {reason}" in screen_text(screen), "the reason beside g1")
            db = open_db(workspace.db_path)
            try:
                assert T.RunSpec.from_json(T.get_generation(db, 1)["spec_json"]).max_steps == 500
            finally:
                db.conn.close()
            # and `rehearsal models` says why too, not only "failed"
            lines = invoke(workspace.home, "models").output.splitlines()
            assert lines[0].startswith("g1") and f"failed ({reason})" in lines[0], lines
        finally:
            await app.shutdown()


async def test_help_shows_keys_as_typed_and_the_palette_lists_the_screens_actions(workspace):
    from rehearsal.tui.screens.modals import HelpScreen

    app = RehearsalApp(workspace, tui_options())
    async with app.run_test(size=WIDE) as pilot:
        try:
            await keys(pilot, "question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and "On Play" in screen_text(app.screen),
                           "help")
            text = screen_text(app.screen)
            for raw in ("left_square_bracket", "right_square_bracket", "equals_sign", "minus ", "d,delete",
                        "full_stop", "question_mark"):
                assert raw not in text, raw
            play = text.split("On Play", 1)[1]
            assert re.search(r"^\s*\[\s+drier", play, re.M) and re.search(r"^\s*=\s+gain \+", play, re.M), play
            assert re.search(r"^\s*-\s+gain -", play, re.M) and "d / Del" in text
            await keys(pilot, "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "help to close")

            # every screen's actions by name: train, commit, export, play...
            from rehearsal.tui.commands import RoomCommands

            names = [name for name, _, _ in RoomCommands(app.screen).commands()]
            for wanted in ("Models: train a new generation", "Curation: commit as a dataset version",
                           "Curation: run every step", "Sessions: export markers", "Play: play/stop",
                           "Review: re-tag", "Learn a trigger…"):
                assert wanted in names, (wanted, names)

            await keys(pilot, "ctrl+p")
            await wait_for(pilot, lambda: type(app.focused).__name__ == "CommandInput", "the command palette")
            await keys(pilot, *"train")
            await wait_for(pilot, lambda: "train a new generation" in palette_first_hit(app),
                           "the palette to find train")
            await keys(pilot, "enter")                   # goes to Models and runs its `t`
            await wait_for(pilot, lambda: app.current_mode == "models"
                           and "no dataset yet" in app.screen.status, "the train action on Models")
        finally:
            await app.shutdown()


async def test_curation_screen_has_focus_fits_and_speaks_like_the_cli(workspace, db):
    """At 120 columns: Enter works on arrival, every table fits its panel, a step's effect is
    in the CLI's words ("1 removed, 1 changed"), takes are "take 1"."""
    from textual.widgets import DataTable

    from tests.support.curation_fixtures import CurationWorld, step

    world = CurationWorld.create(workspace, db)
    tid = world.add_take()
    world.tag(tid, "good", 5.0, 7.5)                  # a tone, then silence: trim-silence changes it
    world.tag_part(tid, "good", "a4")
    world.tag_part(tid, "good", "quiet2")             # silent throughout: trim-silence removes it
    world.tag_part(tid, "bad", "noise")               # not selected
    # clip by clip (not merged as sets of time), so the silent part stands alone to be removed
    body = step("select-symbols", keep=["good"], overlap="whole") + step("trim-silence", threshold_db=-50, pad_s=0.05)
    (workspace.home / "pipelines").mkdir(exist_ok=True)
    pipeline = workspace.home / "pipelines" / "trim.toml"
    pipeline.write_text(f'name = "trim"\n{body}', encoding="utf-8")

    app = RehearsalApp(workspace, tui_options())
    async with app.run_test(size=WIDE) as pilot:
        try:
            screen = await open_curation_screen(pilot, app)
            assert app.focused is screen.query_one("#cur-sessions")
            await keys(pilot, "enter")                            # no tab first
            await wait_for(pilot, lambda: screen.chosen_sessions == ["monday"], "the session to be chosen")

            pipelines = screen.query_one("#cur-pipelines", DataTable)
            pipelines.focus()
            pipelines.move_cursor(row=pipelines.get_row_index(str(pipeline)))
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.pipeline is not None, "the pipeline")
            await keys(pilot, "r")
            await wait_for(pilot, lambda: screen.done, "every step")
            await pilot.pause()

            steps = screen.query_one("#cur-steps", DataTable)
            trim = steps.get_row("2")
            assert trim[-1] == "1 removed, 1 changed"
            cli = invoke(workspace.home, "curate", "-s", "monday", "-p", str(pipeline), "--dry-run")
            assert cli.exit_code == 0, cli.output
            (cli_trim,) = [line for line in cli.output.splitlines() if "trim-silence" in line]
            assert cli_trim.endswith(", " + trim[-1])           # the same words as the CLI
            assert steps.get_row("1")[-1] == "1 removed"

            removals = screen.query_one("#cur-removals", DataTable)
            takes = {str(removals.get_row_at(i)[0]) for i in range(removals.row_count)}
            assert takes == {"take 1"}                          # not "#1", a row id
            steps.move_cursor(row=steps.get_row_index("2"))
            await wait_for(pilot, lambda: len(screen.shown_removals) == 2, "trim-silence's removals")
            for row, removal in enumerate(screen.shown_removals):  # each reason whole, under the list
                removals.move_cursor(row=row)
                await wait_for(pilot, lambda: removal.reason in str(screen.query_one("#cur-removal").content),
                               "the highlighted removal's reason")
                assert str(screen.query_one("#cur-removal").content).startswith("take 1 ")
            for table in screen.query(DataTable):                # nothing cut off at the panel's edge
                assert table.virtual_size.width <= table.scrollable_content_region.width, (
                    table.id, table.virtual_size.width, table.scrollable_content_region.width)

            await keys(pilot, "c")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt" and app.screen.query("Input"),
                           "the name prompt")
            app.screen.query_one("Input").value = "trimmed"
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.version_ref == "trimmed@1" and screen.points, "the clip map")
            assert "take 1 " in screen_text(screen) and "take #" not in screen_text(screen)
        finally:
            await app.shutdown()


async def test_record_screen_counts_unbound_keys_and_keeps_midi_on_one_line(jack_server, workspace):
    """The demo input through the capture process, MIDI on the JACK server with the ports a
    small studio has (long names): the MIDI status stays one line per source line at 120
    columns, and keys the notation does not bind (a page-turner not learnt yet) are counted."""
    import rtmidi

    from rehearsal.tui.widgets import SourcesStatus

    pedals = []    # rtmidi's JACK clients, not python-jack's: those call Python back, holding up rtmidi
    for name in ("FS-5U footswitch on the left", "AirTurn page turner", "Launch Control XL"):
        out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
        out.open_virtual_port("midi_out")
        pedals.append(out)
    app = RehearsalApp(workspace, tui_options(open_input=True, demo=True, midi=("all",), midi_virtual=True,
                                              midi_api="jack"))
    try:
        async with app.run_test(size=WIDE) as pilot:
            try:
                await wait_for(pilot, lambda: app.link.ready, "the demo input to open")
                await wait_for(pilot, lambda: app.link.midi is not None or app.link.midi_error, "MIDI to open")
                assert app.link.midi is not None, app.link.midi_error
                assert len(app.link.midi.stats()["ports"]) >= 4
                record = app.views["record"]
                sources = record.query_one(SourcesStatus)
                await wait_for(pilot, lambda: "msgs" in str(sources.content), "the MIDI status")

                await keys(pilot, "z", "pageup", "x")                  # bound to nothing
                await wait_for(pilot, lambda: app.link.keys.stats()["unbound"] == 3, "three unbound keys")
                await wait_for(pilot, lambda: "3 unbound" in str(sources.content), "the counter drawn")
                assert app.link.keys.stats()["tags"] == 0
                await keys(pilot, "tab")                               # the app's own keys are not counted
                await pilot.pause(0.1)
                assert app.link.keys.stats()["unbound"] == 3

                await pilot.pause()
                lines = str(sources.content).splitlines()
                midi = next(line for line in lines if line.startswith("MIDI"))
                assert len(midi) > sources.content_region.width    # long enough that it would wrap
                # each line of the status is one row on the screen: no line wrapped onto another
                assert sources.content_region.height == len(lines), (sources.content_region, lines)
                rows = [strip.text.strip("│ ") for strip in sources.render_lines(sources.region.reset_offset)]
                at = next(i for i, row in enumerate(rows) if row.startswith("MIDI"))
                assert rows[at].endswith("…") and rows[at + 1].startswith("OSC"), rows    # was "rehearsal  0 msgs"
            finally:
                await app.shutdown()
    finally:
        for out in pedals:
            out.delete()
