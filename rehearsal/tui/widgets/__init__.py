"""Widgets of the rehearsal TUI, one module per thing on screen."""

from .flash import Flash
from .meter import Meters
from .palette import Palette
from .status import SourcesStatus
from .taglog import TagLog, TagLogTitle
from .timeline import Mark, Timeline

__all__ = ["Flash", "Mark", "Meters", "Palette", "SourcesStatus", "TagLog", "TagLogTitle", "Timeline"]
