"""A curation run in a child process, so that a step stuck in C code can be ended without
ending the program that asked for it (the TUI):

    run = RunProcess.start(ws, pipeline, ["monday"])   # python -P -m rehearsal.curation.process
    run.step(1)            # one more step (None: every step left); then run.reports, run.clips...
    info = run.commit("voice", created_by="tui")
    run.close()

The child holds the real `CurationRun` and runs each step in its main thread, so a step gets
the command line's own time limit (plugins/timelimit.py): SIGALRM stops Python code, and the
watcher process of rehearsal/deadline.py ends a process stuck in C code, naming the plugin
and remembering the problem in the workspace. When that happens here the child is gone with
its run; nothing of it was written (a run writes only when committed), and `step` raises
`RunEnded` with the watcher's words. The fields a screen reads (`takes`, `sessions`,
`reports`, `source_removals`, `clips`, `done`) are copies sent back after every call.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection

from ..launch import end_child
from .run import CurationError

QUIT_WAIT_S = 5.0


class RunEnded(CurationError):
    """The child process running the curation ended (a step stuck in C code was stopped)."""


class RunProcess:
    def __init__(self, proc: subprocess.Popen, conn: Connection, stderr):
        self.proc, self._conn, self._stderr = proc, conn, stderr
        self.takes: dict = {}
        self.sessions: list = []
        self.reports: list = []
        self.source_removals: list = []
        self.clips: list = []
        self.done = False

    @classmethod
    def start(cls, ws, pipeline, sessions: list[str]) -> "RunProcess":
        """Start the child and the run (the clips taken from the sessions' markers)."""
        from ..launch import python_module

        ours, theirs = socket.socketpair()
        stderr = tempfile.TemporaryFile()     # a file: what a stuck plugin started may keep it open
        proc = subprocess.Popen(python_module("rehearsal.curation.process", str(theirs.fileno()), str(ws.home)),
                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr, start_new_session=True)   # never the terminal's signals
        theirs.close()
        run = cls(proc, Connection(ours.detach()), stderr)
        try:
            run._call("start", pipeline.text, pipeline.source, list(sessions))
        except BaseException:
            run.close()
            raise
        return run

    def step(self, how_many: int | None = 1) -> None:
        self._call("step", how_many)

    def commit(self, name: str, *, created_by: str | None = None, parent=None):
        return self._call("commit", name, created_by, parent)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _call(self, *order):
        try:
            self._conn.send(order)
            # a process the stuck step started may hold the child's end open: watch the child itself
            while not self._conn.poll(0.1):
                if self.proc.poll() is not None:
                    raise EOFError
            kind, value, state = self._conn.recv()
        except (EOFError, OSError):
            raise RunEnded(self._why_ended()) from None
        if state is not None:
            for key, v in state.items():
                setattr(self, key, v)
        if kind == "error":
            raise CurationError(value)
        return value

    def _why_ended(self) -> str:
        try:
            code = self.proc.wait(QUIT_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        said = [x.strip() for x in self._stderr.read().decode("utf-8", "replace").splitlines() if x.strip()]
        told = [x.removeprefix("rehearsal: ") for x in said if x.startswith("rehearsal: ")]
        if told:
            return told[-1]
        how = (f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exited with status {code}")
        return f"the curation process {how}" + (f": {said[-1]}" if said else "") + "; nothing of this run was written"

    def close(self) -> None:
        """End the child (and anything a plugin left running in its process group)."""
        try:
            self._conn.send(("quit",))
        except (OSError, ValueError):
            pass
        end_child(self.proc, QUIT_WAIT_S)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._conn.close()
        self._stderr.close()


# -- the child ---------------------------------------------------------------------------------
def _state(run) -> dict:
    return {"takes": dict(run.takes), "sessions": list(run.sessions), "reports": list(run.reports),
            "source_removals": list(run.source_removals), "clips": run.clips, "done": run.done}


def main(argv: list[str]) -> int:
    from ..store import Workspace, open_db
    from . import commit, start_run
    from .pipeline import PipelineError, parse_pipeline

    fd = int(argv[0])
    os.set_inheritable(fd, False)        # not to a process a step starts
    conn = Connection(fd)
    ws = Workspace.at(argv[1])
    db = open_db(ws.db_path)
    run = None
    while True:
        try:
            order = conn.recv()
        except (EOFError, OSError):      # the program that asked is gone
            return 0
        kind, args = order[0], order[1:]
        if kind == "quit":
            return 0
        try:
            value = None
            if kind == "start":
                text, source, sessions = args
                run = start_run(ws, db, parse_pipeline(text, source), sessions)
            elif kind == "step":
                (how_many,) = args
                n = 0
                while not run.done and (how_many is None or n < how_many):
                    run.step()
                    n += 1
            elif kind == "commit":
                name, created_by, parent = args
                value = commit(run, name, created_by=created_by, parent=parent)
            reply = ("ok", value)
        except (CurationError, PipelineError, ValueError, LookupError) as exc:
            reply = ("error", str(exc))
        except Exception as exc:   # not the run's own error: said with its type, the child goes on
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn.send((*reply, _state(run) if run is not None else None))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
