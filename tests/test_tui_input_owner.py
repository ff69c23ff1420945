"""One owner of the input: screens never touch `app.link` nor read another screen's state.

An AST check over rehearsal/tui/screens: the app owns the input (tui/input.py) and screens
go through `app.input` and typed messages (PlayWanted / InputHanded / PlayRefused /
PlayEnded). It fails on `app.link` / `self.app.link` (read, assigned or closed), on
`app.views` (reaching into other screens) and on getattr over anything but the screen's own
objects, e.g. getattr(app.views.get("play"), "playing").
"""

from __future__ import annotations

import ast
from pathlib import Path

import rehearsal.tui.screens as screens_pkg
from rehearsal.tui.input import Input, InputState

SCREENS = Path(screens_pkg.__file__).parent


def _is_app(node: ast.AST) -> bool:
    """`app` or `self.app` (or `something.app`)."""
    return (isinstance(node, ast.Name) and node.id == "app") or (isinstance(node, ast.Attribute) and node.attr == "app")


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any((isinstance(n, ast.Attribute) and n.attr in names) or (isinstance(n, ast.Name) and n.id in names)
               for n in ast.walk(node))


def violations(source: str, filename: str = "<src>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr in ("link", "views") and _is_app(node.value):
            found.append(f"{filename}:{node.lineno}: touches app.{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                and node.args and _mentions(node.args[0], {"views", "screen", "screen_stack", "get_screen"})):
            found.append(f"{filename}:{node.lineno}: reads another screen's state with getattr")
    return found


def test_no_screen_touches_app_link_or_another_screens_state():
    files = sorted(SCREENS.glob("*.py"))
    assert len(files) >= 8
    found = [v for f in files for v in violations(f.read_text(), f.name)]
    assert not found, "screens must go through app.input and messages:\n" + "\n".join(found)


def test_the_check_catches_what_it_forbids():
    bad = '''
async def start(self):
    app = self.app
    await app.link.close()
    app.link = RoomLink()
    if self.app.link.ready: pass
    for w in app.workers.cancel_group(app.views.get("record"), "meters"): pass
    if getattr(self.app.views.get("play"), "playing", False): pass
'''
    found = violations(bad)
    assert len(found) == 6, found
    assert not violations("def f(self):\n    self.app.input.ready\n    getattr(room, 'x')\n")


def test_the_input_state_is_explicit(tmp_path):
    class Link:
        ready, recording = True, False

    inp = Input.__new__(Input)
    inp.link, inp.play_close, inp.reopen_after_play = Link(), None, False
    assert inp.state is InputState.IDLE
    Link.recording = True
    assert inp.state is InputState.RECORDING and inp.recording
    Link.recording = False

    async def close():
        pass

    inp.play_close = close
    assert inp.state is InputState.PLAYING and inp.playing
