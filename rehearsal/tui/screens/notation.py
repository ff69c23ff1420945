"""Notation (F7): list, create, copy and edit the collective's notations.

The left list holds the shipped notations and the workspace's own (`<home>/notations/`);
`enter` opens one, `n` creates one, `c` copies the highlighted one. The middle list holds
the open notation's own row (name, description, regions before / after), its symbols and
its actions; the right side the highlighted row's fields, its glyph as drawn (and its ASCII
fallback), and its bindings.

Every keystroke in a field is checked at once by the checker of `rehearsal notation check`
(`validate_notation`): a value that adds an error is refused with the checker's message
and the document keeps the last good one, so what is saved always passes `check`.
Documents are tomlkit documents (`rehearsal.notation.edit`): saving (`ctrl+s`) writes the
author's text back with only the edited lines changed, comments and layout kept, to
`<home>/notations/<stem>.toml` (a shipped notation saved is a workspace copy that shadows it).

Bindings are learnt by pressing (`l`): a key, a MIDI pedal or controller, or an OSC button
(on the room's MIDI ports and OSC port, or on ports of the dialog's own when no room has
them), heard as `rehearsal notation learn` hears them; `g` changes the highlighted binding's gesture, `x` removes it.

History is never rewritten: a take keeps the notation copy it was recorded with. Saving the
notation in use asks the app to switch to the saved file (`NotationWanted`): at once when
nothing records, from the next take while a take runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from ...markers.learn import Learner, OscListener, binding_fields
from ...notation import NotationError, load_notation, shipped_notations
from ...notation.edit import (NOTATION_FIELDS, SYMBOL_FIELDS, NotationDoc, describe_binding, next_gesture,
                              typed)
from ..glyphs import drawable, shown
from ..messages import NotationWanted
from .base import RoomScreen
from .learn import heard_key
from .modals import TextPrompt
from .registry import ScreenSpec, register_screen

ALL_FIELDS = ("name", "description", *SYMBOL_FIELDS)
HINTS = {"id": "stored with every marker", "glyph": "up to 8 characters", "ascii": "where the glyph cannot be drawn",
         "colour": "#rrggbb or a name", "before": "seconds before the tap", "after": "seconds after the tap",
         "name": "shown in the top bar", "description": ""}


KEYS_LINE = ("n new  c copy  a add  d dup  del rm  [ ] move  u undo/redo  l learn  g gesture  x unbind  "
             "ctrl+s save  esc back  ? keys")


class NotationsListed(Message):
    def __init__(self, rows: list[tuple[str, Path, str, str]]):
        super().__init__()
        self.rows = rows      # (stem, path, where, name or the first error)


class NotationScreen(RoomScreen):
    NAME = "notation"
    BINDINGS = [
        Binding("n", "new", "new notation"),
        Binding("c", "copy", "copy notation"),
        Binding("a", "add_symbol", "add symbol"),
        Binding("u", "add_action", "add undo/redo action"),
        Binding("d", "copy_item", "copy symbol"),
        Binding("delete", "remove_item", "remove symbol"),
        Binding("left_square_bracket", "move(-1)", "move up", key_display="["),
        Binding("right_square_bracket", "move(1)", "move down", key_display="]"),
        Binding("l", "learn", "learn a binding"),
        Binding("g", "gesture", "binding gesture"),
        Binding("x", "remove_binding", "remove binding"),
        Binding("ctrl+s", "save", "save"),
        Binding("escape", "back", "back to the list", show=False),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.listed: list[tuple[str, Path, str, str]] = []
        self.stem: str | None = None          # the open notation's file stem
        self.doc: NotationDoc | None = None
        self.saved_text = ""
        self.errors: list[NotationError] = []
        self.refused: list[NotationError] = []  # the last value refused, with the checker's words
        self.rows: list[tuple[str | None, int | None]] = []   # the items list: (kind, index)
        self.item: tuple[str | None, int | None] = (None, None)
        self.saved: list[Path] = []
        self._filling = False
        self._base = None      # ((item, field), document, its errors) the field's typing starts from
        self._discard: str | None = None   # the notation whose opening was held back by unsaved edits

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="notation-body"):
            with Vertical(classes="box", id="notation-list-box"):
                yield Static("notations  (enter edits)", classes="box-title")
                yield DataTable(id="notations", cursor_type="row")
            with Vertical(classes="box", id="notation-items-box"):
                yield Static("symbols and actions  ([ ] move)", classes="box-title")
                yield DataTable(id="notation-items", cursor_type="row")
            with Vertical(classes="box", id="notation-fields-box"):
                yield Static("fields  (checked as you type · ctrl+s saves)", classes="box-title", id="fields-title")
                with VerticalScroll(id="notation-fields", can_focus=False):
                    for key in ALL_FIELDS:
                        with Horizontal(classes="field", id=f"row-{key}"):
                            yield Label(f"  {key:<12}", classes="field-label", id=f"l-{key}")
                            yield Input(id=f"f-{key}", placeholder=HINTS.get(key, ""))
                    yield Static(id="glyph-preview")
                    yield Static("bindings  (l learn · g gesture · x remove)", classes="box-title", id="bindings-title")
                    yield DataTable(id="notation-bindings", cursor_type="row")
        yield Static(id="notation-errors")
        yield Static(id="notation-status")
        # the keys as one fixed line, not a Footer: a Footer rebuilds its keys on every focus
        # change, and this screen moves the focus between fields all the time (`?` lists them all)
        yield Static(Text(KEYS_LINE, style="dim"), id="notation-keys")

    def on_mount(self) -> None:
        self.query_one("#notations", DataTable).add_columns("notation", "name", "where")
        self.query_one("#notation-items", DataTable).add_columns("", "ascii", "id", "label", "bindings")
        self.query_one("#notation-bindings", DataTable).add_columns("binding", "gesture")
        self.query_one("#notations", DataTable).focus()
        self._show_fields()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    # -- the list of notations -----------------------------------------------------------------
    @work(name="notation-list", group="notation-list", exclusive=True, thread=True)
    def load(self) -> None:
        folder = self.app.ws.notations_dir
        paths = {stem: (p, "shipped") for stem, p in shipped_notations().items()}
        if folder.is_dir():
            for p in sorted(folder.glob("*.toml")):
                paths[p.stem] = (p, "workspace" + (" (over shipped)" if p.stem in paths else ""))
        rows = []
        for stem, (path, where) in sorted(paths.items()):
            try:
                name = load_notation(path).name
            except NotationError as exc:
                name = f"INVALID: {exc.errors[0].one_line()}"
            rows.append((stem, path, where, name))
        self.post_message(NotationsListed(rows))

    def on_notations_listed(self, msg: NotationsListed) -> None:
        self.listed = msg.rows
        table = self.query_one("#notations", DataTable)
        at = table.cursor_row
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for stem, _path, where, name in msg.rows:
                style = "bold" if stem == self.stem else ""
                table.add_row(Text(stem, style=style), Text(name, style="red" if name.startswith("INVALID") else ""),
                              Text(where, style="dim"), key=stem)
        if msg.rows:
            table.move_cursor(row=min(at, len(msg.rows) - 1))

    def highlighted_notation(self) -> tuple[str, Path] | None:
        table = self.query_one("#notations", DataTable)
        if not self.listed or table.cursor_row is None or table.cursor_row >= len(self.listed):
            return None
        stem, path, _, _ = self.listed[table.cursor_row]
        return stem, path

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "notations":
            chosen = self.highlighted_notation()
            if chosen is None:
                return
            if self.dirty() and self._discard != chosen[0]:     # enter again on it: discard the edits
                self._discard = chosen[0]
                self.say(f"{self.stem} has unsaved changes: ctrl+s saves them, enter again on {chosen[0]} discards them")
                return
            self._discard = None
            self.open(*chosen)
        elif event.data_table.id == "notation-items":     # enter: type in the item's first field
            first = next((b for b in self.query("#notation-fields Input") if b.parent.display), None)
            if first is not None:
                first.focus()

    def action_back(self) -> None:
        """Esc in a field: back to the symbols list (where the screen's letter keys work)."""
        if isinstance(self.app.focused, Input):
            self.query_one("#notation-items", DataTable).focus()

    def open(self, stem: str, path: Path, text: str | None = None) -> None:
        target = self.target_path(stem)
        try:
            text = path.read_text(encoding="utf-8-sig") if text is None else text
            doc = NotationDoc(text, str(target))
        except (OSError, UnicodeDecodeError) as exc:
            self.say(f"cannot read {path}: {exc}")
            return
        except NotationError as exc:
            self.show_errors(exc.errors)
            self.say(f"{stem} cannot be edited here until its TOML reads: fix it in a text editor")
            return
        self.stem, self.doc = stem, doc
        self.saved_text = text      # what the file holds: changes since are "not saved"
        self.refused = []
        self._base = None
        self.item = (None, None)
        self.errors = doc.errors()
        self.refresh_items()
        # after a dialog closes Textual gives the focus back to where it was: this comes after
        self.call_after_refresh(self.query_one("#notation-items", DataTable).focus)
        where = "" if path == target else f" (ctrl+s saves it to {self._shown(target)})"
        self.say(f"editing {stem}{where}")

    def _shown(self, path: Path) -> str:
        """A workspace file as `<home>/notations/x.toml`, relative to the workspace."""
        try:
            return str(path.relative_to(self.app.ws.home))
        except ValueError:
            return str(path)

    def dirty(self) -> bool:
        """Edits not saved yet (a new notation or a copy counts until its first save)."""
        return self.doc is not None and self.doc.text() != self.saved_text

    def target_path(self, stem: str) -> Path:
        return self.app.ws.notations_dir / f"{stem}.toml"

    # -- new, copy -----------------------------------------------------------------------------
    def action_new(self) -> None:
        self.app.push_screen(TextPrompt("New notation: its file name (letters, digits, -)", placeholder="my-set"),
                             self._new)

    def _new(self, stem: str | None) -> None:
        stem = self._stem(stem)
        if stem is None:
            return
        doc = NotationDoc.new(stem.replace("-", " "), str(self.target_path(stem)))
        self.open(stem, self.target_path(stem), doc.text())
        self.saved_text = ""      # no file yet
        self.say(f"new notation {stem}: not saved yet (ctrl+s)")

    def action_copy(self) -> None:
        chosen = self.highlighted_notation()
        if chosen is None:
            return
        self.app.push_screen(TextPrompt(f"Copy {chosen[0]} as (file name)", value=f"{chosen[0]}-copy"),
                             lambda stem: self._copy(chosen, stem))

    def _copy(self, chosen: tuple[str, Path], stem: str | None) -> None:
        stem = self._stem(stem)
        if stem is None:
            return
        try:
            doc = NotationDoc(chosen[1].read_text(encoding="utf-8-sig"), str(self.target_path(stem)))
        except (OSError, NotationError) as exc:
            self.say(f"cannot copy {chosen[0]}: {exc}")
            return
        name = doc.value(None, None, "name")
        doc = doc.with_value(None, None, "name", f"{name} ({stem})")   # two notations, two names
        self.open(stem, self.target_path(stem), doc.text())
        self.saved_text = ""
        self.say(f"{stem}: a copy of {chosen[0]}, not saved yet (ctrl+s)")

    def _stem(self, stem: str | None) -> str | None:
        if not stem:
            return None
        stem = stem.strip().removesuffix(".toml")
        if not stem or any(c in stem for c in "/\\") or stem.startswith("."):
            self.say(f"{stem!r}: a file name without slashes")
            return None
        if self.target_path(stem).exists():
            self.say(f"{self.target_path(stem)} already exists: open it, or choose another name")
            return None
        return stem

    # -- items ---------------------------------------------------------------------------------
    def _item_rows(self) -> tuple[list, list]:
        """(kind, index) and the drawn cells of every row of the items list."""
        doc = self.doc
        notation = doc.checked()[0]
        keys = [(None, None)]
        rows = [(Text("♪"), Text(""), Text("(notation)", style="italic"), Text(doc.value(None, None, "name")), Text(""))]
        for kind in ("symbols", "actions"):
            for i in range(doc.count(kind)):
                keys.append((kind, i))
                sid = doc.value(kind, i, "id")
                summary = ", ".join(describe_binding(k, f) for k, _, f in doc.bindings(kind, i))
                if kind == "actions":
                    rows.append((Text("↶" if sid == "undo" else "↷"), Text(""), Text(sid, style="bold"),
                                 Text("action", style="dim"), Text(summary)))
                    continue
                symbol = notation.symbol(sid) if notation is not None else None
                glyph = doc.value(kind, i, "glyph")
                colour = doc.value(kind, i, "colour") or "#888888"
                fallback = symbol.ascii if symbol is not None else doc.value(kind, i, "ascii")
                drawn = shown(symbol, self.app.ascii_only, self.app.limited) if symbol is not None else glyph
                rows.append((Text(drawn, style=f"bold {colour}" if _is_colour(colour) else "bold"), Text(fallback),
                             Text(sid), Text(doc.value(kind, i, "label")), Text(summary)))
        return keys, rows

    def refresh_items(self) -> None:
        table = self.query_one("#notation-items", DataTable)
        self.rows, rows = self._item_rows()
        at = table.cursor_row or 0
        with table.prevent(DataTable.RowHighlighted):
            table.clear()
            for n, row in enumerate(rows):
                table.add_row(*row, key=str(n))
        table.move_cursor(row=min(self.rows.index(self.item) if self.item in self.rows else at, len(rows) - 1))
        self.item = self.rows[table.cursor_row or 0]
        self._show_fields()
        self.show_errors()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if (event.data_table.id == "notation-items" and self.doc is not None and event.cursor_row < len(self.rows)
                and event.cursor_row == event.data_table.cursor_row       # not a move made stale by a later one
                and self.rows[event.cursor_row] != self.item):
            self.item = self.rows[event.cursor_row]
            self._show_fields()

    def _show_fields(self) -> None:
        kind, index = self.item
        doc = self.doc
        shown_fields = () if doc is None else NOTATION_FIELDS if kind is None else (
            SYMBOL_FIELDS if kind == "symbols" else ("id",))
        self._filling = True
        self._base = None
        try:
            for key in ALL_FIELDS:
                row = self.query_one(f"#row-{key}")
                row.display = key in shown_fields
                box = self.query_one(f"#f-{key}", Input)
                box.remove_class("refused")
                if key in shown_fields:
                    box.value = doc.value(kind, index, key)
        finally:
            self.call_after_refresh(self._filled)
        what = "no notation open: enter on one, or n" if doc is None else (
            "the notation (before / after: [defaults])" if kind is None else f"{kind}[{index}]")
        self.query_one("#fields-title", Static).update(Text(f"{what}  (checked as you type · ctrl+s saves)",
                                                            style="bold"), layout=False)
        self._show_preview()
        self._show_bindings()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_field(event.widget, "› ")

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark_field(event.widget, "  ")

    def _mark_field(self, widget, mark: str) -> None:
        """`› label`: the field being typed in, readable without colour."""
        if isinstance(widget, Input) and (widget.id or "").startswith("f-"):
            key = widget.id[2:]
            self.query_one(f"#l-{key}", Label).update(f"{mark}{key:<12}", layout=False)

    def _filled(self) -> None:
        self._filling = False   # Input.Changed from filling the boxes arrive before this

    def _show_preview(self) -> None:
        preview = self.query_one("#glyph-preview", Static)
        kind, index = self.item
        if self.doc is None or kind != "symbols":
            preview.update("", layout=False)
            return
        glyph, colour = self.doc.value(kind, index, "glyph"), self.doc.value(kind, index, "colour") or "#888888"
        notation = self.doc.checked()[0]
        symbol = notation.symbol(self.doc.value(kind, index, "id")) if notation is not None else None
        fallback = symbol.ascii if symbol is not None else (self.doc.value(kind, index, "ascii") or "?")
        style = f"bold reverse {colour}" if _is_colour(colour) else "bold reverse"
        can = drawable(glyph, self.app.limited)
        preview.update(Text.assemble(("preview ", "dim"), (f" {glyph} ", style), "   ", ("ASCII ", "dim"),
                                     (f" {fallback} ", style), "   ",
                                     ("" if can else "this terminal shows the ASCII fallback", "yellow")), layout=False)

    def _show_bindings(self) -> None:
        table = self.query_one("#notation-bindings", DataTable)
        table.clear()
        kind, index = self.item
        if self.doc is None or kind is None:
            return
        for bkind, _j, fields in self.doc.bindings(kind, index):
            gesture = "-" if bkind == "osc" else fields.get("gesture", "tap")
            table.add_row(describe_binding(bkind, fields).rsplit(" ", 1)[0] if bkind != "osc"
                          else describe_binding(bkind, fields), gesture)

    def highlighted_binding(self) -> tuple[str, int, dict] | None:
        kind, index = self.item
        if self.doc is None or kind is None:
            return None
        bindings = self.doc.bindings(kind, index)
        row = self.query_one("#notation-bindings", DataTable).cursor_row
        return bindings[row] if bindings and row is not None and row < len(bindings) else None

    # -- editing: every change checked by the checker of `notation check` ----------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if self._filling or self.doc is None or not (event.input.id or "").startswith("f-"):
            return
        key = event.input.id[2:]
        kind, index = self.item
        # each keystroke is one edit of the document as it was before this field was typed
        # in: a box emptied on the way to a new value does not lose the line's comment
        if self._base is None or self._base[0] != (self.item, key):
            self._base = ((self.item, key), self.doc, self.errors)
        _, base, base_errors = self._base
        self.apply(base.with_value(kind, index, key, typed(key, event.value)), event.input, base_errors)

    def apply(self, candidate: NotationDoc, box: Input | None = None, base_errors=None) -> bool:
        """Take the candidate unless it adds an error; else refuse it with the checker's words."""
        errors = candidate.errors()
        if box is None:
            self._base = None
        before = {(e.field, e.message) for e in (self.errors if base_errors is None else base_errors)}
        new = [e for e in errors if (e.field, e.message) not in before]
        if new:
            self.refused = new
            if box is not None:
                box.add_class("refused")
            self.show_errors()
            return False
        self.refused = []
        if box is not None:
            box.remove_class("refused")
        self.doc, self.errors = candidate, errors
        if box is None:
            self.refresh_items()
        else:                    # typing: redraw what shows the value, keep the focus in the box
            self._redraw_item_row()
            self._show_preview()
            self.show_errors()
        return True

    def _redraw_item_row(self) -> None:
        """The highlighted item's row redrawn in place (typing: the focus stays in the field)."""
        table = self.query_one("#notation-items", DataTable)
        keys, rows = self._item_rows()
        if keys != self.rows or self.item not in keys:
            self.refresh_items()
            return
        r = keys.index(self.item)
        for c, cell in enumerate(rows[r]):
            if table.get_cell_at((r, c)) != cell:     # each update redraws the table: only what changed
                table.update_cell_at((r, c), cell)

    def show_errors(self, errors: list[NotationError] | None = None) -> None:
        out = Text()
        for e in self.refused:
            out.append(f"refused: {e.one_line()}\n", style="bold red")
        for e in (errors if errors is not None else self.errors):
            out.append(f"error: {e.one_line()}\n", style="red")
        if not out and self.doc is not None:
            out.append("ok: passes `rehearsal notation check`" + ("  (not saved: ctrl+s)" if self.dirty() else ""),
                       style="green")
        self.query_one("#notation-errors", Static).update(out, layout=False)   # a fixed height: no relayout per key

    def action_add_symbol(self) -> None:
        if self.doc is None:
            return
        existing = {self.doc.value("symbols", i, "id") for i in range(self.doc.count("symbols"))}
        new_id = next(f"symbol-{n}" for n in range(1, 200) if f"symbol-{n}" not in existing)
        kind, index = self.item
        after = index if kind == "symbols" else None
        if self.apply(self.doc.with_added("symbols", new_id, after)):
            self.item = ("symbols", (after + 1) if after is not None else self.doc.count("symbols") - 1)
            self.refresh_items()
            self.say(f"added {new_id}: give it an id, a glyph and a label")

    def action_add_action(self) -> None:
        if self.doc is None:
            return
        have = {self.doc.value("actions", i, "id") for i in range(self.doc.count("actions"))}
        missing = [a for a in ("undo", "redo") if a not in have]
        if not missing:
            self.say("this notation has undo and redo already")
            return
        if self.apply(self.doc.with_added("actions", missing[0])):
            self.item = ("actions", self.doc.count("actions") - 1)
            self.refresh_items()

    def action_copy_item(self) -> None:
        kind, index = self.item
        if self.doc is None or kind != "symbols":
            return
        base = self.doc.value(kind, index, "id")
        existing = {self.doc.value(kind, i, "id") for i in range(self.doc.count(kind))}
        new_id = next(f"{base}-{n}" for n in range(2, 200) if f"{base}-{n}" not in existing)
        if self.apply(self.doc.with_copied(kind, index, new_id)):
            self.item = (kind, index + 1)
            self.refresh_items()

    def action_remove_item(self) -> None:
        kind, index = self.item
        if self.doc is None or kind is None:
            return
        if self.apply(self.doc.with_removed(kind, index)):
            self.item = (kind, max(0, index - 1)) if self.doc.count(kind) else (None, None)
            self.refresh_items()

    def action_move(self, delta: int) -> None:
        kind, index = self.item
        if self.doc is None or kind is None:
            return
        moved = self.doc.with_moved(kind, index, delta)
        if moved is not self.doc and self.apply(moved):
            self.item = (kind, index + delta)
            self.refresh_items()

    # -- bindings ------------------------------------------------------------------------------
    def action_learn(self) -> None:
        kind, index = self.item
        if self.doc is None or kind is None:
            self.say("highlight a symbol or an action first")
            return
        label = self.doc.value(kind, index, "id")
        self.app.push_screen(LearnBindingScreen(label), lambda got: got and self.learnt(kind, index, got))

    def learnt(self, kind: str, index: int, got: tuple[str, object]) -> None:
        binding_kind, value = got
        self.item = (kind, index)
        if self.apply(self.doc.with_binding(kind, index, binding_kind, value)):
            self.say(f"learnt {describe_binding(binding_kind, value if isinstance(value, dict) else {'key': value, 'address': value})}"
                     f" → {self.doc.value(kind, index, 'id')}")

    def action_gesture(self) -> None:
        b = self.highlighted_binding()
        if b is None or b[0] == "osc":
            return
        kind, index = self.item
        gesture = next_gesture(b[0], b[2].get("gesture", "tap"))
        self.apply(self.doc.with_gesture(kind, index, b[0], b[1], gesture))

    def action_remove_binding(self) -> None:
        b = self.highlighted_binding()
        if b is None:
            return
        kind, index = self.item
        self.apply(self.doc.with_binding_removed(kind, index, b[0], b[1]))

    # -- saving --------------------------------------------------------------------------------
    def action_save(self) -> None:
        if self.doc is None:
            return
        if self.errors:
            self.say(f"not saved: {len(self.errors)} error(s) to fix first (as `notation check` says)")
            return
        self.save(self.stem, self.doc.text())

    @work(name="notation-save", group="notation-save", exclusive=True, thread=True)
    def save(self, stem: str, text: str) -> None:
        path = self.target_path(stem)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}-", suffix=".toml")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)     # never a half-written notation
        except OSError as exc:
            self.app.call_from_thread(self.say, f"cannot save {path}: {exc.strerror or exc}")
            return
        self.app.call_from_thread(self._saved, path, text)

    def _saved(self, path: Path, text: str) -> None:
        self.saved_text = text
        self.saved.append(path)
        self.show_errors()
        self.load()
        current = Path(self.app.notation.source or "")
        if current.stem == path.stem:   # the notation in use: the app switches (next take while recording)
            self.post_message(NotationWanted(path))
        self.say(f"saved {self._shown(path)}")

    def say(self, text: str) -> None:
        self.query_one("#notation-status", Static).update(Text(text), layout=False)


