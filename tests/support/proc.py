"""Run the real `rehearsal` command in a subprocess and read its output as it comes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

REHEARSAL = [sys.executable, "-m", "rehearsal"]


class LiveProcess:
    """A subprocess whose stdout lines and stderr lines are collected by reader threads."""

    def __init__(self, args: list[str], env: dict | None = None, cwd: str | Path | None = None):
        self.proc = subprocess.Popen(
            [*REHEARSAL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr_lines: list[str] = []
        self.stderr_event = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line.rstrip("\n"))

    def _err(self, line: str) -> None:
        with self.stderr_event:
            self.stderr_lines.append(line)
            self.stderr_event.notify_all()

    def wait_stderr(self, needle: str, timeout: float = 30.0) -> str:
        with self.stderr_event:
            ok = self.stderr_event.wait_for(
                lambda: any(needle in l for l in self.stderr_lines) or self.proc.poll() is not None, timeout)
            for l in self.stderr_lines:
                if needle in l:
                    return l
        raise AssertionError(f"{needle!r} not seen on stderr (exit {self.proc.poll()}): {self.stderr_lines[-10:]}")

    def next_json(self, kind: str, timeout: float = 30.0, **match) -> dict:
        """The next JSON line on stdout whose "event" is `kind` and whose fields match."""
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stdout.get(timeout=1)
            except queue.Empty:
                continue
            obj = json.loads(line)
            if obj["event"] == kind and all(obj.get(k) == v for k, v in match.items()):
                return obj
        raise AssertionError(f"no {kind} {match} on stdout; stderr: {self.stderr_lines[-5:]}")

    def kill_group(self, sig) -> None:
        os.killpg(self.proc.pid, sig)
        self.proc.wait(10)

    def finish(self, timeout: float = 60.0) -> tuple[int, list[str], str]:
        rc = self.proc.wait(timeout)
        lines = []
        while not self.stdout.empty():
            lines.append(self.stdout.get())
        return rc, lines, "\n".join(self.stderr_lines)


def run_cli(args: list[str], timeout: float = 120.0, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*REHEARSAL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
