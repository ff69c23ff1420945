"""Glyphs on screen: the symbol's own glyph where the terminal can draw it, its ASCII otherwise.

A terminal cannot be asked whether its font has a glyph. What can be known: the output
encoding (a non-UTF-8 locale cannot even send it), code points that are unassigned or
private (no font is expected to have them), and the Linux console, whose font holds 512
glyphs at most. Anything else is assumed drawable; `--ascii` (or the command palette)
switches every glyph to its ASCII alternative for the terminals that still show boxes.
"""

from __future__ import annotations

import codecs
import locale
import os
import sys
import unicodedata

from rich.cells import cell_len

_UNDRAWABLE_CATEGORIES = {"Cn", "Co", "Cs", "Cc"}


def terminal_is_limited(env: dict | None = None, encoding: str | None = None) -> bool:
    """True when the terminal should get ASCII only: a non-UTF-8 output or the Linux console."""
    env = os.environ if env is None else env
    enc = encoding or getattr(sys.__stdout__, "encoding", None) or locale.getpreferredencoding(False)
    try:
        utf = codecs.lookup(enc).name in ("utf-8", "utf-16", "utf-32")
    except LookupError:
        utf = False
    return not utf or env.get("TERM") == "linux"


def drawable(glyph: str, limited: bool = False) -> bool:
    if not glyph:
        return False
    if limited and any(ord(c) > 0x7E for c in glyph):
        return False
    return all(unicodedata.category(c) not in _UNDRAWABLE_CATEGORIES for c in glyph)


def shown(symbol, ascii_only: bool = False, limited: bool = False) -> str:
    """What to draw for a symbol: its glyph, or its ASCII fallback (or its id)."""
    if not ascii_only and drawable(symbol.glyph, limited):
        return symbol.glyph
    return symbol.ascii or symbol.id[:3]


def width(text: str) -> int:
    return cell_len(text)
