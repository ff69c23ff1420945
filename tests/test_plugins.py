"""Plugins: built-ins and entry points load through the same hooks; a broken plugin is
reported and skipped; the documented example plugin works end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.curation import StepFailed, preview
from rehearsal.plugins import manager, provider, registry, reports
from tests.support.curation_fixtures import SR, CurationWorld, render_take, step
from tests.support.plugin_dist import install_plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "rehearsal-drop-clipped" / "rehearsal_drop_clipped"

BROKEN_IMPORT = "import this_module_does_not_exist\n"
RAISES_IN_HOOK = """
from rehearsal.plugins import hookimpl

@hookimpl
def register_curation_steps(register):
    raise RuntimeError("cannot register today")
"""
WRONG_SIGNATURE = """
from rehearsal.plugins import hookimpl

@hookimpl
def register_curation_steps(reg, extra):
    pass
"""
CLASH_AND_FAIL = """
from dataclasses import dataclass
from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

@dataclass
class Louder(Filter):
    def reject(self, clip, ctx):
        return None

@dataclass
class FallsOver(Filter):
    def reject(self, clip, ctx):
        raise ZeroDivisionError("plugin bug")

@hookimpl
def register_curation_steps(register):
    register("loudness-gate", Louder)     # taken by the built-ins: ignored, reported
    register("falls-over", FallsOver)
"""
EXITS = """
from dataclasses import dataclass
from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

@dataclass
class Exits(Filter):
    def reject(self, clip, ctx):
        raise SystemExit(0)

@hookimpl
def register_curation_steps(register):
    register("exits", Exits)
"""
HANGS = """
import threading
from dataclasses import dataclass
from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

@dataclass
class Hangs(Filter):
    def reject(self, clip, ctx):
        threading.Event().wait()      # for ever, blocked in C

@dataclass
class Spins(Filter):
    def reject(self, clip, ctx):
        while True:                   # for ever, in Python
            sum(range(1000))

@hookimpl
def register_curation_steps(register):
    register("hangs", Hangs)
    register("spins", Spins)
"""
STUCK_IN_C = """
import ctypes
from dataclasses import dataclass
from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

@dataclass
class StuckInC(Filter):
    def reject(self, clip, ctx):
        # C code holding the GIL (PyDLL) that retries after signals (system() waits again on EINTR)
        ctypes.PyDLL(None).system(b"exec sleep 600")

@hookimpl
def register_curation_steps(register):
    register("stuck-in-c", StuckInC)
"""
DELETES = """
import os
from dataclasses import dataclass
from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

@dataclass
class Deletes(Filter):
    def reject(self, clip, ctx):
        os.remove(ctx._run.ws.resolve(ctx._run.takes[clip.take_id]["path"]))
        return None

@hookimpl
def register_curation_steps(register):
    register("deletes-audio", Deletes)
