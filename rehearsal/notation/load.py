"""Read and validate notation files. Every error names the file, the line and the field.

tomllib reports syntax errors with a line; it does not keep positions for values, so
`_Locator` finds the line of a field by scanning the text for its table and key.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
import unicodedata
from importlib import resources
from pathlib import Path

from .model import ACTIONS, GESTURES, MIDI_TYPES, Action, KeyBinding, MidiBinding, Notation, Symbol

MAX_SYMBOLS = 64
MAX_DEPTH = 16            # brackets/braces nested deeper than this are refused before tomllib sees them
_ID = re.compile(r"^[^\s/\\\x00-\x1f]{1,64}$")
_OSC_ADDRESS = re.compile(r"^/[^\s#*,?\[\]{}]+$")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def _ascii_of(text: str) -> str:
    """A fallback for terminals that cannot draw a glyph: the id's ASCII letters, or '*'."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip("-_ ")
    return plain[:3] or "*"


class NotationError(ValueError):
    """The first error of a notation file; `errors` holds every error found in it."""

    def __init__(self, source: str, line: int | None, field: str, message: str,
                 errors: list[NotationError] | None = None):
        self.source, self.line, self.field, self.message = source, line, field, message
        self.errors = errors or [self]
        super().__init__("\n".join(e.one_line() for e in self.errors) if errors else self.one_line())

    def one_line(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class _Stop(Exception):
    """Raised by `_Validator.fail` after recording an error: skips the rest of that item."""


def printable(text: str) -> str:
    """Text safe to write to a terminal: control and format characters shown as escapes."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf") else repr(c)[1:-1] for c in str(text))


def _unsafe(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _masked(text: str) -> str:
    """The text with string contents (except quoted keys) and comments blanked, newlines kept,
    so that a multi-line string cannot shift or fake a table header or a key."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if c in "\"'":
            triple = text.startswith(c * 3, i)
            q = c * 3 if triple else c
            j = i + len(q)
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(q, j) or (not triple and text[j] == "\n"):
                    break
                j += 1
            end = min(j + len(q), n)
            is_key = not triple and re.match(r"\s*[=.]", text[end:end + 40] or "") is not None
            if not is_key:
                for k in range(i + len(q), min(j, n)):
                    if out[k] != "\n":
                        out[k] = " "
            i = end
            continue
        i += 1
    return "".join(out)


def _too_deep(masked: str) -> int | None:
    """The line where nesting first passes MAX_DEPTH, else None."""
    depth, line = 0, 1
    for c in masked:
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "\n":
            line += 1
    return None


class _Locator:
    """Maps (table, index, key) to a line number in the TOML text, best effort."""

    def __init__(self, text: str):
        self.lines = _masked(text).split("\n")

    def line(self, table: str | None, index: int | None = None, key: str | None = None,
             sub: str | None = None, sub_index: int | None = None) -> int | None:
        start = 0
        if table:
            start = self._nth_header(f"[[{table}]]", index or 0, 0)
            if start is None:
                start = self._nth_header(f"[{table}]", 0, 0)   # a plain table: [defaults]
            if start is None:
                return None
            if sub:
                sub_start = self._nth_header(f"[[{table}.{sub}]]", sub_index or 0, start + 1)
                if sub_start is not None and self._before_next_item(table, start, sub_start):
                    start = sub_start
                else:
                    key = key or sub
        if key is None:
            return start + 1
        pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
        for i in range(start + (1 if table else 0), len(self.lines)):
            if table and i > start and self.lines[i].lstrip().startswith("[[" + table + "]]"):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1 if table else None

    def _nth_header(self, header: str, n: int, begin: int) -> int | None:
        seen = 0
        for i in range(begin, len(self.lines)):
            if self.lines[i].strip().startswith(header):
                if seen == n:
                    return i
                seen += 1
        return None

    def _before_next_item(self, table: str, start: int, pos: int) -> bool:
        nxt = self._nth_header(f"[[{table}]]", 0, start + 1)
        return nxt is None or pos < nxt


def validate_notation(text: str, source: str = "<notation>") -> tuple[Notation | None, list[NotationError]]:
    """Every error in a notation text, in file order; the notation when there is none.

    Reusable by anything that reads a TOML vocabulary (score files, say): it never raises
    for bad input, and each error names the file, the line and the field."""
    if text.startswith("\ufeff"):   # a UTF-8 byte order mark: editors on Windows write one
        text = text[1:]
    deep = _too_deep(_masked(text))
    if deep is not None:
        return None, [NotationError(source, deep, "", f"nested more than {MAX_DEPTH} levels deep")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [NotationError(source, int(m.group(1)) if m else None, "", f"invalid TOML: {exc}")]
    except RecursionError:
        return None, [NotationError(source, None, "", "nested too deep")]
    v = _Validator(data, text, source)
    try:
        notation = v.notation()
    except _Stop:
        notation = None
    errors = sorted(v.errors, key=lambda e: e.line or 0)
    return (None if errors else notation), errors


def parse_notation(text: str, source: str = "<notation>") -> Notation:
    notation, errors = validate_notation(text, source)
    if errors:
        first = errors[0]
        raise NotationError(first.source, first.line, first.field, first.message, errors)
    return notation


def load_notation(path: str | Path) -> Notation:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotationError(str(path), None, "", "no such notation file") from None
    except UnicodeDecodeError as exc:
        raise NotationError(str(path), None, "", f"not UTF-8 text ({exc.reason})") from None
    return parse_notation(text, str(path))


def shipped_notations() -> dict[str, Path]:
    """The notation files that ship with rehearsal, by file stem."""
    folder = resources.files("rehearsal_notations")
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def find_notation(name_or_path: str, workspace_notations: Path | None = None) -> Path:
    """A path as given, else `<name>.toml` in the workspace's notations/, else a shipped one."""
    as_path = Path(name_or_path)
    if as_path.suffix == ".toml" or as_path.exists():
        return as_path
    if workspace_notations is not None:
        candidate = workspace_notations / f"{name_or_path}.toml"
        if candidate.exists():
            return candidate
    shipped = shipped_notations()
    if name_or_path in shipped:
        return shipped[name_or_path]
    known = ", ".join(sorted(shipped))
    raise NotationError(name_or_path, None, "", f"no notation of that name (shipped: {known})")


class _Validator:
    def __init__(self, data: dict, text: str, source: str):
        self.data, self.text, self.source = data, text, source
        self.loc = _Locator(text)
        self.errors: list[NotationError] = []

    def fail(self, field: str, message: str, table=None, index=None, key=None, sub=None, sub_index=None):
        self.errors.append(NotationError(self.source, self.loc.line(table, index, key, sub, sub_index), field, message))
        raise _Stop

    def each(self, fn, *args):
        """fn(*args), or None when it failed (its error is recorded): the next item is still checked."""
        try:
            return fn(*args)
        except _Stop:
            return None

    def unknown(self, field: str, k: str, known, *where):
        self.fail(field, f"unknown field{_suggest(k, known)}; expected one of {', '.join(sorted(known))}", *where)

    def plain_text(self, field: str, value: str, *where) -> None:
        if _unsafe(value):
            self.fail(field, f"'{printable(value)}' holds control or invisible characters", *where)

    def notation(self) -> Notation:
        d = self.data
        known = {"name", "description", "defaults", "symbols", "actions", "version"}
        for k in d:
            if k not in known:
                self.each(self.unknown, k, k, known, None, None, k)
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            self.each(self.fail, "name", "a notation needs a non-empty name", None, None, "name")
            name = "?"
        else:
            self.each(self.plain_text, "name", name, None, None, "name")
        description = d.get("description", "")
        if not isinstance(description, str):
            self.each(self.fail, "description", "must be text", None, None, "description")
        defaults = d.get("defaults", {})
        if not isinstance(defaults, dict):
            self.each(self.fail, "defaults", "must be a table", None, None, "defaults")
            defaults = {}
        for k in defaults:
            if k not in ("before", "after", "region"):
                self.each(self.unknown, f"defaults.{k}", k, ("before", "after", "region"), "defaults", None, k)
        before = self.each(self._seconds, defaults.get("before", 8.0), "defaults.before", None, None, "before")
        after = self.each(self._seconds, defaults.get("after", 2.0), "defaults.after", None, None, "after")
        before = 8.0 if before is None else before
        after = 2.0 if after is None else after
        region = self.each(self._region, defaults.get("region", ""), "defaults.region", None, None, "region") or ""

        raw_symbols = d.get("symbols")
        if not isinstance(raw_symbols, list) or not raw_symbols:
            self.each(self.fail, "symbols", "a notation needs at least one [[symbols]] entry", None, None, "symbols")
            raw_symbols = []
        if len(raw_symbols) > MAX_SYMBOLS:
            self.each(self.fail, "symbols", f"{len(raw_symbols)} symbols; at most {MAX_SYMBOLS}")
        symbols = tuple(self.each(self._symbol, i, s, before, after, region) for i, s in enumerate(raw_symbols))
        raw_actions = d.get("actions", [])
        if not isinstance(raw_actions, list):
            self.each(self.fail, "actions", "must be a list of [[actions]] tables", None, None, "actions")
            raw_actions = []
        actions = tuple(self.each(self._action, i, a) for i, a in enumerate(raw_actions))
        self._check_unique(symbols, actions)
        if self.errors:
            raise _Stop
        return Notation(
            name=name.strip(), description=description, symbols=symbols, actions=actions,
            source=self.source, text=self.text,
            sha256=hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
        )

    def _seconds(self, value, field, table=None, index=None, key=None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
            self.fail(field, f"must be a number of seconds from 0 to 600, got {value!r}", table, index, key)
        return float(value)

    def _text(self, s: dict, key: str, i: int, table: str, required: bool = True, default: str = "") -> str:
        value = s.get(key, None if required else default)
        if not isinstance(value, str) or (required and not value.strip()):
            what = "is required" if key not in s else f"must be non-empty text, got {value!r}"
            self.fail(f"{table}[{i}].{key}", what, table, i, key if key in s else None)
        self.plain_text(f"{table}[{i}].{key}", value, table, i, key)
        return value

    def _id(self, s: dict, i: int, t: str) -> str:
        """Ids are compared and stored in NFC: two spellings of one letter are one id."""
        sid = self._text(s, "id", i, t)
        if not _ID.match(sid):
            self.fail(f"{t}[{i}].id", f"{sid!r}: no spaces, slashes or control characters, 1-64 characters", t, i, "id")
        return unicodedata.normalize("NFC", sid)

    def _region(self, value, field, table=None, index=None, key=None) -> str:
        if value not in ("", "phrase", "window"):
            self.fail(field, f'must be "phrase" (the phrase the tap follows) or "window" (the fixed '
                             f'[tap - before, tap + after]), got {value!r}', table, index, key)
        return value

    def _symbol(self, i: int, s, before: float, after: float, region: str = "") -> Symbol:
        t = "symbols"
        if not isinstance(s, dict):
            self.fail(f"symbols[{i}]", "must be a table", t, i)
        known = {"id", "glyph", "label", "colour", "color", "meaning", "ascii", "keys", "midi", "osc", "before", "after",
                 "region"}
        for k in s:
            if k not in known:
                self.each(self.unknown, f"symbols[{i}].{k}", k, known, t, i, k)
        sid = self._id(s, i, t)
        glyph = self._text(s, "glyph", i, t)
        if len(glyph) > 8:
            self.fail(f"symbols[{i}].glyph", "at most 8 characters", t, i, "glyph")
        label = self._text(s, "label", i, t, required=False, default=sid) or sid
        colour_key = "colour" if "colour" in s else "color"
        colour = self._text(s, colour_key, i, t, required=False, default="#888888")
        if not _HEX.match(colour):
            try:
                from rich.color import Color  # rich ships with textual; knows CSS colour names
                Color.parse(colour)
            except Exception:
                self.fail(f"symbols[{i}].{colour_key}", f"{colour!r} is not a colour (#rrggbb or a name)", t, i, colour_key)
        ascii_alt = self._text(s, "ascii", i, t, required=False, default="")
        if ascii_alt and not ascii_alt.isascii():
            self.fail(f"symbols[{i}].ascii", f"{ascii_alt!r} is not ASCII", t, i, "ascii")
        return Symbol(
            id=sid, glyph=glyph, label=label, colour=colour,
            meaning=self._text(s, "meaning", i, t, required=False),
            ascii=ascii_alt or (glyph if glyph.isascii() else _ascii_of(sid)),
            keys=self._keys(s.get("keys", []), t, i),
            midi=self._midis(s.get("midi", []), t, i),
            osc=self._oscs(s.get("osc", []), t, i),
            before_s=self._seconds(s.get("before", before), f"symbols[{i}].before", t, i, "before"),
            after_s=self._seconds(s.get("after", after), f"symbols[{i}].after", t, i, "after"),
            region=self._region(s.get("region", region), f"symbols[{i}].region", t, i, "region"),
        )

    def _action(self, i: int, a) -> Action:
        t = "actions"
        if not isinstance(a, dict):
            self.fail(f"actions[{i}]", "must be a table", t, i)
        for k in a:
            if k not in {"id", "keys", "midi", "osc"}:
                self.each(self.unknown, f"actions[{i}].{k}", k, {"id", "keys", "midi", "osc"}, t, i, k)
        aid = self._text(a, "id", i, t)
        if aid not in ACTIONS:
            self.fail(f"actions[{i}].id", f"{aid!r}: actions are {', '.join(ACTIONS)}{_suggest(aid, ACTIONS)}", t, i, "id")
        return Action(id=aid, keys=self._keys(a.get("keys", []), t, i),
                      midi=self._midis(a.get("midi", []), t, i), osc=self._oscs(a.get("osc", []), t, i))

    def _keys(self, raw, t, i) -> tuple[KeyBinding, ...]:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            self.fail(f"{t}[{i}].keys", "must be a list of key names", t, i, "keys")
        out = []
        for k in raw:
            if isinstance(k, str):
                k = {"key": k}
            if not isinstance(k, dict) or not isinstance(k.get("key"), str) or not k["key"]:
                self.fail(f"{t}[{i}].keys", f"{k!r}: a key is a name like \"g\" or {{key = \"pagedown\", gesture = \"double-tap\"}}", t, i, "keys")
            for extra in k:
                if extra not in ("key", "gesture"):
                    self.unknown(f"{t}[{i}].keys", extra, ("key", "gesture"), t, i, "keys")
            _check_key_name(self, k["key"], f"{t}[{i}].keys", t, i)
            gesture = k.get("gesture", "tap")
            if gesture == "long-press":
                self.fail(f"{t}[{i}].keys", "long-press needs press and release, which terminals never report: use MIDI", t, i, "keys")
            if gesture not in ("tap", "double-tap"):
                self.fail(f"{t}[{i}].keys", f"gesture {gesture!r}: keys allow tap or double-tap", t, i, "keys")
            out.append(KeyBinding(key=k["key"], gesture=gesture))
        return tuple(out)

    def _oscs(self, raw, t, i) -> tuple[str, ...]:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(a, str) and _OSC_ADDRESS.match(a) for a in raw):
            self.fail(f"{t}[{i}].osc", f"{raw!r}: OSC addresses start with / and have no spaces or wildcards", t, i, "osc")
        for a in raw:
            if a.startswith("/rehearsal/"):
                self.fail(f"{t}[{i}].osc", f"{a!r}: /rehearsal/ is reserved for the built-in addresses", t, i, "osc")
        return tuple(raw)

    def _midis(self, raw, t, i) -> tuple[MidiBinding, ...]:
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list):
            self.fail(f"{t}[{i}].midi", "must be a table or a list of [[...midi]] tables", t, i, "midi")
        out = []
        for j, m in enumerate(raw):
            field = f"{t}[{i}].midi[{j}]"

            def bad(key, msg):
                self.fail(f"{field}.{key}", msg, t, i, key, "midi", j)

            if not isinstance(m, dict):
                self.fail(field, "must be a table", t, i, "midi")
            midi_known = {"type", "control", "note", "program", "number", "channel", "gesture", "polarity", "threshold", "press"}
            for k in m:
                if k not in midi_known:
                    bad(k, f"unknown field{_suggest(k, midi_known)}")
            mtype = m.get("type", "control_change")
            if mtype == "note_on":
                mtype = "note"
            if mtype not in MIDI_TYPES:
                bad("type", f"{mtype!r}: one of {', '.join(MIDI_TYPES)}")
            number_key = {"control_change": "control", "note": "note", "program_change": "program"}[mtype]
            for other in ("control", "note", "program"):
                if other != number_key and other in m:
                    bad(other, f"a {mtype} binding takes {number_key} = N, not {other}")
            number = m.get(number_key, m.get("number"))
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 127):
                bad(number_key, f"{number!r}: 0-127")
            channel = m.get("channel")
            if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 16):
                bad("channel", f"{channel!r}: 1-16 (omit for any channel)")
            gesture = m.get("gesture", "tap")
            if gesture not in GESTURES:
                bad("gesture", f"{gesture!r}: one of {', '.join(GESTURES)}")
            if mtype == "program_change" and gesture == "long-press":
                bad("gesture", "program change has no release, so no long-press")
            polarity = m.get("polarity", "normal")
            threshold = m.get("threshold", 64)
            if "press" in m:  # press = 0 means the pedal sends 0 when pressed
                press = m["press"]
                if isinstance(press, bool) or not isinstance(press, int) or not 0 <= press <= 127:
                    bad("press", f"{press!r}: the value the pedal sends on press, 0-127")
                polarity = "inverted" if press < 64 else "normal"
            if polarity not in ("normal", "inverted"):
                bad("polarity", f"{polarity!r}: normal (high = pressed) or inverted (low = pressed)")
            if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 127:
                bad("threshold", f"{threshold!r}: 1-127")
            out.append(MidiBinding(type=mtype, number=number, channel=None if channel is None else channel - 1,
                                   gesture=gesture, polarity=polarity, threshold=threshold))
        return tuple(out)

    def _check_unique(self, symbols, actions):
        fail = lambda *a: self.each(self.fail, *a)  # noqa: E731 - record and go on
        for table, items in (("symbols", symbols), ("actions", actions)):
            seen_ids: dict[str, int] = {}
            for i, s in enumerate(items):
                if s is None:
                    continue
                if s.id in seen_ids:
                    fail(f"{table}[{i}].id", f"{s.id!r} is already the id of {table}[{seen_ids[s.id]}]", table, i, "id")
                seen_ids.setdefault(s.id, i)
        keys, midis, oscs, polarity = {}, {}, {}, {}
        for table, items in (("symbols", symbols), ("actions", actions)):
            for i, item in enumerate(items):
                if item is None:
                    continue
                for k in item.keys:
                    other = keys.setdefault((k.key, k.gesture), item.id)
                    if other != item.id:
                        fail(f"{table}[{i}].keys", f"{k.key!r} ({k.gesture}) is already bound to {other!r}", table, i, "keys")
                for m in item.midi:
                    other = midis.setdefault((m.control_key, m.gesture), item.id)
                    if other != item.id:
                        fail(f"{table}[{i}].midi", f"{m.describe()} is already bound to {other!r}", table, i, "midi")
                    first = polarity.setdefault(m.control_key, (m.polarity, m.threshold, item.id))
                    if first[:2] != (m.polarity, m.threshold):
                        fail(f"{table}[{i}].midi", f"{m.describe()}: one control has one polarity and threshold;"
                             f" {first[2]!r} says {first[0]} (threshold {first[1]})", table, i, "midi")
                for a in item.osc:
                    other = oscs.setdefault(a, item.id)
                    if other != item.id:
                        fail(f"{table}[{i}].osc", f"{a!r} is already bound to {other!r}", table, i, "osc")


