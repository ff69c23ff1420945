"""Where the performer is in a score: the count-in, the current event, the next ones.

`ScoreClock` turns seconds since record was pressed into a position; a pedal (or key) can
`hold` the score (the cursor stops until `go`) or `advance` it to the next event at once.
The headless `rehearsal record --score` prints `line()`; the TUI's Score view draws
`position()` large."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    count_in_s: float          # seconds of count-in left (0 once the score runs)
    index: int | None          # the event sounding now; None during the count-in or after the end
    fraction: float            # how far into it (0..1)
    score_s: float             # seconds into the score
    held: bool
    done: bool


class ScoreClock:
    def __init__(self, score):
        self.score = score
        self.offset = 0.0          # seconds the score runs behind the take (holds, advances)
        self.held_at: float | None = None

    def score_seconds(self, t: float) -> float:
        if self.held_at is not None:
            return self.held_at
        return t - self.score.count_in_s - self.offset

    def hold(self, t: float) -> None:
        if self.held_at is None:
            self.held_at = self.score_seconds(t)

    def go(self, t: float) -> None:
        if self.held_at is not None:
            self.offset = t - self.score.count_in_s - self.held_at
            self.held_at = None

    def toggle_hold(self, t: float) -> None:
        (self.go if self.held_at is not None else self.hold)(t)

    def advance(self, t: float) -> None:
        """Jump to the start of the next event now (the performer is ahead of the score)."""
        s = self.score_seconds(t)
        nxt = next((e for e in self.score.events if e.start_s > s + 1e-9), None)
        if nxt is None:
            return
        if self.held_at is not None:
            self.held_at = nxt.start_s
        else:
            self.offset = t - self.score.count_in_s - nxt.start_s

    def position(self, t: float) -> Position:
        s = self.score_seconds(t)
        held = self.held_at is not None
        if s < 0:
            return Position(-s, None, 0.0, s, held, False)
        i = self.score.at(s)
        if i is None:
            return Position(0.0, None, 1.0, s, held, True)
        e = self.score.events[i]
        return Position(0.0, i, (s - e.start_s) / e.duration_s if e.duration_s else 1.0, s, held, False)

    def upcoming(self, index: int | None, n: int = 4):
        start = 0 if index is None else index + 1
        return self.score.events[start:start + n]

    def line(self, t: float) -> str:
        """One line for a terminal: `count-in 3` / `now ʃ mf "breathe" | next t k ə`."""
        pos = self.position(t)
        if pos.done:
            return "score: the end"
        nexts = " ".join(e.glyph for e in self.upcoming(pos.index))
        if pos.index is None:
            return f"score: count-in {int(pos.count_in_s) + 1} | first {nexts}"
        e = self.score.events[pos.index]
        what = " ".join(x for x in (e.glyph, e.dynamic or "", f'"{e.cue}"' if e.cue else "") if x)
        section = f"[{e.section}] " if e.section else ""
        return f"score: {section}now {what} | next {nexts}" + (" (held)" if pos.held else "")
