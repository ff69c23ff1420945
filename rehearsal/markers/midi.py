"""MIDI pedals and controllers as a marker source: python-rtmidi ports, mido parsing.

    rtmidi's driver thread queues each message with its time (no Python there)
      -> poller thread: press time, mido.Message -> binding -> edge
      -> gesture recogniser (tap / double-tap / long-press) -> bus.submit(TagEvent)

The rtmidi API is chosen explicitly. ALSA is the usual one on a Linux desktop, but it
needs the kernel's sequencer (/dev/snd/seq), which containers and machines without a
sound card lack; there python-rtmidi's default API just fails. JACK works wherever a
JACK server runs, virtual ports included (they show up as `RtMidiIn Client:rehearsal`).
`api="auto"` takes ALSA when /dev/snd/seq opens, else JACK.

Why no Python callback: with the JACK API, rtmidi calls a callback from its JACK process
thread, which must then take the GIL. Measured with one busy Python thread beside it (a
UI, an OSC flood): the callback ran up to 38 ms late (p99 10-27 ms) - the tag late by as
much, and the whole JACK graph held up meanwhile, recorder included. So messages stay in
rtmidi's own queue, stamped there by the driver thread (as deltas from the previous
message), and a poller thread reads them every millisecond. The reading time, less the
deltas to the last message read, is an upper bound of each message's arrival; the
previous message's estimate plus its delta is another: the press time is the smaller
(`_PortClock`), so one promptly read message fixes the times of the ones around it.

Ports are opened with python-rtmidi itself rather than mido's port objects, which drop
malformed messages silently: every message that is not a usable press (sysex, clock,
active sensing, garbage) is counted. mido parses.

The sysex guard (issue 12). rtmidi's input parser (JACK and ALSA back ends) keeps a
"continuing sysex" state: after an event that starts with F0 and does not end with F7
(one unterminated `F0 7D 01` is enough), it appends every later event to that sysex and
queues nothing until some event ends with F7 - every pedal press is swallowed, and
nothing says so. `ignore_types(sysex=True)` does not help: the state is kept all the
same and the swallowed events are then thrown away for good (measured, python-rtmidi
1.5.8). So each input port gets a probe: an rtmidi output of our own, connected to that
port alone, that sends a short complete sysex (`PROBE`) whenever the previous one has come
back - once a JACK cycle. A probe ends any continuing sysex within a cycle; what comes
back as one "sysex" with MIDI status bytes inside it is split again (mido's tokenizer,
no running status) and the messages in it are delivered (counted as "recovered", timed
at the probe's arrival: at most a cycle late), the cut-off sysex counted as
"unterminated sysex". Probes themselves are not delivered or counted as messages.
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
from mido.messages.specs import SPEC_BY_STATUS

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
        return rtmidi.MidiIn(rtapi=_api_id(api), name=client_name, queue_size_limit=QUEUE_LIMIT)
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
    clock: "_PortClock"
    probe: object = None          # rtmidi.MidiOut connected to this port alone (the sysex guard)
    probe_sent: float | None = None   # when the probe in flight was sent; None: none in flight


PROBE = bytes([0xF0, 0x7D, 0x72, 0x65, 0x68, 0xF7])   # non-commercial sysex id 7D, "reh"
PROBE_PORT = "sysex guard"   # the probe's output port (JACK client `rehearsal-probe`)
PROBE_RESEND = 0.5
_STATUS = re.compile(rb"[\x80-\xff]")


class _Sysex:
    """A sysex message as handlers see it (`.type`), without mido's byte-by-byte checks."""

    type = "sysex"
    __slots__ = ("size",)

    def __init__(self, size: int):
        self.size = size

    def __str__(self) -> str:
        return f"sysex ({self.size} bytes)"        # a probe not back by then (a connection not live yet) is sent again


POLL_INTERVAL = 0.001     # seconds between reads of rtmidi's queues
QUEUE_LIMIT = 1 << 16     # messages rtmidi's driver thread queues for the poller: 13 s of 5,000 CC/s.
                          # With 1,024, a poller held up 0.2 s (a busy machine, a flood on OSC)
                          # lost messages (a pedal's tap among them) and rtmidi printed 3 lines
                          # to stderr for each ("MidiInJack: message queue limit reached!!")
CHAIN_LIMIT = 10.0        # deltas longer than this are not chained (clock rates may differ a little)


