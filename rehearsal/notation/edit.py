"""Editing a notation file as its author wrote it (the TUI's Notation screen uses this).

A notation file is the collective's own text: an edit changes the value it touches and
nothing else. tomlkit reads the file into a document that keeps every comment, blank line,
indent and quote style; an edit replaces one value (or adds, copies, removes or moves one
`[[symbols]]` / `[[actions]]` table, or one binding) and `text()` writes the document back.

Each edit returns a new `NotationDoc`, so an editor can check the candidate before taking it:
`errors()` is `validate_notation`, the checker behind `rehearsal notation check`, so the
editor refuses a value with the checker's own words (`symbols[0].colour: '#12' is not a
colour (#rrggbb or a name)`).
"""

from __future__ import annotations

import re

import tomlkit
from tomlkit.items import AoT, Array, Table

from .load import NotationError, validate_notation
from .model import GESTURES

SYMBOL_FIELDS = ("id", "glyph", "ascii", "label", "colour", "meaning", "before", "after")
NOTATION_FIELDS = ("name", "description", "before", "after")   # before / after: [defaults]
NUMBER_FIELDS = frozenset({"before", "after"})
_BLANK_LINE = re.compile(r"\n[ \t]*\n[ \t]*$")

TEMPLATE = '''# {name}: a notation made in the rehearsal notation editor
name = "{name}"
description = ""

[defaults]
before = 8.0   # a tap at t marks [t - before, t + after] (seconds)
after = 2.0

[[symbols]]
id = "good"
glyph = "✓"
ascii = "+"
label = "Good"
colour = "#2ecc71"
keys = ["g"]
'''


def typed(key: str, text: str):
    """A field's value as typed: a number for before / after when it reads as one (else the
    text, which the checker then refuses in its words), text for everything else."""
    if key in NUMBER_FIELDS:
        try:
            return int(text.strip())
        except ValueError:
            try:
                return float(text.strip())
            except ValueError:
                return text
    return text


