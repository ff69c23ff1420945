"""RoomLink: the TUI's handle on the rehearsal room and its marker sources.

The Room's SQLite connection belongs to the thread that opened it, and opening an input,
starting and stopping a take all block (a capture process, a pipe round trip, fsyncs).
So every Room call runs on one dedicated thread ("room"), awaited from named async
workers; the UI thread only ever does things that cannot block:

- `press(key)`: the keyboard source stamps the press and queues it (KeySource);
- `status()`: meters and frame counters from shared memory;
- `submit(TagEvent)`: a non-blocking put on the marker bus.

Bus and room events arrive on other threads (the bus, the recorder's reader). They go
into an inbox, and one coalescing `RoomEvents` message tells the UI to drain it: a flood
of 200 OSC tags a second becomes a few UI updates, not 200 messages.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable

from ..notation import Notation
from .messages import InputInfo, RoomEvents

log = logging.getLogger(__name__)

INBOX_LIMIT = 50_000


class RoomLink:
    def __init__(self, ws, post: Callable, *, who: str | None = None):
        self.ws = ws
        self.post = post                 # thread-safe: App.post_message
        self.who = who
        self.room = None
        self.keys = None                 # KeySource
        self.midi = None                 # MidiSource
        self.osc = None                  # OscSource
        self.midi_error: str | None = None
        self.osc_error: str | None = None
        self.info: InputInfo | None = None
        self.next_notation: Notation | None = None   # chosen while recording: applies at the next take
        self._exec = ThreadPoolExecutor(1, thread_name_prefix="room")
        self._inbox: deque = deque(maxlen=INBOX_LIMIT)
        self._flagged = threading.Event()
        self.dropped_events = 0

    # -- the room thread -----------------------------------------------------------------
    async def call(self, fn, *args, **kwargs):
        """Run `fn` on the room thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self._exec, partial(fn, *args, **kwargs))

    @property
    def ready(self) -> bool:
        return self.room is not None

    @property
    def recording(self) -> bool:
        return self.room is not None and self.room.take is not None

    @property
    def notation(self) -> Notation | None:
        return self.room.notation if self.room else None

    # -- opening -------------------------------------------------------------------------
    async def open(self, session: str, notation: Notation, config, demo: bool = False) -> InputInfo:
        """Open the room on `config` (RecorderConfig). RecorderError if there is no such input."""
        from ..markers.keys import KeySource

        def _open():
            from ..audio import RecorderError
            from ..room import Room

            room = Room(self.ws, session, notation, config)
            room.listen(self._on_event)
            try:
                room.open()
            except (RecorderError, OSError):
                room.db.conn.close()
                raise
            return room

        room = await self.call(_open)
        self.room = room
        self.keys = KeySource(room.bus, room.notation, who=self.who)
        rec = room.recorder
        self.info = InputInfo(device=rec.device, samplerate=rec.samplerate, channels=rec.channels, demo=demo,
                              preroll_s=config.preroll_s)
        return self.info

    async def open_sources(self, midi_ports: tuple[str, ...], midi_virtual: bool, midi_api: str,
                           osc_port: int | None, osc_host: str, osc_allow: tuple[str, ...]) -> list[str]:
        """MIDI and OSC listeners. Failures are reported, never fatal: the room still records."""
        from ..markers.sources import SourceError, open_midi, start_osc

        lines = []
        if midi_ports or midi_virtual:
            def _midi():
                from ..markers.midi import MidiError, list_input_ports

                ports = list(midi_ports)
                if "all" in ports:
                    ports.remove("all")
                    try:
                        found = list_input_ports(midi_api)
                    except MidiError:
                        found = []
                    # our own virtual port shows up among the inputs once opened elsewhere: skip it
                    ports += [p for p in found if "rehearsal" not in p and p not in ports]
                return open_midi(self.room, ports=ports, virtual=midi_virtual, api=midi_api)

            try:
                self.midi = await self.call(_midi)
                lines.append(f"MIDI: listening on {', '.join(self.midi.inputs.port_names) or 'no ports'}")
            except SourceError as exc:
                self.midi_error = str(exc)
                lines.append(f"MIDI unavailable: {exc}")
        if osc_port is not None:
            try:
                self.osc = await start_osc(self.room, host=osc_host, port=osc_port, allow=list(osc_allow))
                lines.append(f"OSC: listening on {self.osc.host}:{self.osc.port}")
            except SourceError as exc:
                self.osc_error = str(exc)
                lines.append(f"OSC unavailable: {exc}")
        return lines

    # -- takes ---------------------------------------------------------------------------
    async def start_take(self) -> dict:
        notation = self.next_notation

        def _start():
            return self.room.start_take(notation)

        take = await self.call(_start)
        if notation is not None:
            self.next_notation = None
            self._apply_to_sources(notation)
        return take

    async def stop_take(self) -> dict:
        if self.keys is not None:
            self.keys.flush()   # a press still in its repeat window belongs to this take
        return await self.call(self.room.stop_take)

    async def set_session(self, name: str) -> int:
        """Make `name` (created if new) the session the next takes go to."""
        return await self.call(self.room.set_session, name)

    async def set_notation(self, notation: Notation) -> bool:
        """Use `notation` now if nothing is recording, else from the next take. True: applied now."""
        if self.room is None:
            return False
        if self.recording:
            self.next_notation = notation
            return False

        await self.call(self.room.set_notation, notation)
        self.next_notation = None
        self._apply_to_sources(notation)
        return True

    def rebind(self, notation: Notation) -> None:
        """Same symbols, new triggers (learnt): the sources switch at once, even mid-take."""
        if self.room is None:
            return
        if self.next_notation is not None and self.next_notation.name == notation.name:
            self.next_notation = notation
        if self.room.notation.name == notation.name:
            self.room.notation = notation
            self._apply_to_sources(notation)

    def _apply_to_sources(self, notation: Notation) -> None:
        for src in (self.keys, self.midi, self.osc):
            if src is not None:
                src.set_notation(notation)

    # -- the UI thread's non-blocking calls ------------------------------------------------
    def press(self, key: str, t: float | None = None) -> bool:
        return self.keys.press(key, t) if self.keys is not None else False

    def submit(self, event) -> bool:
        return self.room.submit(event) if self.room is not None else False

    def status(self):
        if self.room is None:
            return None
        return self.room.recorder.status()

    def preroll_frames_available(self, frames: int) -> int:
        if self.info is None:
            return 0
        return min(frames, int(self.info.preroll_s * self.info.samplerate))

    # -- events from other threads ----------------------------------------------------------
    def _on_event(self, event) -> None:
        if len(self._inbox) == self._inbox.maxlen:
            self.dropped_events += 1     # the UI is far behind; the store has everything anyway
        self._inbox.append(event)
        if not self._flagged.is_set():
            self._flagged.set()
            self.post(RoomEvents())

    def drain(self) -> list:
        """Everything that arrived since the last drain (UI thread)."""
        self._flagged.clear()
        out = []
        while self._inbox:
            out.append(self._inbox.popleft())
        return out

    # -- closing -------------------------------------------------------------------------
    async def close(self) -> None:
        if self.osc is not None:
            self.osc.close()
            self.osc = None
        if self.room is None:
            self._exec.shutdown(wait=False)
            return

        def _close():
            if self.keys is not None:
                self.keys.close()
            if self.midi is not None:
                try:
                    self.midi.close()
                except Exception:
                    log.exception("closing MIDI")
            self.room.close()

        try:
            await self.call(_close)
        finally:
            self.room = None
            self._exec.shutdown(wait=False)

    def close_blocking(self, timeout: float = 30.0) -> None:
        """For exits that have no event loop any more (tests, crashes): close on the room thread."""
        if self.room is None:
            return
        room, keys, midi = self.room, self.keys, self.midi
        self.room = None

        def _close():
            if keys is not None:
                keys.close()
            if midi is not None:
                midi.close()
            room.close()

        self._exec.submit(_close).result(timeout)
        self._exec.shutdown(wait=False)
