"""`rehearsal notation learn`: press a pedal, get the binding to paste into a notation.

Pedals differ (CC 64 or 80-83, notes, program changes; 127 on press or 0 on press), so
hearing one press and its release is the reliable way to write its binding. The release
matters: it tells the polarity for sure and whether long-press can work at all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

RELEASE_WAIT = 5.0     # after a press, how long to wait for its release


@dataclass(frozen=True)
class Heard:
    via: str                    # "midi" | "osc"
    port: str                   # MIDI port name or OSC sender address
    type: str = ""              # control_change | note | program_change (MIDI)
    number: int = 0
    channel: int = 0            # 0-15
    press_value: int | None = None
    release_value: int | None = None
    released: bool = False
    address: str = ""           # OSC


class Learner:
    """Collects the first press (MIDI or OSC) and its release; thread-safe."""

    def __init__(self):
        self._cond = threading.Condition()
        self._press: tuple | None = None     # (via, port, type, number, channel, value, pressed_is_on)
        self._release: int | None = None
        self._released = False
        self._osc: tuple[str, str] | None = None
        self._press_at = 0.0
        self.ignored = 0

    # -- input ---------------------------------------------------------------------------
    def midi(self, port: str, msg, raw: bytes, t: float) -> None:
        if msg is None:
            return
        with self._cond:
            if msg.type == "control_change":
                kind, number, value = "control_change", msg.control, msg.value
            elif msg.type in ("note_on", "note_off"):
                kind, number = "note", msg.note
                value = msg.velocity if msg.type == "note_on" else 0
            elif msg.type == "program_change":
                kind, number, value = "program_change", msg.program, None
            else:
                self.ignored += 1     # clock, sysex, pitch bend...: not a pedal
                return
            if self._press is None and self._osc is None:
                self._press = (port, kind, number, msg.channel, value)
                self._press_at = time.monotonic()
                if kind == "program_change":
                    self._released = True   # press only: nothing to wait for
                self._cond.notify_all()
            elif self._press is not None and not self._released:
                p_port, p_kind, p_number, p_channel, p_value = self._press
                if (port, kind, number, msg.channel) == (p_port, p_kind, p_number, p_channel) and value != p_value:
                    if kind == "note" and (value > 0) == (p_value > 0):
                        return
                    self._release, self._released = value, True
                    self._cond.notify_all()

    def osc(self, address: str, args: list, sender: str) -> None:
        if address.startswith("/rehearsal/"):
            self.ignored += 1          # built-in addresses need no binding
            return
        with self._cond:
            if self._press is None and self._osc is None:
                self._osc = (address, sender)
                self._cond.notify_all()

    # -- waiting -------------------------------------------------------------------------
    def wait(self, timeout: float, release_wait: float = RELEASE_WAIT) -> Heard | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._press is None and self._osc is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            if self._osc is not None:
                return Heard("osc", self._osc[1], address=self._osc[0], released=True)
            release_deadline = min(deadline, time.monotonic() + release_wait)
            while not self._released:
                left = release_deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            port, kind, number, channel, value = self._press
            return Heard("midi", port, kind, number, channel, value, self._release, self._released)


    def poll(self, release_wait: float = RELEASE_WAIT) -> Heard | None:
        """What `wait` would return, without waiting: None until a press and its release
        (or `release_wait` seconds after a press without one) have arrived."""
        with self._cond:
            if self._osc is not None:
                return Heard("osc", self._osc[1], address=self._osc[0], released=True)
            if self._press is None or (not self._released and time.monotonic() - self._press_at < release_wait):
                return None
            port, kind, number, channel, value = self._press
            return Heard("midi", port, kind, number, channel, value, self._release, self._released)


def binding_fields(heard: Heard, gesture: str = "tap") -> dict:
    """A heard MIDI press as the fields of a [[symbols.midi]] table (what `snippet` prints)."""
    key = {"control_change": "control", "note": "note", "program_change": "program"}[heard.type]
    fields = {"type": heard.type, key: heard.number, "channel": heard.channel + 1}
    if heard.type == "control_change":
        fields["polarity"], fields["threshold"] = _polarity(heard.press_value, heard.release_value)
    elif heard.type == "note" and heard.press_value == 0:
        fields["polarity"] = "inverted"
    fields["gesture"] = "tap" if heard.type == "program_change" else gesture
    return fields


def snippet(heard: Heard, gesture: str = "tap") -> str:
    """The binding as TOML to paste under a [[symbols]] (or [[actions]]) entry."""
    if heard.via == "osc":
        return (f"# heard OSC from {heard.port}; put this line in a [[symbols]] entry\n"
                f"osc = {_toml_string(heard.address)}\n")
    lines = [f"# heard on MIDI port {heard.port!r}: {_describe(heard)}"]
    if heard.type != "program_change" and not heard.released:
        lines.append("# no release heard: long-press needs a pedal that sends one")
    lines.append("[[symbols.midi]]")
    fields = binding_fields(heard, gesture)
    gesture = fields.pop("gesture")
    for k, v in fields.items():
        lines.append(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}")
    if heard.type == "note" and fields.get("polarity") == "inverted":
        lines[-1] += "    # the pedal sends note-off on press"
    gestures = "tap" if heard.type == "program_change" else "tap, double-tap" + (", long-press" if heard.released else "")
    lines.append(f'gesture = "{gesture}"    # one of: {gestures}')
    return "\n".join(lines) + "\n"


def _polarity(press: int, release: int | None) -> tuple[str, int]:
    """normal: value >= threshold is a press; inverted: below it. With a release heard, the
    threshold sits between the two values; without one, the usual 64."""
    if release is None or release == press:
        return ("normal" if press >= 64 else "inverted"), 64
    lo, hi = sorted((press, release))
    threshold = max(1, (lo + hi + 1) // 2)
    return ("normal" if press > release else "inverted"), threshold


def _describe(h: Heard) -> str:
    ch = f"channel {h.channel + 1}"
    if h.type == "control_change":
        rel = f", {h.release_value} on release" if h.released else ""
        return f"control change {h.number} on {ch}, {h.press_value} on press{rel}"
    if h.type == "note":
        how = "note-on" if h.press_value else "note-off"
        return f"note {h.number} on {ch}, {how} on press" + (", then its release" if h.released else "")
    return f"program change {h.number} on {ch}"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class OscListener:
    """A UDP socket on a thread of its own, handing each OSC message to `handler(address,
    args, sender ip)` (a `Learner`'s `osc`): `notation learn` and the TUI's notation editor
    when no room listens. Raises OSError naming the address when the port cannot be had."""

    def __init__(self, handler, port: int, host: str = "127.0.0.1"):
        import socket

        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="learn-osc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .osc import MAX_PACKET, parse_packet

        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError:   # timeout: look at the stop flag again
                continue
            if len(data) > MAX_PACKET:
                continue
            try:
                messages = parse_packet(data)
            except Exception:
                continue
            for _, msg in messages:
                self.handler(msg.address, msg.params, addr[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.sock.close()