class NotationDoc:
    """One notation file's TOML document. Immutable to its users: edits return a new one."""

    def __init__(self, text: str, source: str = "<notation>"):
        self.source = source
        self._text: str | None = None       # the document's text and its check, once asked for:
        self._checked = None                # an edit makes a new document, so they never go stale
        try:
            self.doc = tomlkit.parse(text)
        except Exception as exc:   # tomlkit's ParseError: the checker names the line in its words
            errors = validate_notation(text, source)[1] or [NotationError(source, None, "", f"invalid TOML: {exc}")]
            first = errors[0]
            raise NotationError(first.source, first.line, first.field, first.message, errors) from None

    @classmethod
    def new(cls, name: str, source: str) -> "NotationDoc":
        return cls(TEMPLATE.format(name=name.replace("\\", "\\\\").replace('"', '\\"')), source)

    def text(self) -> str:
        if self._text is None:
            self._text = tomlkit.dumps(self.doc)
        return self._text

    def checked(self):
        """(the Notation or None, every error) as `validate_notation` (`notation check`) says."""
        if self._checked is None:
            self._checked = validate_notation(self.text(), self.source)
        return self._checked

    def errors(self) -> list[NotationError]:
        return self.checked()[1]

    def _copy(self) -> "NotationDoc":
        return NotationDoc(self.text(), self.source)

    # -- reading -----------------------------------------------------------------------------
    def table(self, kind: str | None, index: int | None = None):
        """The top level (kind None), [defaults] ("defaults"), or one symbol / action."""
        if kind is None:
            return self.doc
        if kind == "defaults":
            return self.doc.get("defaults", {})
        return self.doc.get(kind, [])[index]

    def count(self, kind: str) -> int:
        items = self.doc.get(kind, [])
        return len(items) if isinstance(items, list) else 0

    def value(self, kind: str | None, index: int | None, key: str) -> str:
        """A field as text for an input box ('' when the file does not set it)."""
        t = self.table(kind, index)
        if kind is None and key in ("before", "after"):
            t = self.table("defaults")
        v = t.get(key, "") if isinstance(t, dict) else ""
        v = v.unwrap() if hasattr(v, "unwrap") else v
        return "" if v is None else str(v)

    def bindings(self, kind: str, index: int) -> list[tuple[str, int, dict]]:
        """(kind, position, fields) for each key, MIDI and OSC binding of an item, in file order."""
        t = self.table(kind, index)
        out = []
        for kind_ in ("keys", "midi", "osc"):
            for j, b in enumerate(_as_list(t.get(kind_))):
                b = b.unwrap() if hasattr(b, "unwrap") else b
                if kind_ == "keys":
                    b = {"key": b} if isinstance(b, str) else dict(b) if isinstance(b, dict) else {"key": repr(b)}
                elif kind_ == "osc":
                    b = {"address": b}
                out.append((kind_, j, b if isinstance(b, dict) else {"value": b}))
        return out

    # -- values ------------------------------------------------------------------------------
    def with_value(self, kind: str | None, index: int | None, key: str, value) -> "NotationDoc":
        """The document with one field set (value '' or None removes an optional field). The
        same value again changes nothing (not even the quotes the author used)."""
        if value not in (None, "") and _same(self.value(kind, index, key), value):
            return self
        new = self._copy()
        t = new.table(kind, index)
        if kind is None and key in ("before", "after"):
            if "defaults" not in new.doc:
                new.doc["defaults"] = tomlkit.table()
            t = new.doc["defaults"]
        if value is None or value == "":
            if key in t:
                del t[key]
            return new
        if key in t:
            t[key] = value            # tomlkit keeps the line's comment and indent
            return new
        _insert_key(t, key, value)
        return new._copy()

    # -- items -------------------------------------------------------------------------------
    def with_added(self, kind: str, item_id: str, after: int | None = None) -> "NotationDoc":
        """A new symbol (id, a glyph from the id, a label) or action, after `after` (else last)."""
        t = tomlkit.table()
        t["id"] = item_id
        if kind == "symbols":
            t["glyph"] = item_id[:1] or "?"
            t["label"] = item_id
        return self._with_table(kind, t, after)

    def with_copied(self, kind: str, index: int, new_id: str) -> "NotationDoc":
        """A copy of one item right after it, with a new id and no bindings (one press, one meaning)."""
        source = self.table(kind, index)
        t = tomlkit.parse(tomlkit.dumps(_table_alone(source)))["_"][0]
        for k in ("keys", "midi", "osc"):
            if k in t:
                del t[k]
        t["id"] = new_id
        return self._with_table(kind, t, index)

    def _with_table(self, kind: str, t: Table, after: int | None) -> "NotationDoc":
        new = self._copy()
        aot = new.doc.get(kind)
        if not isinstance(aot, AoT):
            new.doc.append(kind, tomlkit.aot())
            aot = new.doc[kind]
        position = len(aot) if after is None else after + 1
        if position > 0:
            if _ends_with_blank_line(aot[position - 1]):
                _end_with_blank_line(t)    # entries stay apart as the file keeps them
            else:
                _end_with_blank_line(aot[position - 1])
        elif len(aot):
            _end_with_blank_line(t)
        aot.insert(position, t)
        return new._copy()

    def with_removed(self, kind: str, index: int) -> "NotationDoc":
        new = self._copy()
        aot = new.doc[kind]
        del aot[index]
        if len(aot) == 0:
            del new.doc[kind]
        return new._copy()

    def with_moved(self, kind: str, index: int, delta: int) -> "NotationDoc":
        """One item moved up (delta -1) or down (+1); its comments travel with it."""
        aot = self.doc.get(kind, [])
        to = index + delta
        if not 0 <= to < len(aot):
            return self
        new = self._copy()
        aot = new.doc[kind]
        items = [aot[i] for i in range(len(aot))]
        blank = [_ends_with_blank_line(t) for t in items]
        items[index], items[to] = items[to], items[index]
        while len(aot):
            del aot[0]
        for i, t in enumerate(items):
            _set_blank_line(t, blank[i])    # the separation between entries stays where it was
            aot.append(t)
        return new._copy()

    # -- bindings ----------------------------------------------------------------------------
    def with_binding(self, kind: str, index: int, binding_kind: str, value) -> "NotationDoc":
        """Add a key ("g" or {"key": "g", "gesture": "double-tap"}), a MIDI binding (a dict
        of its fields, as `notation learn` prints them) or an OSC address."""
        new = self._copy()
        t = new.table(kind, index)
        if binding_kind == "midi":
            midi = t.get("midi")
            table = tomlkit.table()
            for k, v in value.items():
                table[k] = v
            _indent_like(new.doc, table)
            if isinstance(midi, AoT):
                midi.append(table)
            else:
                aot = tomlkit.aot()
                for old in _as_list(midi):     # an inline table or a list of them: made [[...midi]]
                    old_t = tomlkit.table()
                    for k, v in (old.unwrap() if hasattr(old, "unwrap") else old).items():
                        old_t[k] = v
                    aot.append(old_t)
                aot.append(table)
                if "midi" in t:
                    del t["midi"]
                _insert_sub_table(t, "midi", aot)
            return new._copy()
        if binding_kind == "keys" and isinstance(value, dict) and value.get("gesture", "tap") == "tap":
            value = value["key"]
        if binding_kind == "keys" and isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        current = t.get(binding_kind)
        if current is None:
            _insert_key(t, binding_kind, [value] if binding_kind == "keys" else value)
        elif isinstance(current, Array):
            current.append(value)
        else:    # osc = "/good": a second address makes it a list
            t[binding_kind] = [current.unwrap() if hasattr(current, "unwrap") else current, value]
        return new._copy()

    def with_binding_removed(self, kind: str, index: int, binding_kind: str, position: int) -> "NotationDoc":
        new = self._copy()
        t = new.table(kind, index)
        blank = _ends_with_blank_line(t)
        current = t.get(binding_kind)
        if isinstance(current, (Array, AoT)) and len(current) > 1:
            del current[position]
            if binding_kind == "osc" and len(current) == 1:    # back to `osc = "/good"`, as files write one
                t[binding_kind] = current[0].unwrap() if hasattr(current[0], "unwrap") else current[0]
        elif binding_kind in t:
            del t[binding_kind]
        _set_blank_line(t, blank)     # a [[...midi]] removed keeps the blank line before the next entry
        return new._copy()

    def with_gesture(self, kind: str, index: int, binding_kind: str, position: int, gesture: str) -> "NotationDoc":
        """A key or MIDI binding's gesture changed (keys: tap or double-tap; MIDI: any)."""
        if gesture not in GESTURES:
            raise ValueError(f"{gesture!r}: one of {', '.join(GESTURES)}")
        new = self._copy()
        t = new.table(kind, index)
        if binding_kind == "midi":
            b = _as_list(t["midi"])[position]
            b["gesture"] = gesture
            return new._copy()
        keys = t["keys"]
        if not isinstance(keys, Array):
            keys = [keys]
        k = keys[position]
        name = k if isinstance(k, str) else k["key"]
        if gesture == "tap":
            value = str(name)
        else:
            value = tomlkit.inline_table()
            value.update({"key": str(name), "gesture": gesture})
        if isinstance(t["keys"], Array):
            t["keys"][position] = value
        else:
            t["keys"] = value
        return new._copy()


