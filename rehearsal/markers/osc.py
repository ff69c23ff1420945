"""OSC as a marker source: phones (TouchOSC), patches (Max, Pd, SuperCollider), scripts.

    UDP datagram (stamp time.monotonic() first) -> allow-list -> sender's bucket empty? -> size
        -> validate -> python-osc parser -> address -> token bucket -> bus.submit(TagEvent)

Addresses: the namespace's rows for this room (rehearsal.markers.namespace, docs/osc.md:
/rehearsal/tag <symbol> [who], /rehearsal/undo [who], /rehearsal/redo [who],
/rehearsal/symbol <symbol>, /rehearsal/score/advance [who], /rehearsal/score/hold [who]), then every address the notation binds: TouchOSC-style buttons
send 1 on press, 0 on release; a press (no argument, true, or a number >= 0.5) is a tap,
a release is ignored.

A datagram reader of our own, not python-osc's server and dispatcher: the
dispatcher sleeps until a bundle's timetag (one bundle timetagged 2 s ahead froze an event
loop for 2 s), drops parse errors silently, and its packet helper replaces timetags in the
past with "now" — but a timetag in the past is the useful case: a patch stamps the press,
the packet arrives a little later, and the tag must land at the stamp. So bundles are
walked here with python-osc's parsers, and timetags converted to
the monotonic clock: t = timetag - time.time() + time.monotonic(), clamped to
[now - 60 s, now] (the bus then clamps to the take).

Nothing that arrives may crash or stall the loop: each datagram costs bounded work,
every rejection has a reason and a counter, logging is rate-limited, and each sender has
a token bucket that sheds floods: a message costs a token (a datagram's first one is paid
on arrival, before parsing, so garbage costs its sender too). The buckets share one bound
across senders (issue 12: 8 senders each under a per-sender limit flooded the bus):
TOTAL_RATE messages/s, split evenly between the senders heard in the last second, so a
sender under its fair share never loses a tag because others flood, however many they
are (up to 4 x RECENT_SENDERS are told apart). A sender whose bucket is empty has its
datagrams dropped unparsed ("rate limited"): a flood costs a read and a lookup a datagram.

The socket is read by a thread of our own ("osc-in"), not by the event loop: under a flood of 14,000
datagrams/s from 8 senders on a loaded machine, the loop (asyncio's transport, one pass
per datagram) fell behind and the kernel dropped datagrams of every sender alike, the
legitimate one's too, when the receive buffer filled (RECEIVE_BUFFER, forced past
rmem_max where allowed). The thread stamps each datagram, drops what the allow-list,
the sender's bucket or the size rule refuse, and queues the rest for the event loop
(INBOX at most), which parses and handles them as before, DRAIN per turn: handlers
and listeners still run on the loop's thread. `close` handles what is queued.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import NamedTuple

from pythonosc import osc_bundle, osc_message
from pythonosc.parsing import osc_types

from ..notation import Action, Notation
from . import namespace
from .bus import Summary, TagEvent

log = logging.getLogger(__name__)
# python-osc logs per element it cannot identify (one line per unknown type-tag character:
# 100 packets of 8 KB became 800,000 lines). Every datagram is validated here before it
# reaches python-osc, and python-osc's own logging is silenced: our rejections are counted
# and summarised at most once a second per reason (see OscSource._note).
# python-osc logs through the root logger (logging.warning), so the filter sits there.


def _not_pythonosc(record: logging.LogRecord) -> bool:
    return "pythonosc" not in record.pathname.replace("\\", "/").split("/")


logging.getLogger("pythonosc").setLevel(logging.CRITICAL + 1)
logging.getLogger().addFilter(_not_pythonosc)

DEFAULT_PORT = 9000          # Wekinator owns 6448 and 12000
DEFAULT_HOST = "127.0.0.1"
MAX_PACKET = 8192            # a tag is a few dozen bytes; a bigger datagram is not for us
MAX_MESSAGES = 64            # messages taken from one packet
MAX_ARGS = 16                # arguments in one message
TYPE_TAGS = frozenset("ifsbTFNhdtc")   # what python-osc parses without complaint and we can use
MAX_NAME = 64                # symbol ids and who names
PAST_LIMIT = 60.0            # a timetag further back than this lands at now - PAST_LIMIT
RATE = 2000.0                # messages (a datagram at least one) per second per sender, sustained
BURST = 2000.0               # and in one burst
TOTAL_RATE = 2000.0          # messages per second from all senders together, split evenly between
                             # the senders heard in the last ACTIVE_S (a bound across senders)
ACTIVE_S = 1.0
RECENT_SENDERS = 16
RECEIVE_BUFFER = 8 << 20     # bytes: a second of a heavy flood, so a busy loop loses nothing
DRAIN = 256                  # datagrams handled per turn of the event loop
INBOX = 5_000                # datagrams read but not yet handled, at most (2.5 s of TOTAL_RATE)

REASONS = (
    "not allowed", "too large", "unparseable", "too many messages", "unknown address",
    "wrong types", "unknown symbol", "rate limited", "internal error", "not here",
)


class OscError(RuntimeError):
    """The listener cannot start as asked (address in use, no allow-list beyond loopback)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Sender:
    tokens: float
    stamp: float
    packets: int = 0
    tags: int = 0
    dropped: int = 0
    last_seen: float = 0.0
    queued: int = 0             # datagrams of this sender read but not yet handled


