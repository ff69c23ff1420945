"""A port of Sonic Visualiser's CSV import: how SV guesses a CSV's layout and reads it.

Ported line by line from svcore (github.com/sonic-visualiser/svcore, commit 20e7181, Feb 2024;
GPL-2.0-or-later, as is this port): data/fileio/CSVFormat.cpp (guessFormatFor,
guessSeparator, guessQualities, guessPurposes), the parts of data/fileio/CSVFileReader.cpp
that read time instants and regions (load, convertTimeValue) and base/StringBits.cpp
(splitQuoted in EscapeAny mode, stringToDoubleLocaleFree). Unit heuristics
(UnitDatabase) and the dense / audio models are left out: they only choose scale units or
kinds of layer our files never are.

`guess(text)` returns the Format SV's import dialog would offer; `load(text, sr)` the
events SV would put in the layer (frames at the main audio's rate `sr`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# CSVFormat enums
ONE_D, TWO_D, TWO_D_DURATION, TWO_D_DURATION_PITCH, TWO_D_DURATION_EXTENT, THREE_D = (
    "OneDimensionalModel", "TwoDimensionalModel", "TwoDimensionalModelWithDuration",
    "TwoDimensionalModelWithDurationAndPitch", "TwoDimensionalModelWithDurationAndExtent", "ThreeDimensionalModel")
EXPLICIT, IMPLICIT = "ExplicitTiming", "ImplicitTiming"
SECONDS, MILLISECONDS, FRAMES, WINDOWS = "TimeSeconds", "TimeMilliseconds", "TimeAudioFrames", "TimeWindows"
UNKNOWN, START, END, DURATION, VALUE, PITCH, LABEL = (
    "ColumnUnknown", "ColumnStartTime", "ColumnEndTime", "ColumnDuration", "ColumnValue", "ColumnPitch", "ColumnLabel")
HEADER_UNKNOWN, HEADER_ABSENT, HEADER_PRESENT = "HeaderUnknown", "HeaderAbsent", "HeaderPresent"

NUMERIC, INTEGRAL, INCREASING, SMALL, LARGE, SIGNED, NEAR_EMPTY = 1, 2, 4, 8, 16, 32, 64
FLT_MAX = 3.4028234663852886e38


def split_quoted(s: str, separator: str) -> list[str]:
    """StringBits::splitQuoted with EscapeAny (doubling and backslash)."""
    tokens: list[str] = []
    tok = ""
    mode = "beg"
    i = 0
    while i < len(s):
        c = s[i]
        if c == "'":
            if mode in ("beg", "sep"):
                mode = "q1"
            elif mode in ("unq", "q2"):
                tok += c
            else:  # q1
                if i + 1 < len(s) and s[i + 1] == c:
                    tok += c
                    i += 1
                else:
                    mode = "unq"
        elif c == '"':
            if mode in ("beg", "sep"):
                mode = "q2"
            elif mode in ("unq", "q1"):
                tok += c
            else:  # q2
                if i + 1 < len(s) and s[i + 1] == c:
                    tok += c
                    i += 1
                else:
                    mode = "unq"
        elif c == separator or (separator == " " and c.isspace()):
            if mode == "beg":
                mode = "sep"
                tokens.append("")
            elif mode == "sep":
                if separator != " ":
                    tokens.append("")
            elif mode == "unq":
                mode = "sep"
                tokens.append(tok)
                tok = ""
            else:
                tok += c
        elif c == "\\":
            i += 1
            if i < len(s):
                c = s[i]
                if mode in ("beg", "sep"):
                    mode = "unq"
                tok += c
        else:
            if mode in ("beg", "sep"):
                mode = "unq"
            tok += c
        i += 1
    if tok != "" or mode != "beg":
        if mode == "q1":
            tokens.append("'" + tok)
        elif mode == "q2":
            tokens.append('"' + tok)
        else:
            tokens.append(tok)
    return tokens


def qt_to_float(s: str) -> float | None:
    """QString::toFloat: surrounding whitespace ignored, C locale, float range."""
    t = s.strip()
    if not t or "_" in t:
        return None
    try:
        v = float(t)
    except ValueError:
        return None
    if math.isfinite(v) and abs(v) > FLT_MAX:
        return None
    return v


def locale_free(s: str) -> float | None:
    """StringBits::stringToDoubleLocaleFree (digits and dots only; its '-' check never
    advances past the sign, so a negative number is not ok)."""
    i, n = 0, len(s)
    while i < n and s[i].isspace():
        i += 1
    dp, result, ok = 0, 0.0, True
    while i < n:
        c = s[i]
        if c.isdecimal():
            d = float(int(c))
            if dp > 0:
                for _ in range(dp):
                    d /= 10.0
                dp += 1
            else:
                result *= 10.0
            result += d
        elif c == ".":
            dp = 1
        else:
            ok = False
        i += 1
    return result if ok else None


def to_number(s: str) -> float | None:
    v = qt_to_float(s)
    return locale_free(s) if v is None else v


@dataclass
class Format:
    separator: str = ""
    header: str = HEADER_UNKNOWN
    column_count: int = 0
    variable_column_count: bool = False
    qualities: dict = field(default_factory=dict)
    prev: dict = field(default_factory=dict)
    headings: dict = field(default_factory=dict)
    purposes: dict = field(default_factory=dict)
    model: str = TWO_D
    timing: str = EXPLICIT
    units: str = SECONDS
    plausible: set = field(default_factory=set)

    def get_separator(self) -> str:
        return self.separator or ","

    def purpose(self, i: int) -> str:
        return self.purposes.get(i, UNKNOWN)

    # CSVFormat::guessSeparator
    def guess_separator(self, line: str) -> None:
        for c in "\t|,/: ":
            if len(split_quoted(line, c)) >= 2:
                self.plausible.add(c)
                if self.separator == "":
                    self.separator = c

    # CSVFormat::guessQualities
    def guess_qualities(self, line: str, lineno: int) -> None:
        self.guess_separator(line)
        fields = split_quoted(line, self.get_separator())
        cols = len(fields)
        first = 1 if self.header == HEADER_PRESENT else 0
        if lineno == first or cols > self.column_count:
            self.column_count = cols
        if cols != self.column_count:
            self.variable_column_count = True
        default = NUMERIC | INTEGRAL | SMALL | INCREASING | NEAR_EMPTY
        for i in range(cols):
            if i not in self.qualities:
                self.qualities[i] = default
                self.prev[i] = 0.0
            s = fields[i]
            q = self.qualities[i]
            numeric, integral, increasing = bool(q & NUMERIC), bool(q & INTEGRAL), bool(q & INCREASING)
            small, large, signd, emptyish = bool(q & SMALL), bool(q & LARGE), bool(q & SIGNED), bool(q & NEAR_EMPTY)
            if s.strip() != "":
                if lineno > first:
                    emptyish = False
                value = 0.0
                if numeric:
                    v = to_number(s)
                    if v is not None:
                        value = float(v)
                        if lineno < first + 2 and value > 1000.0:
                            large = True
                        if value < 0.0:
                            signd = True
                        if value < -1.0 or value > 1.0:
                            small = False
                    else:
                        numeric = integral = increasing = small = large = signd = False
                if numeric:
                    if integral and ("." in s or "," in s):
                        integral = False
                    if increasing and lineno > first and value <= self.prev[i]:
                        increasing = False
                    self.prev[i] = value
            self.qualities[i] = ((NUMERIC if numeric else 0) | (INTEGRAL if integral else 0)
                                 | (INCREASING if increasing else 0) | (SMALL if small else 0)
                                 | (LARGE if large else 0) | (SIGNED if signd else 0)
                                 | (NEAR_EMPTY if emptyish else 0))
        if lineno == 0 and self.header == HEADER_UNKNOWN:
            could_be = cols > 0
            headings = {}
            for i in range(cols):
                if self.qualities[i] != NEAR_EMPTY:
                    could_be = False
                else:
                    headings[i] = fields[i].strip()
            if could_be:
                self.header = HEADER_PRESENT
                self.headings = headings
            else:
                self.header = HEADER_ABSENT
        if lineno == 0 and self.header == HEADER_PRESENT:
            self.qualities.clear()
            self.prev.clear()

    # CSVFormat::guessPurposes
    def guess_purposes(self) -> None:
        self.timing, self.units = IMPLICIT, WINDOWS
        timing_columns = 0
        have_duration_or_end = False
        primary = 0
        if self.column_count >= 2:
            q0, q1 = self.qualities.get(0, 0), self.qualities.get(1, 0)
            if (q0 & NEAR_EMPTY) and not (q1 & NEAR_EMPTY):
                primary = 1
        for i in range(self.column_count):
            purpose = UNKNOWN
            if i < primary:
                self.purposes[i] = purpose
                continue
            is_primary = i == primary
            q = self.qualities.setdefault(i, 0)
            numeric, integral = bool(q & NUMERIC), bool(q & INTEGRAL)
            increasing, large = bool(q & INCREASING), bool(q & LARGE)
            timing_column = numeric and increasing
            heading = ""
            seen = self.headings.get(i, "")
            if seen != "":
                parts = seen.split()
                heading = parts[0].lower() if parts else ""
            if heading in ("time", "frame", "duration", "endtime"):
                timing_column = True
            if heading in ("value", "height", "label"):
                timing_column = False
            if timing_column:
                timing_columns += 1
                if heading == "endtime":
                    purpose, have_duration_or_end = END, True
                elif heading == "duration":
                    purpose, have_duration_or_end = DURATION, True
                elif is_primary or heading in ("time", "frame"):
                    purpose = START
                    self.timing = EXPLICIT
                    self.units = FRAMES if ((integral and large) or heading == "frame") else SECONDS
                elif timing_columns == 2 and self.timing == EXPLICIT:
                    purpose, have_duration_or_end = END, True
            if purpose == UNKNOWN:
                if heading == "label":
                    purpose = LABEL
                elif numeric or heading in ("value", "height"):
                    purpose = VALUE
                else:
                    purpose = LABEL
            self.purposes[i] = purpose
        values = sum(1 for i in range(self.column_count) if self.purposes[i] == VALUE)
        if values == 2 and timing_columns == 1 and self.timing == EXPLICIT:
            a, b = [i for i in range(self.column_count) if self.purposes[i] == VALUE]
            if (self.qualities[a] & INTEGRAL) != (self.qualities[b] & INTEGRAL):
                timecol = a
                if (self.qualities[a] & INTEGRAL) != (self.qualities.get(0, 0) & INTEGRAL):
                    timecol = b
                self.purposes[timecol] = END if self.qualities[timecol] & INCREASING else DURATION
                have_duration_or_end = True
                values -= 1
        if timing_columns > 1 or have_duration_or_end:
            self.model = TWO_D_DURATION
        else:
            self.model = ONE_D if values == 0 else TWO_D if values == 1 else THREE_D


def _lines(text: str):
    # QTextStream::readLine, then split on '\r' skipping empty parts (CSVFileReader::load)
    for chunk in text.split("\n"):
        for line in chunk.split("\r"):
            if line != "":
                yield line


def guess(text: str) -> Format:
    """CSVFormat::guessFormatFor on the file's text."""
    f = Format()
    lineno = 0
    for line in _lines(text):
        if line.startswith("#") or line == "":
            continue
        f.guess_qualities(line, lineno)
        lineno += 1
        if lineno >= 150:
            break
    f.guess_purposes()
    return f