"""


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A site folder on sys.path; plugins reload before and after the test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    manager.reset()
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        if name.startswith(("rehearsal_drop_clipped", "broken_", "hook_", "sig_", "clash_")):
            del sys.modules[name]
    manager.reset()


def by_name():
    return {r.name: r for r in reports()}


def test_builtins_register_through_the_hooks():
    manager.reset()
    steps = registry("curation_steps")
    for name in ("select-symbols", "agreement", "region-from-taps", "trim-silence", "loudness-gate", "noise-filter",
                 "pitch-range", "balance", "dedupe", "segment", "manual"):
        assert name in steps
        assert provider("curation_steps", name) == "rehearsal_plugins.curation"
    builtin = by_name()["rehearsal_plugins.curation"]
    assert builtin.ok and builtin.origin == "built-in" and builtin.version
    assert set(builtin.provides["dataset_exporters"]) >= {"folder", "rave", "labels"}


def test_the_documented_example_plugin_loads_from_its_entry_point(plugin_site, workspace, db):
    install_plugin(plugin_site, "rehearsal-drop-clipped", "0.1.0", {"drop_clipped": "rehearsal_drop_clipped"},
                   package_dir=EXAMPLE)
    report = by_name()["drop_clipped"]
    assert report.ok and report.version == "0.1.0" and report.origin == "entry point (rehearsal-drop-clipped)"
    assert report.provides["curation_steps"] == ["drop-clipped"]
    # and it works in a pipeline, on real audio: a take whose second half clips
    world = CurationWorld.create(workspace, db)
    audio = render_take()
    audio[int(8 * SR):int(10 * SR)] = np.clip(audio[int(8 * SR):int(10 * SR)] * 20, -1, 1)   # overdriven A4
    take = world.add_take(audio)
    clean = world.tag_part(take, "good", "a3")
    loud = world.tag_part(take, "good", "a4")
    run = preview(workspace, db, world.pipeline(step("drop-clipped", ceiling=0.99)), ["monday"])
    assert [c.marker_ids[0] for c in run.clips] == [clean]
    (removal,) = run.removals(1)
    assert removal.clip.marker_ids == (loud,) and removal.reason.startswith("clipped: ")
    assert run.reports[0].plugin == "drop_clipped"


def test_example_plugin_parameters_are_checked_with_file_and_line(plugin_site, workspace, db):
    install_plugin(plugin_site, "rehearsal-drop-clipped", "0.1.0", {"drop_clipped": "rehearsal_drop_clipped"},
                   package_dir=EXAMPLE)
    from rehearsal.curation import PipelineError

    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    pipeline = world.pipeline(step("loudness-gate") + step("drop-clipped", ceiling=2.0))
    with pytest.raises(PipelineError, match=r"test.toml:6: steps\[2\].ceiling: ceiling must be in \(0, 1\], got 2.0"):
        preview(workspace, db, pipeline, ["monday"])


def test_broken_plugins_are_reported_and_skipped(plugin_site, workspace, db):
    install_plugin(plugin_site, "broken-one", "1.0", {"broken": "broken_import"}, modules={"broken_import": BROKEN_IMPORT})
    install_plugin(plugin_site, "hook-raiser", "2.0", {"raiser": "hook_raiser"}, modules={"hook_raiser": RAISES_IN_HOOK})
    install_plugin(plugin_site, "sig-wrong", "3.0", {"wrong": "sig_wrong"}, modules={"sig_wrong": WRONG_SIGNATURE})
    install_plugin(plugin_site, "clash", "4.0", {"clash": "clash_plugin"}, modules={"clash_plugin": CLASH_AND_FAIL})
    found = by_name()
    assert not found["broken"].ok and "ModuleNotFoundError" in found["broken"].error
    assert found["raiser"].ok and "RuntimeError: cannot register today" in found["raiser"].problems[0]
    assert not found["wrong"].ok and "register_curation_steps" in found["wrong"].error
    assert found["clash"].provides["curation_steps"] == ["falls-over"]
    assert "'loudness-gate' is already provided by rehearsal_plugins.curation" in found["clash"].problems[0]
    # the app still works: the built-in loudness-gate is the one used
    world = CurationWorld.create(workspace, db)
    take = world.add_take()
    world.tag_part(take, "good", "soft_a3")
    run = preview(workspace, db, world.pipeline(step("loudness-gate", min_db=-40)), ["monday"])
    assert run.clips == [] and run.reports[0].plugin == "rehearsal_plugins.curation"
    # a step that raises mid-run stops the run, names the plugin, writes nothing, and is reported
    with pytest.raises(StepFailed, match=r"step 1 'falls-over' \(plugin clash\) failed: ZeroDivisionError: plugin bug"):
        preview(workspace, db, world.pipeline(step("falls-over")), ["monday"])
    assert any("plugin bug" in p for p in by_name()["clash"].problems)


def test_plugins_command_and_a_failing_plugin_in_curate(plugin_site, workspace, db):
    install_plugin(plugin_site, "broken-one", "1.0", {"broken": "broken_import"}, modules={"broken_import": BROKEN_IMPORT})
    install_plugin(plugin_site, "clash", "4.0", {"clash": "clash_plugin"}, modules={"clash_plugin": CLASH_AND_FAIL})
    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    runner = CliRunner()
    home = ["--home", str(workspace.home)]
    result = runner.invoke(main, [*home, "curate", "-s", "monday", "-p", str(world.write_pipeline(
        step("loudness-gate") + step("falls-over"))), "-n", "voice"])
    assert result.exit_code == 1
    assert "step 2 'falls-over' (plugin clash) failed: ZeroDivisionError: plugin bug" in result.output
    assert db.execute("SELECT COUNT(*) FROM dataset_versions").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0
    result = runner.invoke(main, ["plugins"])
    assert result.exit_code == 0
    out = result.output
    assert "rehearsal_plugins.curation" in out and "curation steps: agreement" in out
    assert "broken 1.0  [entry point (broken-one)] FAILED" in out
    assert "error: ModuleNotFoundError: No module named 'this_module_does_not_exist'" in out
    assert "problem: step 'falls-over' failed in a run: ZeroDivisionError: plugin bug" in out


def test_plugins_command_in_a_fresh_process_finds_entry_points(tmp_path):
    site = install_plugin(tmp_path / "site", "rehearsal-drop-clipped", "0.1.0",
                          {"drop_clipped": "rehearsal_drop_clipped"}, package_dir=EXAMPLE)
    install_plugin(site, "broken-one", "1.0", {"broken": "broken_import"}, modules={"broken_import": BROKEN_IMPORT})
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-m", "rehearsal", "plugins"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "drop_clipped 0.1.0  [entry point (rehearsal-drop-clipped)] ok" in proc.stdout
    assert "    curation steps: drop-clipped" in proc.stdout
    assert "broken 1.0  [entry point (broken-one)] FAILED" in proc.stdout


def test_a_plugin_adds_a_command_and_builtins_do_not_load_plugins(tmp_path):
    """register_commands through a real entry point, in a fresh `rehearsal` process."""
    import os
    import subprocess
    import sys

    from tests.support.plugin_dist import install_plugin

    site = install_plugin(tmp_path / "site", "rehearsal-hello", "0.3", {"hello": "rehearsal_hello"}, modules={
        "rehearsal_hello": (
            "import click\nfrom rehearsal.plugins import hookimpl\n\n"
            "@hookimpl\ndef register_commands(cli):\n"
            "    @cli.command()\n    def hello():\n        click.echo('hello from a plugin')\n"),
    })
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "rehearsal", "--home", str(tmp_path / "ws"), *a],
                                    capture_output=True, text=True, env=env)
    hello = run("hello")
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from a plugin", hello.stderr
    assert "hello" in run("--help").stdout
    probe = subprocess.run([sys.executable, "-c",
                            "import sys\nfrom rehearsal.cli import main\n"
                            "try:\n    main(['--home', sys.argv[1], 'sessions'])\nexcept SystemExit:\n    pass\n"
                            "print('rehearsal_hello' in sys.modules)", str(tmp_path / "ws")],
                           capture_output=True, text=True, env=env)
    assert probe.stdout.strip().endswith("False"), probe.stdout + probe.stderr


def _curate_with_plugin(plugin_site, workspace, db, name: str, source: str, use: str):
    """Install a one-module plugin, tag one take, and run `rehearsal curate` with its step."""
    install_plugin(plugin_site, name, "1.0", {name: f"{name}_plugin"}, modules={f"{name}_plugin": source})
    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    return CliRunner().invoke(main, ["--home", str(workspace.home), "curate", "-s", "monday", "-p",
                                     str(world.write_pipeline(step(use))), "-n", "voice"])


def test_a_step_raising_systemexit_fails_curate_naming_the_plugin(plugin_site, workspace, db):
    """Issue 13, finding 6: SystemExit(0) in a step made `curate` exit 0 with no dataset and no word."""
    result = _curate_with_plugin(plugin_site, workspace, db, "quitter", EXITS, "exits")
    assert result.exit_code == 1
    assert "step 1 'exits' (plugin quitter) failed: SystemExit: 0" in result.output
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "worker-thread"])
def test_a_hanging_step_is_stopped_at_its_time_limit_naming_the_plugin(plugin_site, workspace, db, monkeypatch,
                                                                      in_thread):
    """Issue 13, finding 6: a step that hangs ran for ever; now it is stopped and named."""
    import threading

    from rehearsal.curation.run import StepFailed, start_run
    from rehearsal.curation.pipeline import load_pipeline

    install_plugin(plugin_site, "sleeper", "1.0", {"sleeper": "sleeper_plugin"}, modules={"sleeper_plugin": HANGS})
    monkeypatch.setenv("REHEARSAL_STEP_TIME_LIMIT_S", "0.5")
    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    if not in_thread:
        result = CliRunner().invoke(main, ["--home", str(workspace.home), "curate", "-s", "monday", "-p",
                                           str(world.write_pipeline(step("hangs"))), "-n", "voice"])
        assert result.exit_code == 1
        assert ("step 1 'hangs' (plugin sleeper) failed: TimeLimitExceeded: step 1 'hangs' (plugin sleeper) "
                "ran past its time limit of 0.5 s") in result.output, result.output
        return
    from rehearsal.plugins import manager

    manager.load_plugins()
    run = start_run(workspace, db, load_pipeline(world.write_pipeline(step("spins"))), ["monday"])
    failure = []
    worker = threading.Thread(target=lambda: failure.append(pytest.raises(StepFailed, run.step)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the step still runs in its thread"
    assert "'spins' (plugin sleeper) ran past its time limit of 0.5 s" in str(failure[0].value)


def test_a_step_stuck_in_c_code_is_ended_past_its_time_limit_naming_the_plugin(plugin_site, workspace, db):
    """Issue 13, finding 6: SIGALRM cannot interrupt C code, so a step stuck there (holding the
    GIL, no Python thread can run) ran for ever; a watcher process now ends the CLI in words."""
    import signal

    install_plugin(plugin_site, "cstuck", "1.0", {"cstuck": "cstuck_plugin"}, modules={"cstuck_plugin": STUCK_IN_C})
    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    env = {**os.environ, "PYTHONPATH": str(plugin_site), "REHEARSAL_STEP_TIME_LIMIT_S": "0.5"}
    out_path, err_path = workspace.home / "out.txt", workspace.home / "err.txt"
    with open(out_path, "w") as out_f, open(err_path, "w") as err_f:     # files: `sleep` keeps pipes open
        proc = subprocess.Popen([sys.executable, "-m", "rehearsal", "--home", str(workspace.home), "curate", "-s",
                                 "monday", "-p", str(world.write_pipeline(step("stuck-in-c"))), "-n", "voice"],
                                env=env, stdout=out_f, stderr=err_f, start_new_session=True)
    try:
        proc.wait(timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)      # the orphaned `sleep 600`
        proc.wait()
    out, err = out_path.read_text(), err_path.read_text()
    assert proc.returncode == -signal.SIGKILL, (out, err)
    assert ("step 1 'stuck-in-c' (plugin cstuck) ran past its time limit of 0.5 s and did not get back to Python "
            "within 2 s more (stuck in C code): the process was ended, nothing of this run was written") in err, err
    assert "Traceback" not in err
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0
    from rehearsal.store.plugin_problems import remembered    # what `rehearsal plugins` shows later

    assert any("stuck in C code past its time limit" in p["message"] for p in remembered(db).get("cstuck", []))


async def test_in_the_tui_a_step_stuck_in_c_code_ends_its_run_process_not_the_tui(plugin_site, workspace, db,
                                                                                monkeypatch):
    """Issue 13, finding 6, in the TUI: its steps ran in a thread, where nothing stops C code,
    so the screen waited for ever. The run now lives in a child process that the command
    line's watcher ends: the plugin named on screen, the problem remembered, nothing written,
    nothing left running, and the TUI goes on."""
    from rehearsal.tui.app import RehearsalApp
    from rehearsal.tui.options import TuiOptions
    from tests.support.tui import keys, open_curation_screen, wait_for

    install_plugin(plugin_site, "cstuck", "1.0", {"cstuck": "cstuck_plugin"}, modules={"cstuck_plugin": STUCK_IN_C})
    monkeypatch.setenv("PYTHONPATH", str(plugin_site))          # the run's process finds the plugin too
    monkeypatch.setenv("REHEARSAL_STEP_TIME_LIMIT_S", "0.5")
    world = CurationWorld.create(workspace, db)
    world.tag_part(world.add_take(), "good", "a3")
    (workspace.home / "pipelines").mkdir()
    pipeline = workspace.home / "pipelines" / "stuck.toml"
    pipeline.write_text('name = "stuck"\n' + step("stuck-in-c"), encoding="utf-8")

    app = RehearsalApp(workspace, TuiOptions(open_input=False, osc_port=None, midi=(), midi_virtual=False,
                                             session="monday", ascii=True))
    async with app.run_test(size=(200, 60)) as pilot:
        try:
            screen = await open_curation_screen(pilot, app)
            sessions = screen.query_one("#cur-sessions")
            sessions.focus()
            sessions.move_cursor(row=sessions.get_row_index("monday"))
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.chosen_sessions == ["monday"], "the session to be chosen")
            pipelines = screen.query_one("#cur-pipelines")
            pipelines.focus()
            pipelines.move_cursor(row=pipelines.get_row_index(str(pipeline)))
            await keys(pilot, "enter")
            await wait_for(pilot, lambda: screen.pipeline is not None, f"the pipeline ({screen.status})")
            await keys(pilot, "s")
            await wait_for(pilot, lambda: screen.run is not None, "the run's process")
            child = screen.run.proc
            try:        # it waited for ever: the step's thread could not be stopped
                await wait_for(pilot, lambda: "stuck in C code" in screen.status, "the stuck step to be ended",
                               timeout=30)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the screen says {screen.status!r}, its run's process "
                                     f"{'runs' if child.poll() is None else f'ended ({child.returncode})'}")
            assert ("step 1 'stuck-in-c' (plugin cstuck) ran past its time limit of 0.5 s and did not get back "
                    "to Python within 2 s more") in screen.status, screen.status
            assert child.wait(5) == -9 and screen.run is None and not screen.busy
            # the TUI goes on: another step starts a new run (pipeline and sessions kept)
            screen.say("still here")
            assert screen.status == "still here" and screen.pipeline is not None
        finally:
            await app.shutdown()
    assert db.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0
    from rehearsal.store.plugin_problems import remembered

    assert any("stuck in C code past its time limit" in p["message"] for p in remembered(db).get("cstuck", []))
    import time

    deadline = time.monotonic() + 10       # the run's process group, the plugin's `sleep 600` with it
    while time.monotonic() < deadline and _group_alive(child.pid):
        time.sleep(0.05)
    assert not _group_alive(child.pid), "something the stuck step started is still running"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_step_that_deletes_take_audio_is_named(plugin_site, workspace, db):
    """Issue 13, finding 6: a step deleting a take's audio went unnoticed."""
    result = _curate_with_plugin(plugin_site, workspace, db, "vandal", DELETES, "deletes-audio")
    assert result.exit_code == 1
    assert "(plugin vandal) failed: it deleted or changed take audio:" in result.output, result.output
    assert "(deleted)" in result.output
    assert any("deleted or changed take audio" in p for r in reports() if r.name == "vandal" for p in r.problems)
    fresh = subprocess.run([sys.executable, "-m", "rehearsal", "--home", str(workspace.home), "plugins"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(plugin_site)})
    assert "earlier problem" in fresh.stdout and "deleted or changed take audio" in fresh.stdout, fresh.stdout
    assert any("deleted or changed take audio" in p for r in reports() if r.name == "vandal" for p in r.problems)
