"""Triggers learnt in the TUI ("press your pedal now"), kept beside the notation.

A collective's notation file is theirs (and stored, by hash, with each take); a pedal
learnt on Tuesday belongs to the room, not the vocabulary. So learnt keys and MIDI
controls live in `<home>/bindings/<notation>.json` and are laid over the notation when
it is loaded. A learnt trigger takes its key (or MIDI control) and gesture away from any
other symbol, so one press never means two things.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from ..naming import safe_filename
from ..notation import Action, KeyBinding, MidiBinding, Notation, Symbol

VERSION = 1


def bindings_path(home: Path, notation: Notation) -> Path:
    return Path(home) / "bindings" / f"{safe_filename(notation.name)}.json"


def load_learned(home: Path, notation: Notation) -> dict:
    path = bindings_path(home, notation)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": VERSION, "keys": [], "midi": []}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read learnt bindings ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys", []), list) or not isinstance(data.get("midi", []), list):
        raise ValueError(f"{path}: learnt bindings must be an object with 'keys' and 'midi' lists")
    return {"version": VERSION, "keys": data.get("keys", []), "midi": data.get("midi", [])}


def save_learned(home: Path, notation: Notation, data: dict) -> Path:
    path = bindings_path(home, notation)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bindings-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)   # never a half-written file
    return path


def _targets(notation: Notation) -> dict[str, Symbol | Action]:
    return {t.id: t for t in (*notation.symbols, *notation.actions)}


def _with(notation: Notation, changed: dict[str, Symbol | Action]) -> Notation:
    return replace(notation, symbols=tuple(changed.get(s.id, s) for s in notation.symbols),
                   actions=tuple(changed.get(a.id, a) for a in notation.actions))


def add_key(notation: Notation, target_id: str, key: str, gesture: str = "tap") -> Notation:
    if gesture not in ("tap", "double-tap"):
        raise ValueError("a key can tap or double-tap: a terminal never reports a key's release, so no long-press")
    targets = _targets(notation)
    if target_id not in targets:
        raise ValueError(f"no symbol or action {target_id!r} in {notation.name!r}")
    changed = {}
    for t in targets.values():
        keys = tuple(k for k in t.keys if not (k.key == key and k.gesture == gesture))
        if t.id == target_id:
            keys += (KeyBinding(key=key, gesture=gesture),)
        if keys != t.keys:
            changed[t.id] = replace(t, keys=keys)
    return _with(notation, changed)


def add_midi(notation: Notation, target_id: str, binding: MidiBinding) -> Notation:
    targets = _targets(notation)
    if target_id not in targets:
        raise ValueError(f"no symbol or action {target_id!r} in {notation.name!r}")
    if binding.type == "program_change" and binding.gesture != "tap":
        raise ValueError("a program change has no release: it can only tap")
    changed = {}
    for t in targets.values():
        midi = tuple(b for b in t.midi if not (b.control_key == binding.control_key and b.gesture == binding.gesture))
        if t.id == target_id:
            midi += (binding,)
        if midi != t.midi:
            changed[t.id] = replace(t, midi=midi)
    return _with(notation, changed)


def apply_learned(notation: Notation, data: dict) -> Notation:
    """The notation with learnt triggers laid over it; entries naming unknown symbols are skipped."""
    targets = _targets(notation)
    for k in data.get("keys", []):
        if isinstance(k, dict) and k.get("target") in targets and isinstance(k.get("key"), str):
            try:
                notation = add_key(notation, k["target"], k["key"], k.get("gesture", "tap"))
            except ValueError:
                continue
    for m in data.get("midi", []):
        if not isinstance(m, dict) or m.get("target") not in targets:
            continue
        try:
            b = MidiBinding(type=m["type"], number=m.get("number"), channel=m.get("channel"),
                            gesture=m.get("gesture", "tap"), polarity=m.get("polarity", "normal"),
                            threshold=int(m.get("threshold", 64)))
            notation = add_midi(notation, m["target"], b)
        except (KeyError, TypeError, ValueError):
            continue
    return notation


def remember_key(data: dict, target_id: str, key: str, gesture: str) -> dict:
    keys = [k for k in data["keys"] if not (k.get("key") == key and k.get("gesture", "tap") == gesture)]
    return {**data, "keys": keys + [{"target": target_id, "key": key, "gesture": gesture}]}


def remember_midi(data: dict, target_id: str, b: MidiBinding) -> dict:
    same = lambda m: (m.get("type"), m.get("number"), m.get("channel"), m.get("gesture", "tap")) == (  # noqa: E731
        b.type, b.number, b.channel, b.gesture)
    midi = [m for m in data["midi"] if not same(m)]
    return {**data, "midi": midi + [{"target": target_id, "type": b.type, "number": b.number, "channel": b.channel,
                                     "gesture": b.gesture, "polarity": b.polarity, "threshold": b.threshold}]}


def binding_from_message(msg, gesture: str = "tap") -> MidiBinding | None:
    """The binding a learnt MIDI message means, or None for a message that is not a press.

    A control change read while learning is the pedal being pressed: if it reads below
    64, this pedal sends a low value on press (inverted polarity), as many do."""
    kind = getattr(msg, "type", None)
    if kind == "note_on" and msg.velocity > 0:
        return MidiBinding("note", msg.note, msg.channel, gesture)
    if kind == "control_change":
        polarity = "normal" if msg.value >= 64 else "inverted"
        return MidiBinding("control_change", msg.control, msg.channel, gesture, polarity=polarity)
    if kind == "program_change":
        return MidiBinding("program_change", msg.program, msg.channel, "tap")
    return None
