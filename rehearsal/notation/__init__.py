"""Notations: a collective's tag vocabulary, read from TOML and validated."""

from .model import Action, KeyBinding, MidiBinding, Notation, Symbol, GESTURES
from .load import NotationError, find_notation, load_notation, parse_notation, shipped_notations, validate_notation

__all__ = [
    "Action", "KeyBinding", "MidiBinding", "Notation", "Symbol", "GESTURES",
    "NotationError", "find_notation", "load_notation", "parse_notation", "shipped_notations", "validate_notation",
]