class Arrival(NamedTuple):
    """Where and when a message came from: what every handler gets besides its arguments."""

    ip: str
    sender: _Sender
    timetag: float | None
    t: float
    wall: float


class OscSource:
    """Listen for OSC tags on UDP; `await start()` inside a running event loop."""

    ROOM = "record"                  # which rows of the namespace this source answers

    def __init__(self, bus, notation: Notation, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 allow: list[str] | tuple[str, ...] | None = None, rate: float = RATE, burst: float = BURST,
                 total_rate: float = TOTAL_RATE):
        allowed = set()
        for a in allow or ():
            try:
                allowed.add(str(ipaddress.ip_address(a)))
            except ValueError:
                raise OscError(f"OSC allow-list: {a!r} is not an IP address") from None
        if not is_loopback(host) and not allowed:
            raise OscError(
                f"refusing to listen for OSC on {host}: OSC has no authentication, so listening beyond "
                f"this machine needs an allow-list of sender addresses (--osc-allow IP)")
        if not 0 < rate <= 1_000_000 or not 1 <= burst <= 1_000_000 or not 0 < total_rate <= 10_000_000:
            raise OscError("OSC rate limit: rate and burst must be positive")
        self.bus = bus
        self.host, self.port = host, port
        self.allowed = allowed          # empty on loopback: anything local may send
        self.rate, self.burst, self.total_rate = rate, burst, total_rate
        self._share = (rate, burst)     # (rate, burst) of each sender now: see _update_share
        self._share_at = -1e9
        self._active = 1                # senders heard in the last ACTIVE_S
        self.counts: Counter = Counter()          # the event loop's (stats() adds the reader's)
        self._front_counts: Counter = Counter()   # the reader thread's: datagrams it dropped
        self._senders: OrderedDict[str, _Sender] = OrderedDict()
        self._lock = threading.Lock()             # senders and their buckets (both threads)
        self._summary = Summary(log)
        self._front_summary = Summary(log)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None
        self._inbox: deque = deque()
        self._wake_pending = False
        self._closing = False
        # learn mode (the TUI's notation editor): hears every parsed message first,
        # as listener(address, args, sender ip), on the event loop's thread
        self.listener = None
        self.symbol: str | None = None          # the last /rehearsal/symbol
        self.symbol_listeners: list = []
        self.set_notation(notation)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> "OscSource":
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as exc:
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {exc.strerror or exc}") from None
        try:
            sock.settimeout(0.5)        # the reader looks at `_closing` at least this often
            # room for a burst while the loop is busy elsewhere, instead of kernel drops;
            # FORCE passes the system's rmem_max where allowed (root, CAP_NET_ADMIN)
            for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
                try:
                    if option is not None:
                        sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
                        break
                except OSError:
                    pass
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._sock, self._loop = sock, loop
        self.port = sock.getsockname()[1]         # port 0 asks the system for a free one
        self._reader = threading.Thread(target=self._read, args=(sock,), name="osc-in", daemon=True)
        self._reader.start()
        log.info("OSC: listening on %s:%d%s", self.host, self.port,
                 f" (allowed: {', '.join(sorted(self.allowed))})" if self.allowed else "")
        return self

    def close(self) -> None:
        """Stop reading; what was read is handled now (on the caller's thread: the loop's)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._closing = True
        try:   # wake the reader's recvfrom with an empty datagram of our own (else its timeout does)
            here = sock.getsockname()
            with socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
                poke.sendto(b"", ("::1" if sock.family == socket.AF_INET6 else "127.0.0.1", *here[1:]))
        except OSError:
            pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2.0)
        sock.close()
        self._handle_inbox(len(self._inbox))

    @property
    def listening(self) -> bool:
        return self._sock is not None and self._reader is not None and self._reader.is_alive()

    def set_notation(self, notation: Notation) -> None:
        self.notation = notation
        self._addresses = notation.osc_targets()

    def stats(self) -> dict:
        now = time.monotonic()
        with self._lock:
            senders = list(self._senders.items())
        return {
            "address": self.host, "port": self.port, "listening": self.listening,
            "allowed": sorted(self.allowed),
            "counts": dict(Counter(dict(self.counts)) + Counter(dict(self._front_counts))),
            "senders": [
                {"ip": ip, "packets": s.packets, "tags": s.tags, "dropped": s.dropped,
                 "seconds_ago": round(now - s.last_seen, 1)}
                for ip, s in reversed(senders)
            ],
        }

    # -- the reader thread -------------------------------------------------------------------
    def _read(self, sock: socket.socket) -> None:
        try:   # ahead of the machine's other work where allowed (not real-time: see the module doc)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        except (OSError, AttributeError):
            pass
        while not self._closing:
            try:
                data, addr = sock.recvfrom(MAX_PACKET + 1)   # longer ones are cut: "too large"
            except (socket.timeout, InterruptedError):
                continue
            except OSError as exc:
                if not self._closing:
                    self._front_drop("?", "socket error", str(exc))
                    time.sleep(0.01)
                continue
            if self._closing:
                return
            t = time.monotonic()        # first: arrival time, before any parsing
            ip = addr[0]
            try:
                sender = self._front(data, ip, t)
            except Exception as exc:    # never let one packet take the listener down
                self._front_drop(ip, "internal error", f"{type(exc).__name__}: {exc}")
                continue
            if sender is None:
                continue
            if len(self._inbox) >= INBOX and sender.queued >= INBOX // max(1, self._active):
                # the loop is behind: only a sender past its share of the inbox loses datagrams
                self._front_drop(ip, "overrun", f"{INBOX} datagrams wait for the event loop", sender)
                continue
            sender.queued += 1
            self._inbox.append((data, ip, sender, t, time.time()))
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    self._loop.call_soon_threadsafe(self._on_loop)
                except RuntimeError:    # the loop is closed
                    return

    def _front(self, data: bytes, ip: str, t: float) -> _Sender | None:
        """What the reader thread refuses without parsing; the sender, or None if dropped."""
        if self.allowed and ip not in self.allowed:
            self._front_drop(ip, "not allowed", f"sender {ip} is not on the allow-list")
            return None
        with self._lock:
            sender = self._sender(ip, t)
            sender.packets += 1
        if not self._take_tokens(sender, 1, t):    # flooding: not worth parsing
            self._front_drop(ip, "rate limited", f"more than its share of {self.total_rate:.0f} messages/s", sender)
            return None
        if len(data) > MAX_PACKET:
            self._front_drop(ip, "too large", f"{len(data)} bytes (at most {MAX_PACKET})", sender)
            return None
        return sender

    def _front_drop(self, ip: str, reason: str, detail: str, sender: _Sender | None = None) -> None:
        c = self._front_counts
        c["packets"] += 1
        c["rejected"] += 1
        c[reason] += 1
        if sender is not None:
            sender.dropped += 1
        self._front_summary.note(reason, f"OSC from {ip}: {reason}: {detail}", logging.WARNING)

    # -- packets (event loop thread) ---------------------------------------------------------
    def _on_loop(self) -> None:
        self._wake_pending = False      # before handling: a datagram queued from now on wakes again
        self._handle_inbox(DRAIN)
        if self._inbox and not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon(self._on_loop)

    def _handle_inbox(self, most: int) -> None:
        inbox = self._inbox
        for _ in range(most):
            try:
                data, ip, sender, t, wall = inbox.popleft()
            except IndexError:
                return
            sender.queued -= 1
            try:
                self._datagram(data, ip, sender, t, wall)
            except Exception as exc:    # never let one packet take the listener down
                self._reject(ip, "internal error", f"{type(exc).__name__}: {exc}")

    def _datagram(self, data: bytes, ip: str, sender: _Sender, t: float, wall: float) -> None:
        self.counts["packets"] += 1
        try:
            messages = parse_packet(data)
        except _TooMany:
            self._reject(ip, "too many messages", f"more than {MAX_MESSAGES} messages in one packet", sender)
            return
        except Exception as exc:    # python-osc's ParseError, or anything a hostile packet provokes
            self._reject(ip, "unparseable", f"{type(exc).__name__}: {str(exc)[:120]}", sender)
            return
        granted = 1 + self._take_tokens(sender, len(messages) - 1, t)   # the first was paid on arrival
        for timetag, msg in messages[:granted]:
            self._message(msg, timetag, ip, sender, t, wall)
        for _ in messages[granted:]:
            self._reject(ip, "rate limited", f"more than its share of {self.total_rate:.0f} messages/s", sender)

    def _message(self, msg, timetag: float | None, ip: str, sender: _Sender, t: float, wall: float) -> None:
        address, args = msg.address, msg.params
        if self.listener is not None:
            self.listener(address, args, ip)
        arrival = Arrival(ip, sender, timetag, t, wall)
        row, path = namespace.lookup(address)
        if row is not None:
            if self.ROOM not in row.rooms:
                self._reject(ip, "not here", f"{address[:80]} is for {' and '.join(row.rooms)}, not {self.ROOM}", sender)
                return
            try:
                values = row.parse(args)
            except namespace.ArgsError as exc:
                self._reject(ip, "wrong types", f"{address[:80]} wants {exc}, got {_types(args)}", sender)
                return
            getattr(self, f"on_{row.handler}")(values, path, arrival)
        elif address in self._addresses:
            target = self._addresses[address]
            press = _is_press(args)
            if press is None:
                self._reject(ip, "wrong types", f"{address} wants nothing, a bool or a number, got {_types(args)}", sender)
                return
            if not press:
                self.counts["releases"] += 1     # a button's 0 on release: expected, not an error
                return
            self._submit(target.id, isinstance(target, Action), None, arrival)
        else:
            self._reject(ip, "unknown address", f"{address[:80]!r}", sender)

    # -- the namespace's handlers (rehearsal.markers.namespace), both rooms ------------------
    def _known_symbol(self, symbol: str, a: "Arrival") -> bool:
        if self.notation.symbol(symbol) is None:
            self._reject(a.ip, "unknown symbol", f"{symbol[:MAX_NAME]!r} is not in notation {self.notation.name!r}",
                         a.sender)
            return False
        return True

    def on_tag(self, args, path, a: "Arrival") -> None:
        if self._known_symbol(args[0], a):
            self._submit(args[0], False, args[1] if len(args) > 1 else None, a)

    def on_undo(self, args, path, a: "Arrival") -> None:
        self._submit("undo", True, args[0] if args else None, a)

    def on_redo(self, args, path, a: "Arrival") -> None:
        self._submit("redo", True, args[0] if args else None, a)

    def on_score_advance(self, args, path, a: "Arrival") -> None:
        self._submit("score-advance", True, args[0] if args else None, a)

    def on_score_hold(self, args, path, a: "Arrival") -> None:
        self._submit("score-hold", True, args[0] if args else None, a)

    def on_symbol(self, args, path, a: "Arrival") -> None:
        """The current symbol: kept, and told to `symbol_listeners` (a play room steers with it).
        A listener may answer why the symbol steers nothing (the model playing does not take
        symbols): said to the sender's log line, in those words; the symbol is kept all the same."""
        if not self._known_symbol(args[0], a):
            return
        self.symbol = args[0]
        self.counts["symbols"] += 1
        for cb in self.symbol_listeners:
            why = cb(args[0])
            if isinstance(why, str) and why:
                self.counts["symbol not taken"] += 1
                self._note(a.ip, "symbol not taken", why, level=logging.WARNING)

    def _submit(self, target: str, action: bool, who: str | None, a: "Arrival") -> None:
        ip, sender, timetag, t, wall = a
        if who is not None:
            who = "".join(c for c in who if c.isprintable()).strip()[:MAX_NAME] or None
        when = t
        if timetag is not None:
            when = timetag - wall + t
            if when > t:
                self._note(ip, "timetag in the future", f"{when - t:.3f} s ahead: landed now")
                when = t
            elif when < t - PAST_LIMIT:
                self._note(ip, "timetag too old", f"{t - when:.1f} s back: landed {PAST_LIMIT:.0f} s back")
                when = t - PAST_LIMIT
        sender.tags += 1
        self.counts["actions" if action else "tags"] += 1
        self.bus.submit(TagEvent(target=target, source=f"osc:{ip}", t=when, who=who,
                                 gesture="tap", action=action))

    # -- limits and bookkeeping --------------------------------------------------------------
    def _sender(self, ip: str, now: float) -> _Sender:
        s = self._senders.get(ip)
        if s is None:
            s = _Sender(tokens=self.burst, stamp=now)
            self._senders[ip] = s
            if len(self._senders) > 4 * RECENT_SENDERS:   # spoofed sources cannot grow this without bound
                self._senders.popitem(last=False)
        else:
            self._senders.move_to_end(ip)
        s.last_seen = now
        return s

    def _update_share(self, now: float) -> tuple[float, float]:
        """(rate, burst) of each sender: its own limits, or an even split of TOTAL_RATE
        between the senders heard in the last ACTIVE_S if that is less. Recounted at most
        ten times a second (a flood calls this per datagram)."""
        if now - self._share_at >= 0.1:
            self._share_at = now
            active = self._active = max(1, sum(1 for s in self._senders.values() if now - s.last_seen < ACTIVE_S))
            share = self.total_rate / active
            self._share = (min(self.rate, share), max(1.0, min(self.burst, share)))
        return self._share

    def _refill(self, s: _Sender, now: float) -> None:
        rate, burst = self._update_share(now)
        s.tokens = min(burst, s.tokens + (now - s.stamp) * rate)
        s.stamp = now

    def _take_tokens(self, s: _Sender, n: int, now: float) -> int:
        """Up to n of the sender's tokens (one a message); how many it got."""
        if n <= 0:
            return 0
        with self._lock:
            self._refill(s, now)
            got = min(n, int(s.tokens))
            s.tokens -= got
            return got

    def _reject(self, ip: str, reason: str, detail: str, sender: _Sender | None = None) -> None:
        self.counts["rejected"] += 1
        self.counts[reason] += 1
        if sender is not None:
            sender.dropped += 1
        self._note(ip, reason, detail, level=logging.WARNING)

    def _note(self, ip: str, reason: str, detail: str, level: int = logging.INFO) -> None:
        """Log a reason at most once a second, with how many were not logged: a flood of
        10,000 bad packets must not become 10,000 log lines."""
        if level == logging.INFO:
            self.counts[reason] += 1
        self._summary.note(reason, f"OSC from {ip}: {reason}: {detail}", level)


