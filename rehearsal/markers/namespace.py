"""The one OSC namespace: every address rehearsal receives, in one table (docs/osc.md).

Each row says the address, the arguments it takes, which rooms answer it (`record`: the
recording room and the TUI; `play`: `rehearsal play`) and the handler that acts on it. The
sources (`markers.osc.OscSource`, `play.osc.PlayOscSource`) look an address up here, check
its arguments against the row's spec and call `on_<handler>(args, arrival)` on themselves;
an address no row names (and no notation binding) is rejected as "unknown address", an
address of the other room as "not here", arguments that do not fit as "wrong types".

To add an address: a row here (and its line in docs/osc.md), and `on_<handler>` on the
source of each room it names. Argument specs, space separated, one per argument:

    s  text          f  a finite number    n  a number, NaN allowed    v  text or an integer
    suffix ?  optional (only at the end)   suffix +  one or more (at most MAX_REPEAT)

`<n>` in an address is a path part holding a positive integer, passed to the handler
as `path["n"]`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MAX_REPEAT = 64
ROOMS = ("record", "play")


class ArgsError(ValueError):
    """The arguments do not fit the row's spec."""


def _kind_ok(kind: str, a) -> bool:
    if kind == "s":
        return isinstance(a, str)
    if kind in ("f", "n"):
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            return False
        return kind == "n" or math.isfinite(float(a))
    if kind == "v":
        return isinstance(a, str) or (isinstance(a, int) and not isinstance(a, bool))
    raise AssertionError(f"unknown argument kind {kind!r}")


def _convert(kind: str, a):
    return float(a) if kind in ("f", "n") else (str(a) if kind == "v" else a)


_WORDS = {"s": "text", "f": "a number", "n": "a number (NaN allowed)", "v": "a name or number"}


@dataclass(frozen=True)
class Address:
    pattern: str                 # "/rehearsal/tag", "/rehearsal/latent/<n>"
    spec: str                    # "s s?": see the module docstring
    handler: str                 # the source's on_<handler>(args, arrival)
    rooms: tuple[str, ...]       # which rooms answer it
    doc: str                     # one line for docs/osc.md and error messages
    names: str = ""              # argument names for messages: "symbol who"
    _regex: re.Pattern = field(init=False, repr=False, compare=False)
    _tokens: tuple = field(init=False, repr=False, compare=False)
    _texts: tuple | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        parts = re.escape(self.pattern).replace(re.escape("<n>"), r"(?P<n>[1-9][0-9]{0,5})")
        object.__setattr__(self, "_regex", re.compile(parts + r"\Z"))
        object.__setattr__(self, "_tokens", tuple((t[0], t[1:]) for t in self.spec.split()))
        # text-only rows (tags, undo, symbol: what floods are made of) check in one line
        texts = all(k == "s" and m in ("", "?") for k, m in self._tokens)
        object.__setattr__(self, "_texts", (sum(m == "" for _, m in self._tokens), len(self._tokens)) if texts else None)
        for kind, mark in self._tokens:
            assert kind in _WORDS and mark in ("", "?", "+"), (self.pattern, kind + mark)
        assert all(r in ROOMS for r in self.rooms), self.pattern

    def match(self, address: str) -> dict | None:
        m = self._regex.match(address)
        if m is None:
            return None
        return {k: int(v) for k, v in m.groupdict().items()}

    def wants(self) -> str:
        """The arguments in words: "<symbol:text> [who:text]"."""
        names = self.names.split()
        out = []
        for i, token in enumerate(self.spec.split()):
            kind, mark = token[0], token[1:]
            word = f"{names[i]}:{_WORDS[kind]}" if i < len(names) else _WORDS[kind]
            out.append(f"[{word}]" if mark == "?" else f"<{word}> ..." if mark == "+" else f"<{word}>")
        return " ".join(out) or "no arguments"

    def parse(self, args) -> list:
        """The arguments converted (numbers as float, names as text); ArgsError if they do not fit."""
        texts = self._texts
        if texts is not None:
            if texts[0] <= len(args) <= texts[1] and all(type(a) is str for a in args):
                return list(args)
            raise ArgsError(self.wants())
        out, i = [], 0
        for kind, mark in self._tokens:
            if mark == "+":
                rest = list(args[i:])
                if not rest or len(rest) > MAX_REPEAT or not all(_kind_ok(kind, a) for a in rest):
                    raise ArgsError(self.wants())
                out += [_convert(kind, a) for a in rest]
                i = len(args)
                continue
            if i >= len(args):
                if mark == "?":
                    continue
                raise ArgsError(self.wants())
            if not _kind_ok(kind, args[i]):
                raise ArgsError(self.wants())
            out.append(_convert(kind, args[i]))
            i += 1
        if i < len(args):
            raise ArgsError(self.wants())
        return out


