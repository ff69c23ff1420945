"""Open the marker sources a Room needs (MIDI, OSC), whatever module implements them.

The glue between the CLI/TUI options and the source modules, so both front ends open
sources the same way.
"""

from __future__ import annotations


def open_midi(room, ports: list[str], virtual: bool, api: str):
    from . import midi

    raise NotImplementedError("MIDI source wiring pending")  # replaced when markers/midi.py lands


async def start_osc(room, host: str, port: int, allow: list[str]):
    from . import osc

    raise NotImplementedError("OSC source wiring pending")