def parse_packet(data: bytes) -> list:
    """[(timetag or None, OscMessage)] for a datagram; raises ValueError (or python-osc's
    ParseError) if any part of it is malformed, _TooMany past MAX_MESSAGES."""
    return list(_walk(data, None, [0]))


def _walk(data: bytes, timetag: float | None, count: list, depth: int = 0):
    """(timetag or None, OscMessage) for every message, each with its innermost bundle's timetag.

    Bundles are walked here (python-osc's OscBundle logs every element it cannot
    identify to the root logger: a flood would become a flood of log lines) with
    python-osc's type readers; messages are parsed by its OscMessage. One bad element
    rejects the whole packet."""
    if osc_bundle.OscBundle.dgram_is_bundle(data):
        if depth > 8:
            raise ValueError("bundles nested too deep")
        stamp, index = osc_types.get_date(data, len(b"#bundle\x00"))
        tag = None if stamp == osc_types.IMMEDIATELY else stamp
        while index < len(data):
            size, index = osc_types.get_int(data, index)
            if size <= 0 or size % 4 or index + size > len(data):
                raise ValueError(f"bundle element of {size} bytes in {len(data) - index} left")
            yield from _walk(data[index:index + size], tag, count, depth + 1)
            index += size
    elif osc_message.OscMessage.dgram_is_message(data):
        count[0] += 1
        if count[0] > MAX_MESSAGES:
            raise _TooMany()
        validate_message(data)
        yield timetag, osc_message.OscMessage(data)
    else:
        raise ValueError("neither an OSC message nor a bundle")