BOTH = ("record", "play")

# The namespace. Exact addresses are matched before patterns, so /rehearsal/latent/release
# is never read as channel "release".
NAMESPACE: tuple[Address, ...] = (
    Address("/rehearsal/tag", "s s?", "tag", BOTH, "tag a moment with a symbol of the notation", "symbol who"),
    Address("/rehearsal/undo", "s?", "undo", BOTH, "undo the last tag of the same person", "who"),
    Address("/rehearsal/redo", "s?", "redo", BOTH, "redo the last tag undone by the same person", "who"),
    Address("/rehearsal/symbol", "s", "symbol", BOTH,
            "the current symbol (a symbol id of the notation): kept as the source's current symbol and told to"
            " its listeners (no marker is stored), for a model steered by symbols to follow (one that does not take"
            " symbols says so)", "symbol"),
    Address("/rehearsal/score/advance", "s?", "score_advance", BOTH,
            "advance the score being performed (--score) to its next event now, as the notation's score-advance"
            " pedal does", "who"),
    Address("/rehearsal/score/hold", "s?", "score_hold", BOTH,
            "hold the score being performed where it is, or let it go on if held (score-hold)", "who"),
    Address("/rehearsal/latent", "n+", "latent", ("play",),
            "hold the latent's channels, one value each (NaN, or nothing past the last, leaves a channel to the model)",
            "value"),
    Address("/rehearsal/latent/release", "", "latent_release", ("play",), "give the whole latent back to the model"),
    Address("/rehearsal/latent/<n>", "n", "latent_channel", ("play",), "hold latent channel n (1-based) alone",
            "value"),
    Address("/rehearsal/play/mix", "f", "mix", ("play",), "dry/wet, 0..1", "mix"),
    Address("/rehearsal/play/gain", "f", "gain", ("play",), "input gain (linear) into the model", "gain"),
    Address("/rehearsal/play/follow", "f", "follow", ("play",),
            "the co-performer's follow in accompaniment: 0 ignores the performer, 1 mirrors them", "follow"),
    Address("/rehearsal/play/model", "v", "model", ("play",), "switch to a generation (g7, 7, current), faded in",
            "generation"),
    Address("/rehearsal/xy", "f f f?", "xy", ("play",),
            "walk the terrain (docs/training.md): x, y in 0..1 of the map's box, glide seconds (default 0.25);"
            " the latent follows, the walk is recorded with the take", "x y glide"),
)


_EXACT: dict[int, dict[str, Address]] = {}     # by id(namespace): hashing the rows costs more than a look-up


def lookup(address: str, namespace=NAMESPACE) -> tuple[Address, dict] | tuple[None, None]:
    """The row naming `address` and its path parts ({"n": 3}), else (None, None). Exact
    addresses by a dict (a flood of tags costs one look-up each), then the patterns."""
    exact = _EXACT.get(id(namespace))
    if exact is None:
        exact = _EXACT[id(namespace)] = {r.pattern: r for r in namespace if "<" not in r.pattern}
    row = exact.get(address)
    if row is not None:
        return row, {}
    if not address.startswith("/rehearsal/"):
        return None, None
    for row in namespace:
        if "<" in row.pattern:
            path = row.match(address)
            if path is not None:
                return row, path
    return None, None


def markdown_table(namespace=NAMESPACE) -> str:
    """The namespace as the table in docs/osc.md (a test keeps the two equal)."""
    lines = ["| address | arguments | rooms | does |", "|---|---|---|---|"]
    for row in namespace:
        lines.append(f"| `{row.pattern}` | {row.wants()} | {', '.join(row.rooms)} | {row.doc} |")
    return "\n".join(lines)
