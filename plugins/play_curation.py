"""Curation steps for play takes: choose the performer's stream or the model's.

A play records two takes (see rehearsal/store/sql/030_play.sql); curation reads every take of a
session, so both streams' tagged moments arrive as clips. These steps pick among them:

    [[steps]]
    use = "select-stream"
    keep = ["model"]            # performer | model | recorded (takes not made by play)
    generations = ["g7"]        # optional: only moments where one of these was heard

`generations` looks at the clip's tap (its start if it has none) and the generation
heard there; it applies to both streams of a play (the performer's moments while g7
answered) and drops clips of takes not made by play.
"""

from __future__ import annotations

from dataclasses import dataclass

from rehearsal.curation import Filter
from rehearsal.plugins import hookimpl

STREAMS = ("performer", "model", "recorded")


@dataclass
class SelectStream(Filter):
    """Keep clips from the chosen streams of play takes (and, optionally, only where one of
    the given generations was heard)."""

    keep: tuple[str, ...] = ("performer", "model", "recorded")
    generations: tuple[str, ...] = ()

    def __post_init__(self):
        self.keep = tuple(self.keep)
        unknown = sorted(set(self.keep) - set(STREAMS))
        if unknown or not self.keep:
            raise ValueError(f"keep: {', '.join(unknown) or 'nothing'}; choose from {', '.join(STREAMS)}")
        ids = []
        for g in self.generations:
            text = str(g).strip()
            text = text[1:] if text[:1] in "gG" else text
            if not text.isdigit():
                raise ValueError(f"generations: {g!r} is not a generation (g7 or 7)")
            ids.append(int(text))
        self._generation_ids = set(ids)

    def _play_of(self, ctx, take_id: int):
        row = ctx.db.execute("SELECT id, CASE WHEN input_take_id = ? THEN 'performer' ELSE 'model' END FROM plays "
                             "WHERE input_take_id = ? OR output_take_id = ?", [take_id, take_id, take_id]).fetchone()
        return row if row else (None, "recorded")

    def reject(self, clip, ctx):
        play_id, stream = self._play_of(ctx, clip.take_id)   # `plays` exists in every workspace
        if stream not in self.keep:
            return f"from the {stream} stream, not {' or '.join(self.keep)}"
        if self._generation_ids:
            if play_id is None:
                return "not a play take: no generation was heard"
            at = clip.tap if getattr(clip, "tap", None) is not None else clip.start
            row = ctx.db.execute("SELECT generation_id FROM play_segments WHERE play_id = ? AND from_frame <= ? "
                                 "AND (to_frame IS NULL OR ? < to_frame) ORDER BY from_frame DESC LIMIT 1",
                                 [play_id, at, at]).fetchone()
            heard = row[0] if row else None
            if heard not in self._generation_ids:
                wanted = ", ".join(f"g{i}" for i in sorted(self._generation_ids))
                return f"{'g' + str(heard) if heard else 'no model (dry)'} was heard here, not {wanted}"
        return None


@hookimpl
def register_curation_steps(register):
    register("select-stream", SelectStream)
