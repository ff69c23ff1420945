"""Marker sources (MIDI, OSC, keys) and the one bus they all land on."""

from .bus import MarkerBus, TagEvent, SampleClock, Committed, Undone, Redone, Rejected, Delayed, ScoreCue, BusMessage

__all__ = ["MarkerBus", "TagEvent", "SampleClock", "Committed", "Undone", "Redone", "Rejected", "Delayed", "ScoreCue",
           "BusMessage"]
