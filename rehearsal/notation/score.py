"""Scores: a sequence of events in a collective's notation, in a text file that reads by hand.

    # Breath piece
    title: Breath piece
    author: ana
    notation: sound-poetry        # a notation name or a .toml path (relative to the score)
    tempo: 60                     # beats per minute, for durations in beats
    count-in: 4b                  # before the first event: beats (b) or seconds (s)

    == A: opening ==              # a section
    p      2s   pp  "close to the microphone"
    ʃ      3b   mf
    [:                            # a repeat: [: ... :] x3 (twice without x)
      t    1b   f
      rest 1b                     # silence, no marker
    :] x3
    == B ==
    tempo: 90                     # a tempo holds from here on
    plosive-k 2b ff "as loud as you can"

One event per line: a symbol (its glyph, its id or its ascii fallback), a duration (`2s`,
`1.5s`, `3b`, `3/2b`), then optionally a dynamic (ppp pp p mp mf f ff fff) and a cue in
double quotes. `#` starts a comment outside a cue. `validate_score` returns every error of a
file, each naming the file, the line and the column, the symbols not in the notation
included; it never raises for bad input. Repeats are unrolled: `Score.events` is what is
performed, with times in seconds from the first event.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .load import NotationError, _suggest, _unsafe, find_notation, load_notation, printable
from .model import Notation

DYNAMICS = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")
HEADER_KEYS = ("title", "author", "notation", "tempo", "count-in")
REST = "rest"
MAX_EVENTS = 20_000          # after unrolling repeats
MAX_SECONDS = 6 * 3600.0
MAX_REPEAT = 99
MAX_NESTING = 8
MAX_LINE = 1000
_DURATION = re.compile(r"^(\d+(?:\.\d+)?|\d+/\d+)(s|b)$")


class ScoreError(ValueError):
    """The first error of a score file; `errors` holds every error found in it."""

    def __init__(self, source: str, line: int | None, column: int | None, message: str,
                 errors: list["ScoreError"] | None = None):
        self.source, self.line, self.column, self.message = source, line, column, message
        self.errors = errors or [self]
        super().__init__("\n".join(e.one_line() for e in self.errors) if errors else self.one_line())

    def one_line(self) -> str:
        where = self.source
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Event:
    index: int              # in performance order, repeats unrolled
    symbol: str | None      # a symbol id of the notation; None for a rest
    glyph: str
    start_s: float          # from the first event (the count-in comes before)
    duration_s: float
    dynamic: str | None
    cue: str
    section: str
    line: int               # where it is written

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Score:
    title: str
    author: str
    notation: Notation
    events: tuple[Event, ...]
    count_in_s: float
    sections: tuple[tuple[str, float], ...]       # (name, start_s)
    source: str = ""
    text: str = field(default="", repr=False)
    sha256: str = ""

    @property
    def duration_s(self) -> float:
        return self.events[-1].end_s if self.events else 0.0

    @property
    def sounding(self) -> tuple[Event, ...]:
        """The events that are not rests: each becomes a marker."""
        return tuple(e for e in self.events if e.symbol is not None)

    def at(self, t: float) -> int | None:
        """The index of the event sounding at `t` s from the first event, None outside."""
        for e in self.events:
            if e.start_s <= t < e.end_s:
                return e.index
        return None


def _tokens(line: str) -> tuple[list[tuple[str, int]], str | None, int | None, str | None]:
    """(tokens with their 1-based columns, the cue, its column, an error) of one event line."""
    out, i, n = [], 0, len(line)
    cue, cue_col = None, None
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            break
        if c == '"':
            j, buf = i + 1, []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(line[j])
                j += 1
            if j >= n:
                return out, None, None, f"{i + 1}:the cue is not closed (a \" is missing)"
            if cue is not None:
                return out, None, None, f"{i + 1}:one cue per event"
            cue, cue_col = "".join(buf), i + 1
            i = j + 1
            continue
        j = i
        while j < n and not line[j].isspace() and line[j] not in '"#':
            j += 1
        out.append((line[i:j], i + 1))
        i = j
    return out, cue, cue_col, None


def _duration(token: str, tempo: float | None) -> tuple[float | None, str | None]:
    m = _DURATION.match(token)
    if not m:
        return None, f"{token!r} is not a duration: seconds (2s, 1.5s) or beats (3b, 3/2b)"
    value, unit = m.groups()
    try:
        amount = float(Fraction(value))
    except (ZeroDivisionError, ValueError):
        return None, f"{token!r} is not a duration"
    if amount <= 0:
        return None, f"{token!r}: a duration must be more than 0"
    if unit == "b":
        if tempo is None:
            return None, f"{token!r} is in beats but no tempo is set (tempo: 60 before it)"
        amount *= 60.0 / tempo
    if amount > 3600:
        return None, f"{token!r}: at most an hour per event"
    return amount, None


class _Reader:
    def __init__(self, text: str, source: str, notation: Notation | None, base: Path | None, workspace_notations):
        self.text, self.source = text, source
        self.notation, self.base, self.workspace_notations = notation, base, workspace_notations
        self.errors: list[ScoreError] = []
        self.header: dict[str, str] = {}
        self.tempo: float | None = None
        self.count_in_s = 0.0
        self.by_name: dict[str, object] = {}

    def fail(self, line: int | None, column: int | None, message: str) -> None:
        self.errors.append(ScoreError(self.source, line, column, message))

    def resolve_notation(self, line: int | None, column: int | None) -> None:
        if self.notation is None:
            name = self.header.get("notation")
            if not name:
                self.fail(None, None, "no notation: write `notation: NAME` (a notation name or a .toml path) at the top")
                return
            try:
                path = find_notation(name, self.workspace_notations)
                if not path.is_absolute() and self.base is not None and not path.exists():
                    path = self.base / path
                self.notation = load_notation(path)
            except NotationError as exc:
                for e in exc.errors:
                    self.fail(line, column, f"notation {name!r}: {e.one_line()}")
                return
        for s in self.notation.symbols:   # id first, then glyph, then ascii: the first claim wins
            for name in (s.id, unicodedata.normalize("NFC", s.glyph), s.ascii):
                if name and name != REST:
                    self.by_name.setdefault(name, s)

    def header_line(self, key: str, value: str, ln: int, col: int, vcol: int) -> None:
        if key == "tempo":
            try:
                bpm = float(value)
            except ValueError:
                bpm = None
            if bpm is None or not 1 <= bpm <= 1000:
                self.fail(ln, vcol, f"tempo: {printable(value)!r}: beats per minute, 1 to 1000")
            else:
                self.tempo = bpm
            return
        if key == "count-in":
            seconds, problem = _duration(value, self.tempo)
            if problem:
                self.fail(ln, vcol, f"count-in: {problem}")
            else:
                self.count_in_s = seconds
            return
        if not value:
            self.fail(ln, vcol, f"{key}: needs a value")
        elif _unsafe(value):
            self.fail(ln, vcol, f"{key}: '{printable(value)}' holds control or invisible characters")
        self.header[key] = value

    def read(self):
        lines = self.text.split("\n")
        events: list[tuple] = []        # (line, symbol, glyph, seconds, dynamic, cue, section) or repeat marks
        section, started, opened = "", False, []
        sections: list[tuple[str, int]] = []
        for ln, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r")
            if len(line) > MAX_LINE:
                self.fail(ln, MAX_LINE + 1, f"line longer than {MAX_LINE} characters")
                continue
            bad = next((i for i, c in enumerate(line) if unicodedata.category(c) in ("Cc", "Cf") and c != "\t"), None)
            if bad is not None:
                self.fail(ln, bad + 1, f"a control or invisible character ({printable(line[bad])})")
                continue
            stripped = line.strip()
            col = len(line) - len(line.lstrip()) + 1
            if not stripped or stripped.startswith("#"):
                continue
            header = re.match(r"^([A-Za-z][A-Za-z-]*)\s*:(?!\])\s*(.*?)\s*(?:#.*)?$", stripped)
            if header and header.group(1).lower() in HEADER_KEYS:
                key = header.group(1).lower()
                vcol = col + stripped.index(":") + 1 + (len(stripped.split(":", 1)[1]) - len(stripped.split(":", 1)[1].lstrip()))
                if key in ("title", "author", "notation") and started:
                    self.fail(ln, col, f"{key}: belongs at the top, before the first event")
                    continue
                if key in ("title", "author", "notation", "count-in") and key in self.header:
                    self.fail(ln, col, f"{key}: is already set on an earlier line")
                    continue
                if key == "count-in":
                    self.header[key] = header.group(2)
                self.header_line(key, header.group(2), ln, col, vcol)
                if key == "tempo" and started:
                    events.append(("tempo", ln, self.tempo))
                continue
            if header and not started and not stripped.startswith(("[:", ":]")):
                known = ", ".join(HEADER_KEYS)
                self.fail(ln, col, f"unknown heading {header.group(1)!r}{_suggest(header.group(1).lower(), HEADER_KEYS)}; "
                          f"the headings are {known}")
                continue
            if not started:
                started = True
                self.resolve_notation(None, None)
            section_m = re.match(r"^==\s*(.*?)\s*==\s*(?:#.*)?$", stripped)
            if section_m:
                section = section_m.group(1) or f"section {len(sections) + 1}"
                sections.append((section, ln))
                events.append(("section", ln, section))
                continue
            if stripped.startswith("[:"):
                rest = stripped[2:].split("#", 1)[0].strip()
                if rest:
                    self.fail(ln, col + 2 + (len(stripped[2:]) - len(stripped[2:].lstrip())),
                              "put the repeat's first event on the line after `[:`")
                if len(opened) >= MAX_NESTING:
                    self.fail(ln, col, f"repeats nested more than {MAX_NESTING} deep")
                    continue
                opened.append(ln)
                events.append(("open", ln, None))
                continue
            if stripped.startswith(":]"):
                rest = stripped[2:].split("#", 1)[0].strip()
                times = 2
                if rest:
                    m = re.match(r"^x\s*(\d{1,6})$", rest)
                    if not m or not 1 <= int(m.group(1)) <= MAX_REPEAT:
                        self.fail(ln, col + 2 + (len(stripped[2:]) - len(stripped[2:].lstrip())),
                                  f"{printable(rest)!r}: a repeat ends `:]` or `:] x3` (1 to {MAX_REPEAT} times)")
                        continue
                    times = int(m.group(1))
                if not opened:
                    self.fail(ln, col, "`:]` closes no repeat (no `[:` before it)")
                    continue
                opened.pop()
                events.append(("close", ln, times))
                continue
            self.event_line(line, ln, section, events)
        for ln in opened:
            self.fail(ln, None, "this repeat is never closed (`:]` is missing)")
        if not started and not self.errors:
            self.fail(None, None, "a score needs at least one event")
        return events, sections

    def event_line(self, line: str, ln: int, section: str, events: list) -> None:
        tokens, cue, cue_col, problem = _tokens(line)
        if problem:
            c, message = problem.split(":", 1)
            self.fail(ln, int(c), message)
            return
        if not tokens:
            self.fail(ln, cue_col, "a cue needs an event before it on its line")
            return
        name, col = tokens[0]
        name = unicodedata.normalize("NFC", name)
        symbol = None
        if name != REST:
            symbol = self.by_name.get(name)
            if symbol is None and self.notation is not None:
                names = [k for k in self.by_name]
                self.fail(ln, col, f"{printable(name)!r} is not a symbol of notation {self.notation.name!r}"
                          f"{_suggest(name, names)}")
        if len(tokens) < 2:
            self.fail(ln, col + len(tokens[0][0]), "a duration must follow the symbol: 2s (seconds) or 3b (beats)")
            return
        seconds, problem = _duration(tokens[1][0], self.tempo)
        if problem:
            self.fail(ln, tokens[1][1], problem)
        dynamic = None
        for tok, c in tokens[2:]:
            if tok in DYNAMICS and dynamic is None:
                dynamic = tok
            elif tok in DYNAMICS:
                self.fail(ln, c, "one dynamic per event")
            else:
                self.fail(ln, c, f"{printable(tok)!r}: after the duration come a dynamic"
                          f" ({' '.join(DYNAMICS)}){_suggest(tok, DYNAMICS)} and a cue in double quotes")
        if cue is not None and name == REST:
            pass
        if seconds is not None and (symbol is not None or name == REST):
            glyph = symbol.glyph if symbol is not None else "·"
            events.append(("event", ln, (symbol.id if symbol else None, glyph, seconds, dynamic, cue or "", section)))

    def unroll(self, items, sections) -> tuple[list[Event], list[tuple[str, float]]]:
        """Repeats expanded, times in seconds. Errors past MAX_EVENTS / MAX_SECONDS."""
        out: list[Event] = []
        section_starts: list[tuple[str, float]] = []
        t = 0.0

        def block(i: int):
            """Items from i to the matching close: (list, index after, times)."""
            body = []
            while i < len(items):
                kind = items[i][0]
                if kind == "open":
                    inner, i, times = block(i + 1)
                    body.append(("repeat", inner, times))
                    continue
                if kind == "close":
                    return body, i + 1, items[i][2]
                body.append(items[i])
                i += 1
            return body, i, 1

        tree, _, _ = block(0)
        over = [False]

        def play(body):
            nonlocal t
            for item in body:
                if over[0]:
                    return
                if item[0] == "repeat":
                    for _ in range(item[2]):
                        play(item[1])
                elif item[0] == "section":
                    if not section_starts or section_starts[-1][0] != item[2] or section_starts[-1][1] != t:
                        section_starts.append((item[2], t))
                elif item[0] == "event":
                    sid, glyph, seconds, dynamic, cue, section = item[2]
                    if len(out) >= MAX_EVENTS or t + seconds > MAX_SECONDS:
                        self.fail(item[1], None, f"the score unrolls to more than {MAX_EVENTS} events or "
                                  f"{MAX_SECONDS / 3600:g} hours")
                        over[0] = True
                        return
                    out.append(Event(len(out), sid, glyph, round(t, 6), seconds, dynamic, cue, section, item[1]))
                    t += seconds

        play(tree)
        return out, section_starts


def validate_score(text: str, source: str = "<score>", notation: Notation | None = None,
                   workspace_notations: Path | None = None) -> tuple[Score | None, list[ScoreError]]:
    """Every error in a score text, in file order; the score when there is none. Never raises
    for bad input. `notation` overrides the file's `notation:` heading."""
    if text.startswith("\ufeff"):
        text = text[1:]
    base = Path(source).parent if source and not source.startswith("<") else None
    r = _Reader(text, source, notation, base, workspace_notations)
    items, sections = r.read()
    events: list[Event] = []
    section_starts: list = []
    if not r.errors:
        events, section_starts = r.unroll(items, sections)
        if not events:
            r.fail(None, None, "a score needs at least one event (only rests and headings here)")
        elif all(e.symbol is None for e in events):
            r.fail(None, None, "a score needs at least one event that is not a rest")
    errors = sorted(r.errors, key=lambda e: (e.line or 0, e.column or 0))
    if errors:
        return None, errors
    title = r.header.get("title") or (Path(source).stem if base is not None else "untitled")
    return Score(title=title, author=r.header.get("author", ""), notation=r.notation, events=tuple(events),
                 count_in_s=r.count_in_s, sections=tuple(section_starts), source=source, text=text,
                 sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()), []


def parse_score(text: str, source: str = "<score>", notation: Notation | None = None,
                workspace_notations: Path | None = None) -> Score:
    score, errors = validate_score(text, source, notation, workspace_notations)
    if errors:
        first = errors[0]
        raise ScoreError(first.source, first.line, first.column, first.message, errors)
    return score


def load_score(path: str | Path, notation: Notation | None = None, workspace_notations: Path | None = None) -> Score:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScoreError(str(path), None, None, "no such score file") from None
    except IsADirectoryError:
        raise ScoreError(str(path), None, None, "is a folder, not a score file") from None
    except UnicodeDecodeError as exc:
        raise ScoreError(str(path), None, None, f"not UTF-8 text ({exc.reason})") from None
    return parse_score(text, str(path), notation, workspace_notations)
