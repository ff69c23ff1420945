"""The play process's events are typed on the app's side (play/events.py)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import rehearsal.play as play_pkg
from rehearsal.play import events as E
from rehearsal.play.room import PlayRoom

FOLDER = Path(play_pkg.__file__).parent


def test_every_event_the_engine_sends_has_a_type():
    sent = set()
    for name in ("engine.py", "mixer.py"):
        text = (FOLDER / name).read_text()
        sent |= set(re.findall(r'self\.emit\("([a-z-]+)"', text))
        sent |= set(re.findall(r'self\.conn\.send\(\("([a-z-]+)"', text))
    replies = {"ready", "started", "start-failed", "stopped", "stats", "error"}   # answers, not events
    assert sent - replies and sent - replies <= set(E.KINDS), sorted(sent - replies - set(E.KINDS))


def test_payloads_become_fields():
    ev = E.engine_event("switch-failed", {"generation_id": 3, "kind": "crashed", "error": "gone", "input_frame": 512,
                                          "was": "fade", "back_to": 2, "extra": 1})
    assert ev == E.SwitchFailed(generation_id=3, input_frame=512, error="gone", fault="crashed", was="fade", back_to=2)
    assert E.engine_event("no-such-thing", {}).label == "no-such-thing"


def test_the_play_room_dispatches_on_types_not_on_event_names():
    tree = ast.parse(inspect.getsource(PlayRoom))
    compared = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)
                and any(isinstance(c, ast.Constant) and c.value in E.KINDS for c in [n.left, *n.comparators])]
    assert compared == []