class _PortClock:
    """Arrival times of a batch of messages read at once from rtmidi's queue.

    rtmidi gives each message its time since the previous one (measured by its driver
    thread). Two upper bounds for a message's arrival: the time the batch was read minus
    the time from it to the batch's last message, and the previous message's estimate
    plus its delta. The smaller one is taken, so one promptly read message fixes the
    times of the ones around it."""

    __slots__ = ("last",)

    def __init__(self):
        self.last: float | None = None

    def arrivals(self, read_at: float, deltas: list[float]) -> list[float]:
        after = [0.0] * len(deltas)          # time from message i to the batch's last message
        for i in range(len(deltas) - 2, -1, -1):
            after[i] = after[i + 1] + max(0.0, deltas[i + 1])
        out = []
        for i, delta in enumerate(deltas):
            t = read_at - after[i]
            if self.last is not None and 0.0 <= delta < CHAIN_LIMIT:
                t = min(t, self.last + delta)
            self.last = t
            out.append(t)
        return out


class MidiInputs:
    """Open MIDI input ports and hand every message, with its arrival time, to `handler`.

    `handler(port, message, raw, t)` is called from one poller thread; message is None
    for bytes mido cannot parse. Opens each named port (resolved against the available
    ones) and, if `virtual` is a name, a virtual input port others connect to.
    `close()` closes them all.
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
        self.recovered = 0     # messages found inside a sysex that swallowed them (see the module doc)
        self.unterminated = 0  # sysex messages cut off by another message (their bytes are dropped)
        self.unguarded: list[str] = []   # ports whose probe could not be connected
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="midi-in", daemon=True)
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
        self._poller.start()

    def _open(self, name: str, virtual: bool) -> None:
        rt = _midi_in(self.api)
        label = name if virtual else stable_port_name(name)
        before = self._input_ports()
        try:
            # take everything (sysex, clock, active sensing) so it is counted, not hidden
            rt.ignore_types(sysex=False, timing=False, active_sense=False)
            if virtual:
                rt.open_virtual_port(name)
            else:
                rt.open_port(rt.get_ports().index(name))
        except Exception as exc:
            rt.delete()
            raise MidiError(f"cannot open MIDI port {name!r} ({self.api}): {exc}") from None
        port = _Port(label, rt, virtual, _PortClock())
        port.probe = self._connect_probe(name, before, rt)
        if port.probe is None:
            self.unguarded.append(label)
        with self._lock:
            self._ports.append(port)
        log.info("MIDI: listening on %s%s (%s)", name, " (virtual)" if virtual else "", self.api)

    def _input_ports(self) -> list[str] | None:
        try:
            out = _rtmidi().MidiOut(rtapi=_api_id(self.api), name="rehearsal-probe")
        except Exception:
            return None
        try:
            return list(out.get_ports())
        finally:
            out.delete()

    def _connect_probe(self, name: str, before: list[str] | None, rt):
        """An rtmidi output connected to the input port just opened: the one input port
        that was not there before (another program may have a port of the same name)."""
        after = self._input_ports()
        new = [p for p in after or () if p not in (before or ())]
        if before is None or len(new) != 1:
            log.warning("MIDI: cannot guard %s against unterminated sysex (its input port is not "
                        "identifiable); an unterminated sysex there would swallow later messages", name)
            return None
        try:
            probe = _rtmidi().MidiOut(rtapi=_api_id(self.api), name="rehearsal-probe")
            probe.open_port(after.index(new[0]), PROBE_PORT)
        except Exception as exc:
            log.warning("MIDI: cannot guard %s against unterminated sysex: %s", name, exc)
            return None
        return probe

    def _send_probe(self, p: _Port, now: float) -> None:
        if p.probe is None or (p.probe_sent is not None and now - p.probe_sent < PROBE_RESEND):
            return
        try:
            p.probe.send_message(PROBE)
            p.probe_sent = now
        except Exception:
            if not self._stop.is_set():
                log.exception("sending the sysex guard's probe to %s", p.name)

    def _poll(self) -> None:
        # real-time where allowed, as the capture writer is: under a loaded machine (load 20
        # on 2 cores, an OSC flood in this process) a plain thread read rtmidi's queue and
        # sent the sysex guard's probe hundreds of ms late, and a pedal's release swallowed
        # by an unterminated sysex came back late enough to make a tap a long-press
        from ..audio.core import raise_priority

        raise_priority()
        while not self._stop.wait(POLL_INTERVAL):
            with self._lock:
                ports = list(self._ports)
            for p in ports:
                try:
                    read_at = time.monotonic()   # an upper bound for everything queued so far
                    batch = []
                    item = p.rt.get_message()
                    while item is not None and len(batch) < 1024:
                        batch.append(item)
                        item = p.rt.get_message()
                    if item is not None:
                        batch.append(item)
                    if batch:
                        times = p.clock.arrivals(read_at, [delta for _, delta in batch])
                        for (data, _), t in zip(batch, times):
                            self._receive(p, bytes(data), t)
                    self._send_probe(p, read_at)
                except Exception:   # a port closed under us, a handler bug: keep polling the others
                    if not self._stop.is_set():
                        log.exception("reading MIDI port %s", p.name)

    def _receive(self, p: _Port, raw: bytes, t: float) -> None:
        """One message from rtmidi's queue: a probe back, a sysex that swallowed others, or a message."""
        if raw.endswith(PROBE):
            p.probe_sent = None          # back: the next one goes out at the next poll
            if len(raw) == len(PROBE):
                return
        if raw[:1] != b"\xf0":
            self._deliver(p.name, raw, t)
        elif _STATUS.search(raw, 1, len(raw) - 1):
            self._split(p.name, raw, t)
        else:   # a sysex: counted, not parsed (mido checks a 30 KB one byte by byte, in Python)
            self._deliver(p.name, raw, t, _Sysex(len(raw)))

    def _split(self, port_name: str, raw: bytes, t: float) -> None:
        """A "sysex" with status bytes inside: what rtmidi's parser made of an unterminated
        sysex and the messages after it. Each status byte starts a message (no running
        status: data bytes after a complete message belong to the sysex); complete ones
        are delivered, the cut-off sysex is counted and dropped."""
        self.unterminated += 1
        marks = [m.start() for m in _STATUS.finditer(raw, 1)]
        for i, pos in enumerate(marks):
            status = raw[pos]
            end = marks[i + 1] if i + 1 < len(marks) else len(raw)
            if status == 0xF7:
                continue
            if status == 0xF0:       # a complete sysex inside (a probe, or a real one): as it is
                if end < len(raw) and raw[end] == 0xF7 and raw[pos:end + 1] != PROBE:
                    self._deliver(port_name, raw[pos:end + 1], t, _Sysex(end + 1 - pos))
                continue
            spec = SPEC_BY_STATUS.get(status)
            length = spec["length"] if spec is not None else 1
            data = raw[pos:min(pos + length, end)]
            if spec is not None and len(data) == length:
                self.recovered += 1
            self._deliver(port_name, data, t)   # an incomplete one is counted as garbage

    def _deliver(self, port_name: str, raw: bytes, t: float, msg=None) -> None:
        if msg is None:
            try:
                msg = mido.Message.from_bytes(raw)
            except Exception:
                msg = None
        self.messages += 1
        self.last = (port_name, msg if msg is not None else raw, t)   # formatted only when asked
        try:
            self.handler(port_name, msg, raw, t)
        except Exception:
            log.exception("MIDI handler failed")

    @property
    def port_names(self) -> list[str]:
        return [p.name for p in self._ports]

    def close(self) -> None:
        self._stop.set()
        if self._poller.is_alive() and threading.current_thread() is not self._poller:
            self._poller.join(2.0)
        with self._lock:
            ports, self._ports = self._ports, []
        for p in ports:
            if p.probe is not None:
                try:
                    p.probe.close_port()
                finally:
                    p.probe.delete()
            try:
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
            "counts": self._counts(), "gestures": self._group.counts(),
            "unguarded": list(self.inputs.unguarded),
        }

    def summary(self) -> str | None:
        """One line in plain words for the end of a recording, when MIDI input was damaged."""
        st = self.stats()
        parts = []
        if self.inputs.unterminated:
            parts.append(f"{self.inputs.unterminated} unterminated sysex swallowed later messages; "
                         f"{self.inputs.recovered} of them recovered from inside it (the sysex bytes were dropped)")
        if st["unguarded"]:
            parts.append(f"not guarded against unterminated sysex: {', '.join(st['unguarded'])}")
        garbage = st["counts"].get("garbage", 0)
        if garbage:
            parts.append(f"{garbage} unparseable messages ignored")
        return f"MIDI: {'; '.join(parts)}" if parts else None

    def _counts(self) -> dict:
        counts = dict(self.counts)
        if self.inputs.unterminated:     # what an unterminated sysex swallowed and what was recovered
            counts["unterminated sysex"] = self.inputs.unterminated
            counts["recovered"] = self.inputs.recovered
        return counts

    # -- message handling (the poller thread) ----------------------------------------------
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
