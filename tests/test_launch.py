"""Child processes start so that the working directory cannot shadow the package.

A folder holding a checkout (here: a poisoned one, whose `rehearsal/`, `plugins/` and
`rehearsal_plugins/` leave a mark and exit when imported) must not be imported by the
capture child, the play engine, a model host or a training worker started from it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rehearsal
from rehearsal.launch import python_module

CHILDREN = ["rehearsal.audio.capture", "rehearsal.play.engine", "rehearsal.play.host", "rehearsal.training.worker"]
POISON = "import pathlib; pathlib.Path(__file__).parent.parent.joinpath('poisoned').write_text(__name__); " \
         "raise SystemExit('POISONED: the checkout in the working directory was imported')\n"


@pytest.fixture
def poisoned_checkout(tmp_path) -> Path:
    for name in ("rehearsal", "plugins", "rehearsal_plugins"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(POISON)
    (tmp_path / "rehearsal" / "audio").mkdir()
    (tmp_path / "rehearsal" / "audio" / "__init__.py").write_text(POISON)
    return tmp_path


def _start(cmd, cwd):
    # no arguments: each child imports its package, then refuses the missing arguments
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("module", CHILDREN)
def test_a_child_started_from_a_folder_holding_a_checkout_imports_the_installed_package(poisoned_checkout, module):
    done = _start(python_module(module), poisoned_checkout)
    assert "POISONED" not in done.stderr, done.stderr[-2000:]
    assert not (poisoned_checkout / "poisoned").exists()
    assert done.returncode != 0 and done.stderr          # it ran this package's code, which wants arguments


def test_the_poisoned_checkout_does_shadow_a_plain_python_m(poisoned_checkout):
    # the check above can fail: started the old way, the child imports the checkout
    done = _start([sys.executable, "-m", "rehearsal.training.worker"], poisoned_checkout)
    assert "POISONED" in done.stderr
    assert (poisoned_checkout / "poisoned").read_text() == "rehearsal"


def test_every_child_command_is_made_by_launch():
    root = Path(rehearsal.__file__).parent
    plugins = root.parent / "plugins"
    offenders = [str(p) for p in [*root.rglob("*.py"), *plugins.rglob("*.py")]
                 if "sys.executable" in p.read_text() and p.name != "launch.py"]
    assert offenders == []
