"""The map (`M` on the Curation screen, `esc` returns): a dataset version's clips on a 2D
map to listen to, decide on together, and project for the room.

The map is drawn at once with PCA (instant), then replaced by UMAP fitted in the named
thread worker `map-fit` (umap-learn's import and cached compilation take seconds: never
on the UI thread). Points are coloured by symbol, person or take (`c` switches; the
legend names each colour); the clip under the cursor is named with its tags. Arrows (or a
click) move the cursor to the nearest clip in that direction, `enter` plays it. `space`
drops a corner of a box and `space` again the other; or `l` drops a corner of a lasso at
the clip under the cursor (from three corners on, the clips inside are selected), and a
drag of the mouse draws one. `k` keeps or `d` drops every selected clip as manual
curation decisions (who: the person at the keyboard; why: asked), `z` withdraws the last
such decision batch. `v` picks another dataset version, `m` maps through the current
generation's `encode` instead of the descriptors (and back), `f` fills the terminal with
the map and little else (for a projector; `f` again returns).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Static

from ..audition import AuditionMixin
from ..widgets.grid import grid_text
from ..messages import StoreFailed
from .modals import PickScreen, TextPrompt
from .store_screen import StoreScreen

PALETTE = ("green", "magenta", "cyan", "yellow", "red", "blue", "bright_green", "bright_magenta", "bright_cyan",
           "bright_yellow")
DOT = "●"


class MapReady(Message):
    def __init__(self, ref: str, method: str, source: str, points: list[dict], paths: dict[int, Path],
                 fit_s: float, notes: list[str]):
        super().__init__()
        self.ref, self.method, self.source, self.points = ref, method, source, points
        self.paths, self.fit_s, self.notes = paths, fit_s, notes


class MapDecided(Message):
    def __init__(self, verb: str, ids: list[int]):
        super().__init__()
        self.verb, self.ids = verb, ids


# -- store-thread functions (`db` first) ---------------------------------------------------------
def latest_version(db) -> str | None:
    from ...curation import list_versions

    versions = list_versions(db)
    return versions[-1].ref if versions else None


def version_choices(db) -> list[tuple[str, str]]:
    from ...curation import list_versions

    return [(v.ref, f"{v.ref}  {v.clip_count} clips ({v.pipeline_name})") for v in list_versions(db)]


def compute_map(db, ws, ref: str, method: str, model: str | None):
    """The map's points, each take's audio path, the fit's seconds and notes."""
    from ...curation.clipmap import clip_map, latent_rows

    extra = {}
    if model:
        rows, _, names, source = latent_rows(ws, db, ref, model)
        extra = {"rows": rows, "feature_names": names, "source": source}
    cmap = clip_map(db, ref, method=method, **extra)
    paths = {}
    for tid in {sc.clip.take_id for sc in cmap.clips}:
        row = db.execute("SELECT path FROM takes WHERE id = ?", [tid]).fetchone()
        if row:
            paths[tid] = ws.resolve(row[0])
    return cmap.ref, cmap.method, cmap.source, cmap.points(), paths, cmap.fit_s, cmap.notes


def current_model(db) -> str | None:
    from ...training import current_generation

    g = current_generation(db)
    return g["name"] if g else None


def layout(points: list[dict], width: int, height: int) -> list[tuple[int, int]]:
    """Each point's cell on a width x height grid (y up)."""
    if not points:
        return []
    to_cell, _ = cell_mapping(points, width, height)
    return [to_cell(p["x"], p["y"]) for p in points]


def cell_mapping(points: list[dict], width: int, height: int):
    """(map point -> cell, cell -> map point) of the grid `layout` draws the points on."""
    xs, ys = [p["x"] for p in points] or [0.0], [p["y"] for p in points] or [0.0]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def to_cell(x: float, y: float) -> tuple[int, int]:
        return (0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1)),
                0 if y1 == y0 else round((y1 - y) / (y1 - y0) * (height - 1)))

    def to_point(cx: int, cy: int) -> tuple[float, float]:
        return (x0 + cx / max(1, width - 1) * (x1 - x0), y1 - cy / max(1, height - 1) * (y1 - y0))

    return to_cell, to_point