def _is_colour(colour: str) -> bool:
    from rich.color import Color, ColorParseError

    try:
        Color.parse(colour)
        return True
    except ColorParseError:
        return False


class LearnBindingScreen(ModalScreen[tuple | None]):
    """Press the key, the pedal or the OSC button: heard as `rehearsal notation learn` hears it.

    A key comes as a key press; MIDI and OSC through a `Learner`, which waits for the press
    and its release (they tell a pedal's polarity and threshold). It listens on the room's
    MIDI ports and OSC port when the room has them open; with no room (no input, or Play
    holds it) on ports of its own, as `notation learn` does: the virtual MIDI port
    `rehearsal` and every MIDI input (the `learn-midi` worker opens them), and the app's OSC
    port. While listening every key is this screen's (the app's keys do nothing)."""

    CAPTURES_KEYS = True

    class MidiOpened(Message):
        def __init__(self, inputs, error: str | None):
            super().__init__()
            self.inputs, self.error = inputs, error

    def __init__(self, target_label: str):
        super().__init__()
        self.target_label = target_label
        self.learner = Learner()
        self._original = None
        self._room_osc = None
        self._own_midi = None       # MidiInputs of this dialog's own (no room)
        self._own_osc = None        # OscListener of this dialog's own (no room)
        self._closed = False
        self.listening = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(f"Learn a binding for {self.target_label}", style="bold"), classes="dialog-title")
            yield Static(Text("Press the key, the pedal or the OSC button now", style="bold reverse"), id="listen-prompt")
            yield Static(Text("Esc cancels. The gesture is tap: g on the binding changes it.\n"))
            yield Static(id="listen-midi")
            yield Static(id="listen-osc")
            yield Static(id="listen-error")

    def on_mount(self) -> None:
        room, options = self.app.input, self.app.options
        if room.midi is not None:
            inputs = room.midi.inputs
            self._original = original = inputs.handler

            def tap(port, msg, raw, t):
                self.learner.midi(port, msg, raw, t)
                original(port, msg, raw, t)

            inputs.handler = tap
            self._say_midi(inputs.port_names, None)
        elif room.ready or not (options.midi or options.midi_virtual):
            self._say_midi(None, room.midi_error or "off")
        else:
            self._say_midi(None, "opening…")
            self.open_midi()
        if room.osc is not None:
            self._room_osc = room.osc
            room.osc.listener = self.learner.osc
            self._say_osc(f"{room.osc.host}:{room.osc.port}")
        elif not room.ready and options.osc_port is not None:
            try:
                self._own_osc = OscListener(self.learner.osc, options.osc_port)
                self._say_osc(f"{self._own_osc.host}:{self._own_osc.port}")
            except OSError as exc:
                self._say_osc(None, str(exc))
        else:
            self._say_osc(None, room.osc_error or "off")
        self._timer = self.set_interval(0.02, self.check, name="learn-binding")
        self.listening = True

    @work(name="learn-midi", group="learn-midi", thread=True, exit_on_error=False)
    def open_midi(self) -> None:
        from ...markers.midi import MidiError, MidiInputs

        o = self.app.options
        ports = [p for p in o.midi if p != "all"]
        try:
            inputs = MidiInputs(self.learner.midi, ports=ports, virtual="rehearsal" if o.midi_virtual else None,
                                all_ports="all" in o.midi, api=o.midi_api)
        except (MidiError, OSError) as exc:
            self.post_message(self.MidiOpened(None, str(exc)))
            return
        self.post_message(self.MidiOpened(inputs, None))

    def on_learn_binding_screen_midi_opened(self, msg: "LearnBindingScreen.MidiOpened") -> None:
        if self._closed:          # answered before the ports opened
            if msg.inputs is not None:
                msg.inputs.close()
            return
        self._own_midi = msg.inputs
        self._say_midi(msg.inputs.port_names if msg.inputs is not None else None, msg.error)

    def _say_midi(self, ports, error) -> None:
        line = (f"MIDI: listening on {', '.join(ports) or 'no ports'}." if ports is not None
                else f"MIDI: not available ({error}).")
        self.query_one("#listen-midi", Static).update(Text(line, style="dim"))

    def _say_osc(self, where, error=None) -> None:
        line = f"OSC: listening on {where}." if where else f"OSC: not available ({error})."
        self.query_one("#listen-osc", Static).update(Text(line, style="dim"))

    def on_unmount(self) -> None:
        self._closed = True
        room = self.app.input
        if room.midi is not None and self._original is not None:
            room.midi.inputs.handler = self._original
        if self._room_osc is not None:
            self._room_osc.listener = None
        if self._own_osc is not None:
            self._own_osc.close()
        if self._own_midi is not None:
            self._own_midi.close()

    def check(self) -> None:
        if self.app.screen is not self:
            return
        heard = self.learner.poll()
        if heard is None:
            return
        self._timer.stop()
        self.dismiss(("osc", heard.address) if heard.via == "osc" else ("midi", binding_fields(heard)))

    def on_key(self, event: events.Key) -> None:
        key = heard_key(self, event)
        if key is not None:
            self.dismiss(("keys", key))


register_screen(ScreenSpec(name="notation", title="Notation", key="f7", factory=NotationScreen, order=70,
                           help="list, create, copy and edit notations: symbols, bindings, regions"))
