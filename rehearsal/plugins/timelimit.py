"""A time limit for one call into a plugin: `with time_limit(seconds, what): step.apply(...)`.

In the main thread a SIGALRM timer raises `TimeLimitExceeded` inside the call, which stops a
Python loop and interrupts a sleep or a blocking read (Python retries those only after running
the handler). In another thread (a Textual worker) a watchdog thread raises the same exception
in the calling thread with `PyThreadState_SetAsyncExc`, which stops Python code at its next
bytecode (a call blocked in C is stopped when it returns).

Neither can stop a call stuck in C (a C loop holding the GIL, a C call that retries after
signals). For that, in the main thread (a command-line process), `last_resort` names who to
blame: a watcher process (rehearsal/deadline.py) started with the call waits the limit plus
`grace_s(seconds)`; if the call has not returned by then it prints the message, remembers the
problem for the plugin in the workspace database and kills this process with SIGKILL. Nothing
is lost by that where the caller writes only after the call (a curation run commits its dataset
in one transaction after every step). In another thread the process is never killed: a call
stuck in C holds that thread until it returns; so the TUI runs curation steps in the main
thread of a child process of their own (curation/process.py), which this ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass


class TimeLimitExceeded(Exception):
    pass


@dataclass(frozen=True)
class LastResort:
    """Who is to blame if the call is stuck in C: the plugin, and the database that remembers it."""
    plugin: str
    db_path: str | None = None


def grace_s(seconds: float) -> float:
    """How long past its limit a call may take to get back to Python before its process is ended."""
    return max(2.0, 0.1 * seconds)


_watcher_proc: subprocess.Popen | None = None
_watcher_pid = 0
_watcher_lock = threading.Lock()


def _send(order: dict) -> None:
    """To this process's watcher (started at first use, one per process)."""
    import json

    from ..launch import python_module

    global _watcher_proc, _watcher_pid
    with _watcher_lock:
        if _watcher_proc is None or _watcher_pid != os.getpid() or _watcher_proc.poll() is not None:
            _watcher_proc = subprocess.Popen(python_module("rehearsal.deadline", str(os.getpid())),
                                             stdin=subprocess.PIPE, close_fds=True)
            _watcher_pid = os.getpid()
        _watcher_proc.stdin.write(json.dumps(order).encode() + b"\n")
        _watcher_proc.stdin.flush()


@contextmanager
def _watcher(seconds: float, what: str, last_resort: LastResort):
    grace = grace_s(seconds)
    _send({"arm": seconds + grace, "plugin": last_resort.plugin, "db": last_resort.db_path,
           "message": f"rehearsal: {what} ran past its time limit of {seconds:g} s and did not get back to "
                      f"Python within {grace:g} s more (stuck in C code): the process was ended, nothing of "
                      f"this run was written",
           "problem": f"{what} was stuck in C code past its time limit of {seconds:g} s; the process was ended"})
    try:
        yield
    finally:
        _send({"disarm": True})


@contextmanager
def time_limit(seconds: float | None, what: str, last_resort: LastResort | None = None):
    if not seconds or seconds <= 0:
        yield
        return
    message = f"{what} ran past its time limit of {seconds:g} s and was stopped"
    if threading.current_thread() is threading.main_thread():
        def _alarm(_signum, _frame):
            raise TimeLimitExceeded(message)

        with (_watcher(seconds, what, last_resort) if last_resort else nullcontext()):
            previous = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        return
    target, done = threading.get_ident(), threading.Event()

    def _watch():
        if not done.wait(seconds):
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(TimeLimitExceeded))

    watchdog = threading.Thread(target=_watch, name="plugin-time-limit", daemon=True)
    watchdog.start()
    try:
        yield
    except TimeLimitExceeded:
        raise TimeLimitExceeded(message) from None
    finally:
        done.set()