def in_box(cells: list[tuple[int, int]], a: tuple[int, int], b: tuple[int, int]) -> list[int]:
    (xa, ya), (xb, yb) = a, b
    return [i for i, (x, y) in enumerate(cells)
            if min(xa, xb) <= x <= max(xa, xb) and min(ya, yb) <= y <= max(ya, yb)]


def in_polygon(cells: list[tuple[int, int]], polygon: list[tuple[int, int]]) -> list[int]:
    """The points whose cell lies inside a lasso (a closed polygon of cells; its vertices
    and edges count as inside: a lasso drawn through a clip takes it)."""
    if len(polygon) < 3:
        return []
    edges = list(zip(polygon, polygon[1:] + polygon[:1]))

    def on_edge(x, y) -> bool:
        for (x0, y0), (x1, y1) in edges:
            if (x1 - x0) * (y - y0) == (y1 - y0) * (x - x0) and min(x0, x1) <= x <= max(x0, x1) \
                    and min(y0, y1) <= y <= max(y0, y1):
                return True
        return False

    def inside(x, y) -> bool:
        hit = False
        for (x0, y0), (x1, y1) in edges:           # a ray to the right crosses the edges an odd number of times
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                hit = not hit
        return hit

    return [i for i, (x, y) in enumerate(cells) if on_edge(x, y) or inside(x, y)]


def nearest_in_direction(cells: list[tuple[int, int]], at: int, dx: int, dy: int) -> int:
    """The closest point whose cell lies in direction (dx, dy) of point `at` (itself if none)."""
    x0, y0 = cells[at]
    best, best_d = at, None
    for i, (x, y) in enumerate(cells):
        ex, ey = x - x0, y - y0
        along = ex * dx + ey * dy
        if i == at or along <= 0:
            continue
        d = along + 2 * abs(ex * dy - ey * dx)      # prefer straight ahead
        if best_d is None or d < best_d:
            best, best_d = i, d
    return best


def draw_grid(points: list[dict], cells: list[tuple[int, int]], colour_of: dict[str, str], groups: list[str],
              width: int, height: int, cursor: int | None, box: list[int], corner: tuple[int, int] | None,
              lasso: list[tuple[int, int]] = ()) -> Text:
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
    for x, y in lasso:
        if 0 <= y < height and 0 <= x < width:
            grid[y][x] = ("·", "bold yellow")
    for i, (x, y) in enumerate(cells):
        style = colour_of[groups[i]] + (" reverse" if i in box else "")
        grid[y][x] = (DOT, style)
    if corner is not None:
        cx, cy = corner
        grid[cy][cx] = ("+", "bold white")
    if cursor is not None and 0 <= cursor < len(cells):
        x, y = cells[cursor]
        grid[y][x] = ("@", "bold reverse " + colour_of[groups[cursor]])
    return grid_text(grid)


