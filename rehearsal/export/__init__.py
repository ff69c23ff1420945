"""Marker exports for other tools: JSON lines, Audacity labels, Sonic Visualiser, REAPER."""

from .markers import FORMATS, export_markers

__all__ = ["FORMATS", "export_markers"]
