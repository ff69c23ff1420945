"""Screens by feature (record, review, sessions) and the registry that makes adding one easy.

See registry.py and docs/tui.md ("Adding a screen").
"""

from .registry import BUILTIN_SCREENS, ScreenSpec, register_screen, screen_specs

__all__ = ["BUILTIN_SCREENS", "ScreenSpec", "register_screen", "screen_specs"]