class MapCanvas(Static):
    """The map itself; a click picks the nearest clip, a drag draws a lasso."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path: list[tuple[int, int]] | None = None
        self._dragged = False

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._path, self._dragged = [(event.x, event.y)], False
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._path is not None and (event.x, event.y) != self._path[-1]:
            self._path.append((event.x, event.y))
            if len(self._path) >= 3:
                self.screen.set_lasso(list(self._path))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        path, self._path = self._path, None
        self.release_mouse()
        if path is not None and (event.x, event.y) != path[-1]:
            path.append((event.x, event.y))
        self._dragged = path is not None and len(path) >= 3
        if self._dragged:
            self.screen.set_lasso(path)

    def on_click(self, event: events.Click) -> None:
        if self._dragged:                  # the end of a lasso, not a click
            self._dragged = False
            return
        self.screen.pick_cell(event.x, event.y)


class MapScreen(AuditionMixin, StoreScreen):
    NAME = "map"
    STATUS_ID = "map-status"
    BINDINGS = [
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
        Binding("enter", "listen", "play the clip"),
        Binding("c", "colour", "colour by symbol/person/take"),
        Binding("space", "corner", "box corner"),
        Binding("l", "lasso", "lasso corner (or drag the mouse)"),
        Binding("k", "decide('keep')", "keep the box or lasso"),
        Binding("d", "decide('drop')", "drop the box or lasso"),
        Binding("z", "undo", "withdraw the last decision"),
        Binding("v", "pick_version", "dataset version"),
        Binding("m", "toggle_model", "descriptors / model latent"),
        Binding("f", "projected", "fill the terminal"),
        Binding("escape", "close", "back"),
    ]
    DEFAULT_CSS = """
    MapScreen #map-head { height: auto; background: $panel; padding: 0 1; }
    MapScreen #map-canvas { height: 1fr; }
    MapScreen #map-legend { height: auto; padding: 0 1; }
    MapScreen #map-status { height: 1; background: $panel; padding: 0 1; }
    MapScreen.projected #map-head, MapScreen.projected #map-status, MapScreen.projected Footer,
    MapScreen.projected TopBar { display: none; }
    """
    method = "umap"             # what the worker fits after the instant PCA (tests may say "pca")
    COLOUR_KEYS = ("symbol", "person", "take")

    def __init__(self, ref: str | None = None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ref: str | None = ref
        self.points: list[dict] = []
        self.paths: dict[int, Path] = {}
        self.shown_method = ""
        self.source = "descriptors"
        self.model: str | None = None      # a generation name: map its latent
        self.cursor: int | None = None
        self.colour_key = "symbol"
        self.corners: list[tuple[int, int]] = []
        self.box: list[int] = []            # the selection: in the box, or in the lasso
        self.lasso: list[tuple[float, float]] = []   # the lasso's corners, on the map (not cells: a resize keeps it)
        self.last_decisions: list[int] = []
        self.fit_s = 0.0
        self.cells: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        yield Static("", id="map-head")
        yield MapCanvas("", id="map-canvas")
        yield Static("", id="map-legend")
        yield Static("", id="map-status")
        yield Footer()

    def on_mount(self) -> None:
        self.open_store()
        self.load()

    def on_resize(self, event: events.Resize) -> None:
        self.draw()

    # -- loading --------------------------------------------------------------------------------
    @work(name="map-load", group="map-load", exclusive=True)
    async def load(self) -> None:
        try:
            ref = self.ref or await self.store.call(latest_version)
        except Exception as exc:
            self.post_message(StoreFailed("read the dataset versions", str(exc)))
            return
        if ref is None:
            self.say("no dataset version yet: commit one on the Curation screen (F4)")
            return
        await self.compute(ref, "pca")
        if self.method != "pca":
            self.fit(ref, self.method, self.model)

    async def compute(self, ref: str, method: str) -> None:
        try:
            result = await self.store.call(compute_map, self.app.ws, ref, method, self.model)
        except Exception as exc:
            self.post_message(StoreFailed(f"map {ref}", str(exc)))
            return
        self.post_message(MapReady(*result))

    @work(name="map-fit", group="map-fit", exclusive=True, thread=True)
    def fit(self, ref: str, method: str, model: str | None) -> None:
        """UMAP on its own thread and connection: the UI keeps moving while numba compiles."""
        from ...store import open_db

        db = open_db(self.app.ws.db_path)
        try:
            result = compute_map(db, self.app.ws, ref, method, model)
        except Exception as exc:
            self.post_message(StoreFailed(f"fit the {method.upper()} map of {ref}", str(exc)))
            return
        finally:
            db.conn.close()
        self.post_message(MapReady(*result))

    def on_map_ready(self, msg: MapReady) -> None:
        keep = self.points[self.cursor] if self.cursor is not None and self.points else None
        self.ref, self.points, self.paths = msg.ref, msg.points, msg.paths
        self.shown_method, self.source, self.fit_s = msg.method, msg.source, msg.fit_s
        self.cursor = 0 if self.points else None
        if keep is not None:   # the same clip under the cursor after a refit
            for i, p in enumerate(self.points):
                if (p["take_id"], p["start_sample"]) == (keep["take_id"], keep["start_sample"]):
                    self.cursor = i
        self.corners, self.box, self.lasso = [], [], []
        self.draw()
        self.say(f"{msg.method.upper()} map of {msg.ref} ({msg.source}) in {msg.fit_s:.1f} s"
                 + ("; " + "; ".join(msg.notes) if msg.notes else ""))

    # -- drawing --------------------------------------------------------------------------------
    def groups(self) -> list[str]:
        from ...curation.clipmap import group_of

        return [group_of(p, self.colour_key) for p in self.points]

    def canvas_size(self) -> tuple[int, int]:
        canvas = self.query_one("#map-canvas", MapCanvas)
        return max(canvas.size.width, 10), max(canvas.size.height, 4)

    def draw(self) -> None:
        if not self.is_mounted:
            return
        groups = self.groups()
        names = sorted(set(groups))
        colour_of = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
        width, height = self.canvas_size()
        self.cells = layout(self.points, width, height)
        self.query_one("#map-canvas", MapCanvas).update(
            draw_grid(self.points, self.cells, colour_of, groups, width, height, self.cursor, self.box,
                      self.corners[0] if len(self.corners) == 1 else None, self.lasso_cells()))
        legend = Text()
        legend.append(f"{self.colour_key}: ", style="dim")
        for g in names:
            legend.append(DOT + " ", style=colour_of[g])
            legend.append(f"{g} ({groups.count(g)})  ")
        # always three lines: the map does not jump when a clip is named or a selection made
        legend.append("\n")
        if self.cursor is not None and self.points:
            legend.append("@ " + self.describe(self.points[self.cursor]), style="bold")
        legend.append("\n")
        if self.box:
            what = "lasso" if self.lasso else "box"
            legend.append(f"{what}: {len(self.box)} clips (k keeps, d drops)", style="yellow")
        self.query_one("#map-legend", Static).update(legend)
        head = f"{self.ref or '-'}: {len(self.points)} clips, {self.shown_method.upper()} of {self.source}"
        if self.shown_method == "pca" and self.method != "pca":
            head += f"  (fitting {self.method.upper()}…)"
        self.query_one("#map-head", Static).update(head)

    @staticmethod
    def describe(p: dict) -> str:
        tags = " ".join(p["symbols"]) or "untagged"
        who = ", ".join(p["who"]) or "?"
        return f"clip {p['position']}: {tags} by {who}, take {p['take_id']} {p['start_s']:.2f}-{p['end_s']:.2f} s"

    # -- moving, listening ------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        if self.cursor is None or not self.cells:
            return
        self.cursor = nearest_in_direction(self.cells, self.cursor, dx, dy)
        self.draw()

    def pick_cell(self, x: int, y: int) -> None:
        if not self.cells:
            return
        self.cursor = min(range(len(self.cells)),
                          key=lambda i: (self.cells[i][0] - x) ** 2 + (2 * (self.cells[i][1] - y)) ** 2)
        self.draw()

    def action_listen(self) -> None:
        if self.cursor is None:
            return
        p = self.points[self.cursor]
        path = self.paths.get(p["take_id"])
        if path is not None:
            self.say("playing " + self.describe(p))
            self.audition(20_000 + self.cursor, path, p["start_sample"], p["end_sample"])

    def action_close(self) -> None:
        self.stop_audition()
        self.app.pop_screen()

    def action_colour(self) -> None:
        keys = self.COLOUR_KEYS
        self.colour_key = keys[(keys.index(self.colour_key) + 1) % len(keys)]
        self.draw()

    def action_projected(self) -> None:
        self.toggle_class("projected")
        self.call_after_refresh(self.draw)

    # -- a box, decided ---------------------------------------------------------------------------
    def action_corner(self) -> None:
        if self.cursor is None:
            return
        self.lasso = []
        if len(self.corners) != 1:
            self.corners, self.box = [self.cells[self.cursor]], []
        else:
            self.corners.append(self.cells[self.cursor])
            self.box = in_box(self.cells, *self.corners)
        self.draw()

    def action_lasso(self) -> None:
        """A corner of the lasso at the clip under the cursor; from three on, the clips inside
        are selected (as a box's are)."""
        if self.cursor is None:
            return
        self.corners = []
        p = self.points[self.cursor]
        self.lasso.append((p["x"], p["y"]))
        self.box = in_polygon(self.cells, self.lasso_cells())
        self.draw()

    def set_lasso(self, cells: list[tuple[int, int]]) -> None:
        """A lasso drawn on the canvas (a mouse drag), in its cells as drawn now."""
        _, to_point = cell_mapping(self.points, *self.canvas_size())
        self.corners = []
        self.lasso = [to_point(x, y) for x, y in cells]
        self.box = in_polygon(self.cells, list(cells))
        self.draw()

    def lasso_cells(self) -> list[tuple[int, int]]:
        to_cell, _ = cell_mapping(self.points, *self.canvas_size())
        return [to_cell(x, y) for x, y in self.lasso]

    def action_decide(self, decision: str) -> None:
        if not self.box:
            self.say("mark a box first (space at one corner, space at the other) or a lasso (l at each corner, "
                     "or drag the mouse around the clips)")
            return
        clips = [self.points[i] for i in self.box]
        who = getattr(self.app.options, "who", None) or "tui"

        def done(why: str | None) -> None:
            if why is None:
                return
            self.decide(decision, clips, who, why.strip() or None)

        self.app.push_screen(TextPrompt(f"{decision} {len(clips)} clips: why?", placeholder="what we heard"), done)

    @work(name="map-decide", group="map-edit")
    async def decide(self, decision: str, clips: list[dict], who: str, why: str | None) -> None:
        from ...curation import decide_clips

        try:
            ids = await self.store.call(decide_clips, clips, decision=decision, who=who, note=why)
        except Exception as exc:
            self.post_message(StoreFailed(f"{decision} the box", str(exc)))
            return
        self.post_message(MapDecided(f"{decision}: {len(ids)} clips by {who} (z withdraws)", ids))

    def action_undo(self) -> None:
        if not self.last_decisions:
            self.say("no decision made here to withdraw")
            return
        self.withdraw(list(self.last_decisions))

    @work(name="map-withdraw", group="map-edit")
    async def withdraw(self, ids: list[int]) -> None:
        from ...curation import withdraw

        try:
            for i in ids:
                await self.store.call(withdraw, i)
        except Exception as exc:
            self.post_message(StoreFailed("withdraw the decisions", str(exc)))
            return
        self.post_message(MapDecided(f"withdrew {len(ids)} decisions", []))

    def on_map_decided(self, msg: MapDecided) -> None:
        self.last_decisions = msg.ids
        self.corners, self.box, self.lasso = [], [], []
        self.say(msg.verb + "; the manual step applies it at the next commit")
        self.draw()

    # -- what is mapped ---------------------------------------------------------------------------
    @work(name="map-version", group="map-edit")
    async def action_pick_version(self) -> None:
        try:
            choices = await self.store.call(version_choices)
        except Exception as exc:
            self.post_message(StoreFailed("list the versions", str(exc)))
            return
        ref = await self.app.push_screen_wait(PickScreen("Map which dataset version?", choices))
        if ref:
            self.ref = ref
            self.load()

    @work(name="map-model", group="map-edit")
    async def action_toggle_model(self) -> None:
        if self.model:
            self.model = None
        else:
            try:
                self.model = await self.store.call(current_model)
            except Exception as exc:
                self.post_message(StoreFailed("read the current model", str(exc)))
                return
            if not self.model:
                self.say("no current generation: make one current on the Models screen (F5)")
                return
        self.say(f"mapping {self.model + ' latent' if self.model else 'descriptors'}…")
        self.load()
