"""Read and validate notation files. Every error names the file, the line and the field.

tomllib reports syntax errors with a line; it does not keep positions for values, so
`_Locator` finds the line of a field by scanning the text for its table and key.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path

from .model import ACTIONS, GESTURES, MIDI_TYPES, Action, KeyBinding, MidiBinding, Notation, Symbol

MAX_SYMBOLS = 64
_ID = re.compile(r"^[^\s/\\\x00-\x1f]{1,64}$")
_OSC_ADDRESS = re.compile(r"^/[^\s#*,?\[\]{}]+$")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def _ascii_of(text: str) -> str:
    """A fallback for terminals that cannot draw a glyph: the id's ASCII letters, or '*'."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip("-_ ")
    return plain[:3] or "*"


class NotationError(ValueError):
    def __init__(self, source: str, line: int | None, field: str, message: str):
        self.source, self.line, self.field, self.message = source, line, field, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class _Locator:
    """Maps (table, index, key) to a line number in the TOML text, best effort."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def line(self, table: str | None, index: int | None = None, key: str | None = None,
             sub: str | None = None, sub_index: int | None = None) -> int | None:
        start = 0
        if table:
            start = self._nth_header(f"[[{table}]]", index or 0, 0)
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


def parse_notation(text: str, source: str = "<notation>") -> Notation:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise NotationError(source, int(m.group(1)) if m else None, "", f"invalid TOML: {exc}") from None
    return _Validator(data, text, source).notation()


def load_notation(path: str | Path) -> Notation:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
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

    def fail(self, field: str, message: str, table=None, index=None, key=None, sub=None, sub_index=None):
        raise NotationError(self.source, self.loc.line(table, index, key, sub, sub_index), field, message)

    def notation(self) -> Notation:
        d = self.data
        known = {"name", "description", "defaults", "symbols", "actions", "version"}
        for k in d:
            if k not in known:
                self.fail(k, f"unknown field (expected one of {', '.join(sorted(known))})", key=k)
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail("name", "a notation needs a non-empty name", key="name")
        description = d.get("description", "")
        if not isinstance(description, str):
            self.fail("description", "must be text", key="description")
        defaults = d.get("defaults", {})
        if not isinstance(defaults, dict):
            self.fail("defaults", "must be a table", key="defaults")
        before = self._seconds(defaults.get("before", 8.0), "defaults.before", key="before")
        after = self._seconds(defaults.get("after", 2.0), "defaults.after", key="after")

        raw_symbols = d.get("symbols")
        if not isinstance(raw_symbols, list) or not raw_symbols:
            self.fail("symbols", "a notation needs at least one [[symbols]] entry", key="symbols")
        if len(raw_symbols) > MAX_SYMBOLS:
            self.fail("symbols", f"{len(raw_symbols)} symbols; at most {MAX_SYMBOLS}")
        symbols = tuple(self._symbol(i, s, before, after) for i, s in enumerate(raw_symbols))
        raw_actions = d.get("actions", [])
        if not isinstance(raw_actions, list):
            self.fail("actions", "must be a list of [[actions]] tables", key="actions")
        actions = tuple(self._action(i, a) for i, a in enumerate(raw_actions))
        self._check_unique(symbols, actions)
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
        return value

    def _symbol(self, i: int, s, before: float, after: float) -> Symbol:
        t = "symbols"
        if not isinstance(s, dict):
            self.fail(f"symbols[{i}]", "must be a table", t, i)
        known = {"id", "glyph", "label", "colour", "color", "meaning", "ascii", "keys", "midi", "osc", "before", "after"}
        for k in s:
            if k not in known:
                self.fail(f"symbols[{i}].{k}", "unknown field", t, i, k)
        sid = self._text(s, "id", i, t)
        if not _ID.match(sid):
            self.fail(f"symbols[{i}].id", f"{sid!r}: no spaces, slashes or control characters, 1-64 characters", t, i, "id")
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
        )

    def _action(self, i: int, a) -> Action:
        t = "actions"
        if not isinstance(a, dict):
            self.fail(f"actions[{i}]", "must be a table", t, i)
        for k in a:
            if k not in {"id", "keys", "midi", "osc"}:
                self.fail(f"actions[{i}].{k}", "unknown field", t, i, k)
        aid = self._text(a, "id", i, t)
        if aid not in ACTIONS:
            self.fail(f"actions[{i}].id", f"{aid!r}: actions are {', '.join(ACTIONS)}", t, i, "id")
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
            for k in m:
                if k not in {"type", "control", "note", "program", "number", "channel", "gesture", "polarity", "threshold", "press"}:
                    bad(k, "unknown field")
            mtype = m.get("type", "control_change")
            if mtype == "note_on":
                mtype = "note"
            if mtype not in MIDI_TYPES:
                bad("type", f"{mtype!r}: one of {', '.join(MIDI_TYPES)}")
            number_key = {"control_change": "control", "note": "note", "program_change": "program"}[mtype]
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
        seen_ids: dict[str, int] = {}
        for i, s in enumerate(symbols):
            if s.id in seen_ids:
                self.fail(f"symbols[{i}].id", f"{s.id!r} is already the id of symbols[{seen_ids[s.id]}]", "symbols", i, "id")
            seen_ids[s.id] = i
        keys, midis, oscs = {}, {}, {}
        for table, items in (("symbols", symbols), ("actions", actions)):
            for i, item in enumerate(items):
                for k in item.keys:
                    other = keys.setdefault((k.key, k.gesture), item.id)
                    if other != item.id:
                        self.fail(f"{table}[{i}].keys", f"{k.key!r} ({k.gesture}) is already bound to {other!r}", table, i, "keys")
                for m in item.midi:
                    other = midis.setdefault((m.control_key, m.gesture), item.id)
                    if other != item.id:
                        self.fail(f"{table}[{i}].midi", f"{m.describe()} is already bound to {other!r}", table, i, "midi")
                for a in item.osc:
                    other = oscs.setdefault(a, item.id)
                    if other != item.id:
                        self.fail(f"{table}[{i}].osc", f"{a!r} is already bound to {other!r}", table, i, "osc")
