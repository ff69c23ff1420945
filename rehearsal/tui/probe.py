"""Timings for the TUI benchmark (bench/tui.py), written only when REHEARSAL_TUI_PROBE is set.

One line per event, `<kind> <numbers...>`, times from time.monotonic() unless said:

    first-frame <wall time.time()> <torch imported 0|1>
    key <key event time> <flash time>         a bound key pressed, and when its flash was drawn
    shown <marker id> <source> <time>         a committed tag drawn in the log (after the refresh)
    ticks <count> <time> <overflows> <recording 0|1>   meter readings so far (each second)
"""

from __future__ import annotations

import os
import sys
import time

_file = None


def enabled() -> bool:
    return bool(os.environ.get("REHEARSAL_TUI_PROBE"))


def write(kind: str, *values) -> None:
    global _file
    path = os.environ.get("REHEARSAL_TUI_PROBE")
    if not path:
        return
    if _file is None:
        _file = open(path, "a", buffering=1, encoding="utf-8")
    _file.write(" ".join([kind, *(f"{v:.6f}" if isinstance(v, float) else str(v) for v in values)]) + "\n")


def first_frame() -> None:
    write("first-frame", time.time(), int("torch" in sys.modules))
