"""The screens of the app: one registry, so a new feature adds a screen in one place.

Each feature module builds its Screen class and registers a `ScreenSpec` at import time:

    register_screen(ScreenSpec(name="curation", title="Curation", key="f4",
                               factory=CurationScreen, order=40, help="..."))

and adds its module name to `BUILTIN_SCREENS` (or a plugin imports its module before the
app starts). The app turns every spec into a Textual *mode* (its own screen stack, kept
while you look elsewhere), an app-level priority key to switch to it, a tab in the top
bar, a command in the command palette and a section in `?` help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

BUILTIN_SCREENS = (
    "rehearsal.tui.screens.record",
    "rehearsal.tui.screens.review",
    "rehearsal.tui.screens.sessions",
    "rehearsal.tui.screens.curation",
    "rehearsal.tui.screens.models",
    "rehearsal.tui.screens.play",
    "rehearsal.tui.screens.notation",
)

_REGISTRY: dict[str, "ScreenSpec"] = {}


@dataclass(frozen=True)
class ScreenSpec:
    name: str                       # the mode name: "record"
    title: str                      # shown in tabs, help and the command palette
    key: str                        # the key that switches to it: "f1" .. "f9"
    factory: Callable               # a Screen subclass (or anything returning a Screen)
    order: int = 100                # tab order
    help: str = ""                  # one line for `?`
    aliases: tuple[str, ...] = field(default=())


def register_screen(spec: ScreenSpec) -> ScreenSpec:
    if not spec.key.startswith("f") or not spec.key[1:].isdigit() or not 1 <= int(spec.key[1:]) <= 9:
        raise ValueError(f"screen {spec.name!r}: key {spec.key!r} must be f1..f9")
    for other in _REGISTRY.values():
        if other.name != spec.name and other.key == spec.key:
            raise ValueError(f"screen {spec.name!r}: {spec.key} is already {other.name!r}'s key")
    _REGISTRY[spec.name] = spec
    return spec


def screen_specs() -> list[ScreenSpec]:
    """Every registered screen, the built-in ones imported first, in tab order."""
    for module in BUILTIN_SCREENS:
        importlib.import_module(module)
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))


def screen_bindings(spec: ScreenSpec) -> list:
    """The screen's own keys that say what they do (for `?` help and the command palette),
    read from its class: a screen not visited yet has them too."""
    from textual.binding import Binding

    own = vars(spec.factory).get("BINDINGS", []) if isinstance(spec.factory, type) else []
    return [b for b in own if isinstance(b, Binding) and b.description]


def spec_for_key(key: str) -> ScreenSpec | None:
    return next((s for s in _REGISTRY.values() if s.key == key), None)
