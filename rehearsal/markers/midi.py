"""MIDI pedals and controllers as a marker source: python-rtmidi ports, mido parsing.

    rtmidi callback (stamp time.monotonic() first) -> mido.Message -> binding -> edge
        -> gesture recogniser (tap / double-tap / long-press) -> bus.submit(TagEvent)

The rtmidi API is chosen explicitly. ALSA is the usual one on a Linux desktop, but it
needs the kernel's sequencer (/dev/snd/seq), which containers and machines without a
sound card lack; there python-rtmidi's default API just fails. JACK works wherever a
JACK server runs, virtual ports included (they show up as `RtMidiIn Client:rehearsal`).
`api="auto"` takes ALSA when /dev/snd/seq opens, else JACK.

Ports are opened with python-rtmidi itself rather than mido's port objects: mido's
backend drops malformed messages silently and does not stamp arrival times; here every
message is stamped in the callback before anything else, and every message that is not
a usable press (sysex, clock, active sensing, garbage) is counted. mido parses.

With the JACK API, rtmidi calls the callback from its JACK process thread: it has to
take the GIL, so the callback does as little as it can (stamp, parse, a dict lookup, a
queue put through the bus) and never blocks.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import mido

from ..notation import Action, MidiBinding, Notation
from .bus import TagEvent
from .gestures import GestureGroup, GestureTiming, Scheduler

log = logging.getLogger(__name__)

APIS = ("auto", "alsa", "jack")
VIRTUAL_PORT = "rehearsal"
CLIENT_NAME = "RtMidiIn Client"   # rtmidi's default: the virtual port is `RtMidiIn Client:rehearsal`
_ALSA_SUFFIX = re.compile(r"\s+\d+:\d+$")   # ALSA port names end in client:port numbers that change


class MidiError(RuntimeError):
    """A MIDI port or API that cannot be opened; the message says what is available."""


# -- API and ports ------------------------------------------------------------------------
def _rtmidi():
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - a dependency
        raise MidiError(f"python-rtmidi is not installed: {exc}") from None
    return rtmidi


def alsa_sequencer_available() -> bool:
    """True when the ALSA sequencer device exists and opens (it does not in containers)."""
    try:
        fd = os.open("/dev/snd/seq", os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def choose_api(api: str = "auto") -> str:
    """'alsa' or 'jack' for `api` ('auto' | 'alsa' | 'jack'), checking it is built in."""
    rtmidi = _rtmidi()
    if api not in APIS:
        raise MidiError(f"unknown MIDI API {api!r}: one of {', '.join(APIS)}")
    compiled = {rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()}
    if api == "auto":
        api = "alsa" if "alsa" in compiled and alsa_sequencer_available() else "jack"
    if api not in compiled:
        raise MidiError(f"python-rtmidi was built without the {api} API (it has: {', '.join(sorted(compiled)) or 'none'})")
    return api


def _api_id(api: str) -> int:
    rtmidi = _rtmidi()
    return {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK}[api]


def _midi_in(api: str, client_name: str = CLIENT_NAME):
    rtmidi = _rtmidi()
    try:
        return rtmidi.MidiIn(rtapi=_api_id(api), name=client_name, queue_size_limit=1024)
    except Exception as exc:  # rtmidi raises its own SystemError subclasses
        hint = ("is a JACK server running? (containers have no ALSA sequencer, so MIDI needs JACK there)"
                if api == "jack" else "is there an ALSA sequencer (/dev/snd/seq)? try --midi-api jack")
        raise MidiError(f"cannot open MIDI ({api}): {exc}; {hint}") from None


def list_input_ports(api: str = "auto") -> list[str]:
    """Ports that send MIDI (pedals, keyboards, DAW outputs) on the chosen API."""
    api = choose_api(api)
    m = _midi_in(api, "rehearsal-probe")
    try:
        return list(m.get_ports())
    finally:
        m.delete()


def stable_port_name(name: str) -> str:
    """A port name without ALSA's client:port numbers, which change between plug-ins."""
    return _ALSA_SUFFIX.sub("", name)