def _osc_string_end(data: bytes, index: int, what: str) -> int:
    """Index after a NUL-terminated, 4-byte padded OSC string starting at `index`."""
    end = data.find(b"\x00", index)
    if end < 0:
        raise ValueError(f"{what} is not terminated")
    return (end // 4 + 1) * 4


def validate_message(data: bytes) -> None:
    """Reject a message python-osc would choke on or log about, before it sees it: an
    unterminated address, a type-tag string that is missing, too long or holds a type
    we do not take. Bounded work: at most MAX_ARGS type tags are looked at."""
    if len(data) % 4:
        raise ValueError(f"message of {len(data)} bytes is not a multiple of 4")
    index = _osc_string_end(data, 0, "address")
    if index >= len(data):
        return                       # no type tags at all: old-style message without arguments
    if data[index:index + 1] != b",":
        raise ValueError("type tags do not start with ','")
    end = data.find(b"\x00", index)
    if end < 0:
        raise ValueError("type tags are not terminated")
    tags = data[index + 1:end]
    if len(tags) > MAX_ARGS:
        raise ValueError(f"{len(tags)} arguments (at most {MAX_ARGS})")
    bad = set(tags.decode("latin-1")) - TYPE_TAGS
    if bad:
        raise ValueError(f"unsupported type tag(s) {''.join(sorted(bad))[:8]!r}")


class _TooMany(Exception):
    pass


def _types(args) -> str:
    return "(" + ", ".join(type(a).__name__ for a in args) + ")" if args else "no arguments"


def _is_press(args) -> bool | None:
    """TouchOSC buttons: 1 on press, 0 on release. None: not a button's value."""
    if not args:
        return True
    if len(args) > 1:
        return None
    v = args[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v == v:   # v == v rules out NaN
        return v >= 0.5
    return None