@dataclass(frozen=True)
class Event:
    frame: int
    duration: int
    value: float
    label: str


_NON_NUMERIC = re.compile(r"[^0-9eE.,+-]")


def _time(s: str, f: Format, sr: int) -> int:
    """CSVFileReader::convertTimeValue (seconds or frames; increment 1 for explicit timing).

    It returns its frame as its bool: a time of frame 0 counts as a failure, so SV skips a
    row starting at 0 s, and a region row whose duration is 0."""
    numeric = _NON_NUMERIC.sub("", s)
    if f.units in (SECONDS, MILLISECONDS):
        t = qt_to_float(numeric)
        if t is None:
            t = locale_free(numeric) or 0.0
        if f.units == MILLISECONDS:
            t /= 1000.0
        return int(t * sr + 0.5)
    try:
        n = int(numeric)
    except ValueError:
        return 0
    return max(n, 0)


def load(text: str, sr: int, f: Format | None = None) -> tuple[Format, list[Event]]:
    """CSVFileReader::load for the sparse models (instants, time-value, regions)."""
    f = f or guess(text)
    if f.timing != EXPLICIT:
        raise AssertionError(f"SV would read row numbers as times (implicit timing): {f}")
    events = []
    at_start = True
    for line in _lines(text):
        if line.startswith("#"):
            continue
        if at_start:
            at_start = False
            if f.header == HEADER_PRESENT:
                continue
        fields = split_quoted(line, f.get_separator())
        frame, duration, end, have_end, value, label, ok = 0, 0, 0, False, 0.0, "", True
        for i, s in enumerate(fields):
            p = f.purpose(i)
            if p == START:
                frame = _time(s, f, sr)
                ok = ok and frame != 0
            elif p == END:
                end = _time(s, f, sr)
                have_end = end != 0
            elif p == DURATION:
                duration = _time(s, f, sr)
                ok = ok and duration != 0
            elif p == VALUE:
                value = qt_to_float(s) or 0.0
            elif p == LABEL:
                label = s
        if not ok:
            continue
        if have_end and end > frame:
            duration = end - frame
        events.append(Event(frame, duration if f.model == TWO_D_DURATION else 0, value, label))
    return f, events
