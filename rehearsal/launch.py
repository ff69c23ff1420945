"""Start a child Python process of the app (capture, play engine, model host, training worker).

`python -m` puts the working directory first on sys.path, so a child started from a folder
that holds a checkout (or any `rehearsal/`, `plugins/` folder) would import that instead of
the installed package. `-P` (Python 3.11+) leaves the working directory out; PYTHONPATH and
the installed packages are found as usual. Every child command is made here.
"""

from __future__ import annotations

import sys


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `module` as a program in this interpreter, immune to the cwd."""
    return [sys.executable, "-P", "-m", module, *args]


def end_child(proc, timeout: float) -> int:
    """Wait up to `timeout` s for a child asked to stop, then kill it; reaped either way."""
    import subprocess

    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def process_alive(pid: int | None) -> bool:
    """Whether process `pid` still runs (a zombie, killed and not yet reaped, does not)."""
    import os
    from pathlib import Path

    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
