"""The last resort of a time limit: a watcher process that ends a process stuck in C code.

A SIGALRM handler or an asynchronous exception only runs when the interpreter gets back to
Python bytecode, so a plugin blocked in a C call that retries after signals, or looping in
C while it holds the GIL, outlives its time limit (rehearsal/plugins/timelimit.py). Nothing
inside that process can run then, so the watcher is another process, one per watched
process, started at the first armed call and kept:

    python -P -m rehearsal.deadline PID

It reads JSON lines on its stdin, a pipe from the watched process: `{"arm": SECONDS,
"message": ..., "db": ..., "plugin": ..., "problem": ...}` before a call, `{"disarm": true}`
when it returns. If an armed deadline passes first, it prints the message to the stderr it
shares with the watched process, remembers the problem for the plugin in the workspace
database (so `rehearsal plugins` names it later) and kills PID with SIGKILL. When the
watched process ends, the pipe closes and the watcher exits. It imports only the standard
library until it has to act.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

EXIT_KILLED = 3      # the watcher's own status when it ended the process


def _act(pid: int, armed: dict) -> None:
    os.write(2, (armed.get("message", "rehearsal: a call ran past its time limit").rstrip("\n") + "\n")
             .encode("utf-8", "replace"))
    if armed.get("db") and armed.get("plugin"):
        try:
            from .store.db import open_db
            from .store.plugin_problems import remember

            db = open_db(armed["db"], migrate_schema=False)
            remember(db, armed["plugin"], armed.get("problem") or armed.get("message", ""))
            db.conn.close()
        except Exception as exc:   # the kill matters more than the record
            os.write(2, f"(the problem could not be remembered in {armed['db']}: {exc})\n".encode())
    os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    pid = int(argv[0])
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is for the watched process
    armed: dict | None = None
    deadline = 0.0
    buffer = b""
    while True:
        timeout = None if armed is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            try:
                _act(pid, armed)
            except ProcessLookupError:
                return 0
            return EXIT_KILLED
        chunk = os.read(0, 65536)
        if not chunk:              # the watched process ended
            return 0
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            order = json.loads(line)
            if "arm" in order:
                armed, deadline = order, time.monotonic() + float(order["arm"])
            else:
                armed = None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
