"""Open the marker sources a Room needs (MIDI, OSC) from front-end options.

The glue between the CLI/TUI options and the source modules, so both front ends open
sources the same way. Errors are `SourceError` with a message fit for the user.
"""

from __future__ import annotations


class SourceError(RuntimeError):
    pass


def open_midi(room, ports: list[str], virtual: bool, api: str = "auto"):
    from .midi import VIRTUAL_PORT, MidiError, MidiSource

    try:
        return MidiSource(room.bus, room.notation, ports=ports, virtual=VIRTUAL_PORT if virtual else None, api=api)
    except MidiError as exc:
        raise SourceError(f"MIDI: {exc}") from None


async def start_osc(room, host: str, port: int, allow: list[str]):
    from .osc import OscError, OscSource

    try:
        return await OscSource(room.bus, room.notation, host=host, port=port, allow=allow).start()
    except OscError as exc:
        raise SourceError(f"OSC: {exc}") from None