def resolve_port(wanted: str, available: list[str]) -> str:
    """The available port meant by `wanted`: exact, then ignoring case and ALSA numbers,
    then a unique substring. Anything else is an error that lists what there is."""
    if wanted in available:
        return wanted
    folded = wanted.casefold()
    for matcher in (lambda p: p.casefold() == folded,
                    lambda p: stable_port_name(p).casefold() == stable_port_name(wanted).casefold(),
                    lambda p: folded in p.casefold()):
        hits = [p for p in available if matcher(p)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise MidiError(f"MIDI port {wanted!r} is ambiguous: {', '.join(hits)}")
    listing = "\n  ".join(available) if available else "(none)"
    raise MidiError(f"no MIDI input port named {wanted!r}. Available input ports:\n  {listing}")


# -- raw inputs ---------------------------------------------------------------------------
Handler = Callable[[str, "mido.Message | None", bytes, float], None]   # (port, message or None, raw, t)


@dataclass
class _Port:
    name: str          # as shown to people and used in the source name
    rt: object         # rtmidi.MidiIn
    virtual: bool


class MidiInputs:
    """Open MIDI input ports and hand every message, stamped on arrival, to `handler`.

    `handler(port, message, raw, t)` gets message=None for bytes mido cannot parse.
    Opens each named port (resolved against the available ones) and, if `virtual` is a
    name, a virtual input port others connect to. `close()` closes them all.
    """

    def __init__(self, handler: Handler, *, ports: Iterable[str] = (), virtual: str | None = VIRTUAL_PORT,
                 all_ports: bool = False, api: str = "auto"):
        self.handler = handler
        self.api = choose_api(api)
        self._ports: list[_Port] = []
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        self.messages = 0
        self.last: tuple[str, object, float] | None = None    # (port, message or raw bytes, t)
        try:
            wanted = list(ports)
            if wanted or all_ports:
                available = list_input_ports(self.api)
                names = list(dict.fromkeys(resolve_port(w, available) for w in wanted))
                for name in names:
                    self._open(name, virtual=False)
                if all_ports:
                    for name in available:
                        if name in names:
                            continue
                        try:   # one busy or vanished port must not stop listening on the others
                            self._open(name, virtual=False)
                        except MidiError as exc:
                            self.skipped.append(name)
                            log.warning("%s", exc)
            if virtual:
                self._open(virtual, virtual=True)
        except BaseException:
            self.close()
            raise

    def _open(self, name: str, virtual: bool) -> None:
        rt = _midi_in(self.api)
        label = name if virtual else stable_port_name(name)
        try:
            # take everything (sysex, clock, active sensing) so it is counted, not hidden
            rt.ignore_types(sysex=False, timing=False, active_sense=False)
            rt.set_callback(self._callback, label)
            if virtual:
                rt.open_virtual_port(name)
            else:
                rt.open_port(rt.get_ports().index(name))
        except Exception as exc:
            rt.delete()
            raise MidiError(f"cannot open MIDI port {name!r} ({self.api}): {exc}") from None
        self._ports.append(_Port(label, rt, virtual))
        log.info("MIDI: listening on %s%s (%s)", name, " (virtual)" if virtual else "", self.api)

    def _callback(self, event, port_name) -> None:
        t = time.monotonic()   # first: this is when the pedal was pressed, as near as we can know
        raw = bytes(event[0]) if event and event[0] else b""
        try:
            msg = mido.Message.from_bytes(raw)
        except Exception:
            msg = None
        self.messages += 1
        self.last = (port_name, msg if msg is not None else raw, t)   # formatted only when asked
        try:
            self.handler(port_name, msg, raw, t)
        except Exception:  # never let an exception escape into rtmidi's thread
            log.exception("MIDI handler failed")

    @property
    def port_names(self) -> list[str]:
        return [p.name for p in self._ports]

    def close(self) -> None:
        with self._lock:
            ports, self._ports = self._ports, []
        for p in ports:
            try:
                p.rt.cancel_callback()
                p.rt.close_port()
            except Exception:
                log.exception("closing MIDI port %s", p.name)
            finally:
                p.rt.delete()   # frees the rtmidi client (and its JACK client) now, not at GC

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- bindings -----------------------------------------------------------------------------
_IGNORED_TYPES = {
    "sysex": "sysex", "clock": "clock", "start": "transport", "stop": "transport", "continue": "transport",
    "active_sensing": "active sensing", "reset": "transport", "songpos": "transport", "song_select": "transport",
    "quarter_frame": "timecode", "tune_request": "other", "pitchwheel": "unbound", "aftertouch": "unbound",
    "polytouch": "unbound",
}


def _describe(message) -> str:
    return message.hex(" ") if isinstance(message, (bytes, bytearray)) else str(message)


@dataclass(frozen=True)
class _Bound:
    target: object     # Symbol or Action
    port: str
    channel: int


class _Control:
    """One physical control on one port and channel: its gestures and how it reads."""

    __slots__ = ("targets", "binding", "down")

    def __init__(self, targets: dict[str, _Bound], binding: MidiBinding):
        self.targets = targets
        self.binding = binding      # the most specific binding: polarity and threshold come from it
        self.down: bool | None = None   # unknown until the first message


class MidiSource:
    """MIDI marker source: bindings from a notation, gestures, TagEvents onto the bus."""

    def __init__(self, bus, notation: Notation, *, ports: Iterable[str] = (), virtual: str | None = VIRTUAL_PORT,
                 api: str = "auto", timing: GestureTiming | None = None, scheduler: Scheduler | None = None):
        self.bus = bus
        self.counts: Counter = Counter()
        self._group = GestureGroup(self._submit, timing=timing, scheduler=scheduler,
                                   is_action=lambda bound: isinstance(bound.target, Action))
        self.set_notation(notation)
        self.inputs = MidiInputs(self._handle, ports=ports, virtual=virtual, api=api)

    @property
    def api(self) -> str:
        return self.inputs.api

    def set_notation(self, notation: Notation) -> None:
        with self._group.lock:
            self._group.reset()
            self.notation = notation
            self._controls: dict[tuple, _Control | None] = {}
            self._by_key: dict[tuple, list[tuple[object, MidiBinding]]] = {}
            for target, b in notation.bindings():
                self._by_key.setdefault(b.control_key, []).append((target, b))

    def close(self) -> None:
        self.inputs.close()
        self._group.reset()    # taps still in their double-tap window are committed, not lost

    def stats(self) -> dict:
        last = self.inputs.last
        return {
            "api": self.api, "ports": self.inputs.port_names, "messages": self.inputs.messages,
            "last": None if last is None else {"port": last[0], "message": _describe(last[1]), "t": last[2]},
            "counts": dict(self.counts), "gestures": self._group.counts(),
        }

    # -- message handling (rtmidi's thread) -------------------------------------------------
    def _handle(self, port: str, msg, raw: bytes, t: float) -> None:
        if msg is None:
            self.counts["garbage"] += 1
            return
        kind = msg.type
        if kind in ("control_change", "note_on", "note_off", "program_change"):
            self._control_message(port, msg, t)
        else:
            self.counts[_IGNORED_TYPES.get(kind, "other")] += 1

    def _control_message(self, port: str, msg, t: float) -> None:
        if msg.type == "control_change":
            mtype, number, value = "control_change", msg.control, msg.value
        elif msg.type == "program_change":
            mtype, number, value = "program_change", msg.program, None
        else:
            mtype, number = "note", msg.note
            value = msg.velocity if msg.type == "note_on" else 0   # note-on with velocity 0 is a note-off
        with self._group.lock:
            key = (port, mtype, number, msg.channel)
            if key not in self._controls:
                self._controls[key] = self._control_for(port, mtype, number, msg.channel)
            control = self._controls[key]
            if control is None:
                self.counts["unbound"] += 1
                return
            self.counts["used"] += 1
            rec = self._group.recognizer(key, control.targets)
            if mtype == "program_change":
                rec.tap(t)
                return
            b = control.binding
            if mtype == "note":
                pressed = value > 0
            else:
                pressed = value >= b.threshold
            if b.polarity == "inverted":
                pressed = not pressed
            if pressed == control.down:
                return   # no edge: a pedal repeating its value, or a continuous controller moving
            first = control.down is None
            control.down = pressed
            if pressed:
                rec.press(t)
            elif not first:
                rec.release(t)

    def _control_for(self, port: str, mtype: str, number: int, channel: int) -> _Control | None:
        """Merge the bindings that match, most specific first (exact number and channel)."""
        targets: dict = {}
        first: MidiBinding | None = None
        for key in ((mtype, number, channel), (mtype, number, None), (mtype, None, channel), (mtype, None, None)):
            for target, b in self._by_key.get(key, ()):
                targets.setdefault(b.gesture, _Bound(target, port, channel))
                first = first or b
        if not targets:
            return None
        return _Control(targets, first)

    def _submit(self, bound: _Bound, gesture: str, t: float) -> None:
        is_action = isinstance(bound.target, Action)
        self.counts["actions" if is_action else "tags"] += 1
        self.bus.submit(TagEvent(target=bound.target.id, source=f"midi:{bound.port}", t=t, gesture=gesture,
                                 channel=bound.channel, action=is_action))