def next_gesture(binding_kind: str, gesture: str) -> str:
    """tap → double-tap → long-press → tap (keys skip long-press: a terminal never reports a release)."""
    order = ("tap", "double-tap") if binding_kind == "keys" else GESTURES
    return order[(order.index(gesture) + 1) % len(order)] if gesture in order else "tap"


def describe_binding(binding_kind: str, fields: dict) -> str:
    if binding_kind == "osc":
        return f"OSC {fields.get('address')}"
    if binding_kind == "keys":
        return f"key {fields.get('key')} {fields.get('gesture', 'tap')}"
    mtype = fields.get("type", "control_change")
    number_key = {"control_change": "control", "note": "note", "note_on": "note", "program_change": "program"}.get(mtype, "control")
    what = {"control_change": "CC", "note": "note", "note_on": "note", "program_change": "PC"}.get(mtype, mtype)
    number = fields.get(number_key, fields.get("number", "any"))
    ch = f" ch{fields['channel']}" if "channel" in fields else ""
    inverted = fields.get("polarity") == "inverted" or (isinstance(fields.get("press"), int) and fields["press"] < 64)
    return f"MIDI {what} {number}{ch}{' (inverted)' if inverted else ''} {fields.get('gesture', 'tap')}"


# -- tomlkit details -------------------------------------------------------------------------
def _same(current: str, value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(current) == float(value) and current != ""
        except ValueError:
            return False
    return current == str(value)



def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, (list, AoT, Array)):
        return list(v)
    return [v]


def _insert_key(t, key: str, value) -> None:
    """A new key after the table's last plain key (before its [[...midi]] sub-tables and its
    trailing blank line), so `before = 4.0` lands among the symbol's fields."""
    if not isinstance(t, Table) or not len(t.value.body):
        t[key] = value
        return
    body = t.value.body
    plain = [i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, (AoT, Table))]
    _insert_at(t, (plain[-1] + 1) if plain else 0, key, value)


def _insert_sub_table(t: Table, key: str, aot: AoT) -> None:
    """A new [[...midi]] at the end of the table, before its trailing blank lines and comments
    (which belong to what follows)."""
    body = t.value.body
    idx = len(body)
    while idx > 0 and body[idx - 1][0] is None:
        idx -= 1
    _insert_at(t, idx, key, aot)


def _insert_at(t: Table, idx: int, key: str, value) -> None:
    if idx >= len(t.value.body):
        t.append(key, value)
    else:
        t.value._insert_at(idx, key, value)


def _indent_like(doc, table: Table) -> None:
    """A new [[symbols.midi]] indented as the file's other MIDI tables are (the shipped
    files indent them by two spaces)."""
    for item in (*doc.get("symbols", []), *doc.get("actions", [])):
        for m in _as_list(item.get("midi")):
            if isinstance(m, Table):
                indent = m.trivia.indent
                table.trivia.indent = indent
                for k, v in table.value.body:
                    if k is not None:
                        v.trivia.indent = indent
                return


def _table_alone(t: Table):
    doc = tomlkit.document()
    aot = tomlkit.aot()
    aot.append(t)
    doc.append("_", aot)
    return doc


def _ends_with_blank_line(t: Table) -> bool:
    text = t.as_string()
    return bool(_BLANK_LINE.search(text)) or text.endswith("\n\n")


def _end_with_blank_line(t: Table) -> None:
    if not _ends_with_blank_line(t):
        t.add(tomlkit.nl())


def _set_blank_line(t: Table, blank: bool) -> None:
    if blank:
        _end_with_blank_line(t)
        return
    body = t.value.body
    while body and body[-1][0] is None and not body[-1][1].as_string().strip(" \t\n"):
        if not _ends_with_blank_line(t):
            break
        body.pop()