_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")


def _key_names() -> frozenset[str]:
    from textual.keys import Keys   # small module; the names Textual reports

    return frozenset(k.value.split("+")[-1] for k in Keys) | {"space", "tab", "enter", "backspace", "escape"}


def _check_key_name(v: _Validator, key: str, field: str, t: str, i: int) -> None:
    """A key the terminal can report and the TUI does not keep for itself."""
    from .model import RESERVED_KEYS

    same_meaning = {"ctrl+z": "undo", "ctrl+y": "redo"}   # the app's own undo/redo keys, bound to undo/redo
    owner = v.data.get(t, [{}])[i].get("id") if t == "actions" else None
    if key in RESERVED_KEYS and not (t == "actions" and same_meaning.get(key) == owner):
        v.fail(field, f"{key!r} is one of the app's own keys: choose another", t, i, "keys")
    *mods, base = key.split("+") if key != "+" else ["+"]
    bad_mod = [m for m in mods if m not in _MODIFIERS]
    if bad_mod:
        v.fail(field, f"{key!r}: {bad_mod[0]!r} is not a modifier ({', '.join(_MODIFIERS)})", t, i, "keys")
    if len(base) == 1 and unicodedata.category(base)[0] not in "CZ":
        return
    names = _key_names()
    if base in names:
        return
    try:   # Textual names punctuation by its Unicode name: "question_mark", "full_stop"
        unicodedata.lookup(base.replace("_", " ").upper())
        return
    except KeyError:
        pass
    v.fail(field, f"{printable(key)!r} is not a key name{_suggest(base, names)} (Textual names: \"g\", \"pagedown\", \"ctrl+z\")",
           t, i, "keys")
