"""Exports for other tools: marker files per take (JSON lines, Audacity, Sonic Visualiser,
REAPER, ELAN, Praat) and the RAVE folder layout (rave.py)."""

from .markers import EXTENSIONS, FORMATS, ONE_TAKE, OutputError, export_markers, output_paths, take_markers_text

__all__ = ["EXTENSIONS", "FORMATS", "ONE_TAKE", "OutputError", "export_markers", "output_paths", "take_markers_text"]
