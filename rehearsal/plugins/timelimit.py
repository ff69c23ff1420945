"""A time limit for one call into a plugin: `with time_limit(seconds, what): step.apply(...)`.

In the main thread a SIGALRM timer raises `TimeLimitExceeded` inside the call, which stops a
Python loop and interrupts a sleep or a blocking read (Python retries those only after running
the handler). In another thread (a Textual worker) a watchdog thread raises the same exception
in the calling thread with `PyThreadState_SetAsyncExc`, which stops Python code at its next
bytecode (a call blocked in C is stopped when it returns). Neither can stop a C extension that
never returns to Python; a plugin that does that still holds its process.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from contextlib import contextmanager


class TimeLimitExceeded(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None, what: str):
    if not seconds or seconds <= 0:
        yield
        return
    message = f"{what} ran past its time limit of {seconds:g} s and was stopped"
    if threading.current_thread() is threading.main_thread():
        def _alarm(_signum, _frame):
            raise TimeLimitExceeded(message)

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
