"""Score view: where the performer is in the score, readable from across the room.

Shown over Record when the TUI starts with `--score S` (escape goes back to Record; the
command palette's "Score view" opens it again). The current symbol fills a panel in its
colour, with its label, dynamic and cue; the seconds left in it (or the count-in) are drawn
in large digits; the next events follow; a cursor moves along the whole score. ctrl+r
records as everywhere; a page-turner pedal's pagedown advances the score to the next event,
pageup holds it (and lets it go). The notation's keys tag here as on Record. A pedal or key the
notation binds to `score-advance` / `score-hold`, or OSC `/rehearsal/score/advance|hold`, moves
the app's clock where it was pressed, as the bus tells it (`RehearsalApp.score_cue`), whichever
screen is shown.

What it draws comes from `rehearsal.scores.follow.ScoreClock` at 10 Hz, from the seconds the
take has run (the recorder's shared-memory status, read without waiting).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Footer, Static

from ...scores.follow import ScoreClock
from ..moments import clock as clock_text
from .base import RoomScreen


def cursor_line(score, score_s: float, width: int) -> Text:
    """The whole score as one line of events (each as wide as it lasts), ▲ where it is now."""
    total = max(score.duration_s, 1e-9)
    out = Text()
    for e in score.events:
        a, b = int(round(e.start_s / total * width)), int(round(e.end_s / total * width))
        n = max(0, b - a)
        if n == 0:
            continue
        text = (e.glyph + "─" * (n - 1))[:n] if e.symbol is not None else " " * n
        out.append(text, style="bold" if e.start_s <= score_s < e.end_s else "dim")
    at = int(min(width - 1, max(0, score_s / total * width)))
    mark = Text(" " * at + "▲", style="bold yellow")
    return Text.assemble(out, "\n", mark)


class ScoreScreen(RoomScreen):
    NAME = "record"            # a view over Record: its tab stays lit
    LIVE_KEYS = True
    BINDINGS = [
        Binding("pagedown", "advance", "advance"),
        Binding("pageup", "hold", "hold / go"),
        Binding("escape", "app.pop_screen", "back to Record"),
    ]
    DEFAULT_CSS = """
    ScoreScreen #score-head { height: 1; padding: 0 1; }
    ScoreScreen #score-body { height: 1fr; }
    ScoreScreen #score-now { width: 1fr; height: 1fr; content-align: center middle; text-align: center; }
    ScoreScreen #score-side { width: 44; }
    ScoreScreen #score-digits { width: 100%; text-align: center; }
    ScoreScreen #score-next { height: 1fr; padding: 1 1; }
    ScoreScreen #score-cursor { height: 3; padding: 0 1; }
    """

    def __init__(self, score, seconds=None, **kwargs):
        super().__init__(**kwargs)
        self.score = score
        self._own_clock = ScoreClock(score)
        self.seconds = seconds or self._take_seconds   # seconds since record was pressed
        self.shown: tuple | None = None

    @property
    def clock(self) -> ScoreClock:
        """The app's clock of the take being recorded (holds and advances label the take)."""
        return getattr(self.app, "score_clock", None) or self._own_clock

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        yield Static(id="score-head")
        with Horizontal(id="score-body"):
            yield Static(id="score-now")
            with Vertical(id="score-side"):
                yield Digits("", id="score-digits")
                yield Static(id="score-next")
        yield Static(id="score-cursor")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self.redraw)
        self.set_interval(0.1, self.redraw, name="score-cursor")

    def _take_seconds(self) -> float | None:
        return self.app.score_seconds()

    # -- pedal / keys -----------------------------------------------------------------------
    def action_advance(self) -> None:
        t = self.seconds()
        if t is not None:
            self.clock.advance(t)
            self.redraw()

    def action_hold(self) -> None:
        t = self.seconds()
        if t is not None:
            self.clock.toggle_hold(t)
            self.redraw()

    # -- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        if not self.is_mounted:
            return
        t = self.seconds()
        recording = t is not None
        ready = recording or bool(getattr(self.app.input, "ready", False))
        pos = self.clock.position(t if recording else 0.0)
        key = (ready, recording, pos.index, pos.held, pos.done, int(pos.count_in_s), round(pos.score_s, 1))
        if key == self.shown:
            return
        self.shown = key
        self.redraw_top(t)
        s = self.score
        head = Text.assemble(("score  ", "bold"), (s.title, "bold"), f"  by {s.author}" if s.author else "",
                             (f"  ·  {s.notation.name}", "italic"))
        if pos.index is not None:
            e = s.events[pos.index]
            head.append(f"   {e.section}" if e.section else "", style="bold cyan")
            head.append(f"   event {pos.index + 1} of {len(s.events)}", style="dim")
        if recording:
            head.append("   ● REC " + clock_text(max(0.0, t)), style="bold red")
        else:
            head.append("   ○ ctrl+r: record from the score" if ready else "   (no input open yet)", style="dim")
        if pos.held:
            head.append("   HELD (pageup: go)", style="bold yellow")
        self.query_one("#score-head", Static).update(head)
        now = self.query_one("#score-now", Static)
        digits = self.query_one("#score-digits", Digits)
        upcoming = self.clock.upcoming(pos.index, 6)
        if pos.done:
            now.update(Text("the end", style="bold"))
            now.styles.background = None
            digits.update("")
        elif pos.index is None:                       # the count-in (or not yet recording)
            first = s.events[0]
            now.update(Text.assemble(("count-in\n\n", "bold"), ("first  ", "dim"), (first.glyph, "bold"),
                                     f"  {self._label(first)}"))
            now.styles.background = None
            digits.update(str(int(pos.count_in_s) + 1) if recording else str(int(s.count_in_s + 0.999)))
        else:
            e = s.events[pos.index]
            sym = s.notation.symbol(e.symbol) if e.symbol else None
            glyph, colour, label = (self.app.looks(e.symbol, e.glyph) if sym else ("·", "#303030", "rest"))
            big = Text(justify="center")
            big.append(f"{glyph}\n\n", style="bold")
            big.append(label.upper(), style="bold")
            if e.dynamic:
                big.append(f"\n\n{e.dynamic}", style="bold italic")
            if e.cue:
                big.append(f"\n\n“{e.cue}”", style="italic")
            now.update(big)
            now.styles.background = colour
            now.styles.color = "black" if _light(colour) else "white"
            left = max(0.0, e.end_s - pos.score_s)
            digits.update(f"{left:.0f}" if left >= 10 else f"{left:.1f}")
        nxt = Text("next\n", style="bold")
        for e in upcoming:
            nxt.append(f"{e.glyph:>3} ", style="bold")
            nxt.append(f"{self._label(e)}  {e.duration_s:.1f} s {e.dynamic or ''}\n")
        self.query_one("#score-next", Static).update(nxt)
        width = max(20, (self.size.width or 100) - 4)
        self.query_one("#score-cursor", Static).update(cursor_line(s, max(0.0, pos.score_s), width))

    def _label(self, e) -> str:
        if e.symbol is None:
            return "rest"
        sym = self.score.notation.symbol(e.symbol)
        return sym.label if sym else e.symbol


def _light(colour: str) -> bool:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return False
    return 0.299 * r + 0.587 * g + 0.114 * b > 150
