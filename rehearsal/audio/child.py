"""The app's side of an audio child process (capture, play engine).

Both run as `python -P -m <module> FD SHM CONFIG_JSON` (launch.py): a plain subprocess, not
multiprocessing (spawn would re-import the app's main module, and nothing of the app
belongs in there). Commands and replies travel over a socketpair; a reader thread sorts
replies (answers to a command) from events (anything the child says on its own), and
status that changes every block is read from shared memory without asking.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import subprocess
import threading
from multiprocessing.connection import Connection
from dataclasses import asdict
from typing import Callable

from ..launch import end_child, python_module

log = logging.getLogger(__name__)


class ChildProcess:
    def __init__(self, module: str, replies: tuple[str, ...], error: type[Exception], what: str):
        self.module, self.reply_kinds, self.error, self.what = module, replies, error, what
        self.proc: subprocess.Popen | None = None
        self._shm = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._replies: queue.Queue = queue.Queue()
        self._listeners: list[Callable] = []

    def start(self, create_status: Callable, config: dict):
        """Create the shared status block (owned here, freed by stop) and start the child.
        Returns the status array."""
        self._shm, status = create_status()
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            python_module(self.module, str(theirs.fileno()), self._shm.name, json.dumps(config)),
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        threading.Thread(target=self._read, name=f"{self.what}-events", daemon=True).start()
        return status

    def stop(self, quit_message, timeout: float = 10.0) -> None:
        """Ask the child to quit (kill it if it will not), then free the status block.
        Drop every reference to the status array before calling this."""
        if self.proc is not None:
            self.send(quit_message, quiet=True)
            end_child(self.proc, timeout)
            self._conn.close()
            self.proc = None
        if self._shm is not None:
            self._shm.close()
            self._shm.unlink()
            self._shm = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def on_event(self, callback: Callable) -> None:
        """callback((kind, payload)) from the reader thread, for every message that is not a reply."""
        self._listeners.append(callback)

    def send(self, msg, quiet: bool = False) -> None:
        try:
            with self._send_lock:
                self._conn.send(msg)
        except (OSError, EOFError, AttributeError):
            if not quiet:
                raise self.error(f"the {self.what} process is gone") from None

    def reply(self, timeout: float, *expected: str):
        """The next reply of one of the `expected` kinds; stale replies are dropped."""
        while True:
            try:
                kind, payload = self._replies.get(timeout=timeout)
            except queue.Empty:
                raise self.error(f"the {self.what} process did not answer within {timeout:.0f} s") from None
            if kind == "error":
                raise self.error(payload)
            if kind == "gone":
                raise self.error(f"the {self.what} process ended unexpectedly")
            if kind in expected:
                return kind, payload
            log.debug("dropping stale reply %s", kind)

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                self._replies.put(("gone", None))
                self._notify(("gone", {}))
                return
            kind = msg[0]
            if kind in self.reply_kinds:
                self._replies.put((kind, msg[1]))
                continue
            if kind == "error":  # the child failed: whoever waits for a reply must hear it
                self._replies.put(("error", msg[1]))
            self._notify((kind, msg[1] if len(msg) > 1 else {}))

    def _notify(self, event) -> None:
        for cb in self._listeners:
            try:
                cb(event)
            except Exception:  # a listener's bug must not stop event delivery
                log.exception("%s event listener failed", self.what)


class EngineClient:
    """The app's handle on an audio child (Recorder, Player): opening waits for the child's
    "ready", closing quits it and frees the status block, events come on the reader thread,
    and `frame_at` reads the child's clock from shared memory (the marker bus's SampleClock).

    A subclass sets the child's module, reply kinds, error type and status layout, and
    reads what "ready" says in `_ready`."""

    module = ""
    replies: tuple[str, ...] = ()
    error: type[Exception] = RuntimeError
    what = ""
    status_module = None          # has create_status() and read_clock(st)

    def __init__(self, config):
        self.config = config
        self._st = None                    # created by open(): nothing to leak if it never opens
        self._child = ChildProcess(self.module, self.replies, self.error, self.what)
        self.samplerate = self.channels = 0
        self.device = ""
        self.pid = None
        self.cycle_counter = False         # the child finds missed cycles from JACK's counter

    def open(self, timeout: float = 20.0):
        self._st = self._child.start(self.status_module.create_status, asdict(self.config))
        try:
            _, payload = self._child.reply(timeout, "ready")
        except self.error:
            self.close()
            raise
        self.samplerate, self.channels, self.device, self.pid = (
            payload["samplerate"], payload["channels"], payload["device"], payload["pid"])
        self.cycle_counter = bool(payload.get("cycle_counter"))
        self._ready(payload)
        return self

    def _ready(self, payload: dict) -> None:
        """What else the child's "ready" says."""

    def miss_cycles(self, n: int = 1) -> None:
        """Test hook: the child's audio callback returns at once for its next n cycles, as a
        client too late for them does; the frames of those cycles never reach it (the tests
        of lost-frame detection provoke a real missed cycle this way)."""
        self._child.send(("miss-cycles", int(n)))

    def close(self, timeout: float = 10.0) -> None:
        self._st = None   # the view into shared memory must go before the block is freed
        self._child.stop(("quit",), timeout)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def on_event(self, callback: Callable) -> None:
        """callback((kind, payload)) from the reader thread."""
        self._child.on_event(callback)

    @property
    def alive(self) -> bool:
        return self._child.alive

    def wait_gone(self, timeout: float = 2.0) -> None:
        """The child closed its end: wait (briefly) until it is reaped, so `ended` can say how."""
        try:
            if self._child.proc is not None:
                self._child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def ended(self) -> tuple[int, str] | None:
        """None while the child runs; once it has died, (the last stream frame it counted,
        why in words). The marker bus refuses every tap after that frame with these words."""
        proc = self._child.proc
        if proc is None or proc.poll() is None or self._st is None:
            return None
        code = proc.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        frames = int(self._st[self.status_module.FRAMES])
        return frames, (f"the {self.what} process died ({how}) at {frames / max(self.samplerate, 1):.1f} s "
                        "of the stream: there is no audio after that to mark")

    def frame_at(self, t_monotonic: float) -> int | None:
        """SampleClock: the stream frame at `t_monotonic` (counting frames is exact; the
        anchor is the child's steady frame/time relation)."""
        if self._st is None:
            return None
        clock = self.status_module.read_clock(self._st)
        if clock is None:
            return None
        frames, anchor = clock
        return frames + round((t_monotonic - anchor) * self.samplerate)


def command_loop(conn, handle: Callable, pump: Callable, interval: float) -> None:
    """The child's main loop: answer commands as they come, `pump()` between them.
    Returns when `handle` says quit (returns False) or the app is gone (pipe closed)."""
    while True:
        try:
            if conn.poll(interval):
                if not handle(conn.recv()):
                    return
        except (EOFError, OSError):
            return  # the app is gone: the caller finishes its takes cleanly
        pump()


def child_main(make: Callable, attach: Callable) -> None:
    """The child's `main`, for `python -P -m <module> FD SHM CONFIG_JSON` (ChildProcess.start):
    attach the app's status block, `make(config, conn, status).serve()`, report a failure
    over the pipe rather than die silently, and let go of the shared memory."""
    import sys
    import traceback

    fd, shm_name, cfg = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    conn = Connection(fd)
    shm, st = attach(shm_name)
    try:
        try:
            make(cfg, conn, st).serve()
        except Exception as exc:
            try:
                conn.send(("error", f"{exc}", traceback.format_exc()))
            except Exception:
                pass
    finally:
        del st
        shm.close()
