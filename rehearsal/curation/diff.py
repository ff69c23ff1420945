"""What changed between two dataset versions, and which step made the difference.

Clips are compared by key (take, start, end, symbols), as multisets. Each difference is
explained from the removal logs and from lineage (the tags, i.e. marker ids, behind a clip):

- a clip of A that B lacks: B's log removed or replaced that very clip; or B cut the same
  tags differently (B's clip and the step that made it); or B's log dropped those tags
  (the step and its reason); or the tags were not among B's sources at all;
- a clip of B that A lacks: which of B's steps made it (or "straight from markers"), and
  the same search in A's log and clips for what A did with it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlite_utils

from .clips import Clip, ClipKey
from .run import Removal
from .versions import VersionInfo, version_clips, version_info, version_removals, version_steps


@dataclass(frozen=True)
class DiffEntry:
    change: str             # "added" or "removed"
    clip: Clip
    why: str
    step_index: int | None  # the step responsible (in B for removals, in A for the "A removed it" part)
    step_name: str | None


@dataclass(frozen=True)
class VersionDiff:
    a: VersionInfo
    b: VersionInfo
    added: list[DiffEntry]
    removed: list[DiffEntry]
    unchanged: int

    def lines(self, describe_take=None) -> list[str]:
        """Human-readable lines; `describe_take(take_id)` names takes (default: take#id)."""
        def where(c: Clip) -> str:
            take = describe_take(c.take_id) if describe_take else f"take#{c.take_id}"
            who = f" ({', '.join(c.who)})" if c.who else ""
            return f"{take} {c.start_s:9.3f}-{c.end_s:9.3f} s [{', '.join(c.symbols)}]{who}"

        out = [f"{self.a.ref} -> {self.b.ref}: {len(self.added)} added, {len(self.removed)} removed, "
               f"{self.unchanged} unchanged"]
        out += [f"- {where(e.clip)}  {e.why}" for e in self.removed]
        out += [f"+ {where(e.clip)}  {e.why}" for e in self.added]
        return out


class _Version:
    """A version's clips, removal log and step numbers, indexed for explaining."""

    def __init__(self, db, info: VersionInfo):
        self.info = info
        self.clips = [s.clip for s in version_clips(db, info.id)]
        self.removals = version_removals(db, info.id)
        self.by_key: dict[ClipKey, Removal] = {}
        for r in self.removals:
            self.by_key.setdefault(r.clip.key, r)
        self.step_of = {s["step_name"]: s["step_index"] for s in version_steps(db, info.id)}

    def made(self, c: Clip) -> str:
        if c.made_by == "markers":
            return "straight from markers"
        return f"made by {self.info.ref} step {self.step_of.get(c.made_by, '?')} {c.made_by}"

    def fate(self, c: Clip) -> tuple[str, Removal | None]:
        """What this version did with clip `c` (or with the tags behind it)."""
        ref = self.info.ref
        r = self.by_key.get(c.key)
        if r is not None:
            verb = "replaced" if r.replaced_by else "removed"
            return f"{verb} by {ref} step {r.step_index} {r.step_name}: {r.reason}", r
        tags = set(c.marker_ids)
        if tags:
            same = [x for x in self.clips if tags & set(x.marker_ids)]
            if same:
                x = same[0]
                return (f"{ref} cut the same tags as {x.start_s:.3f}-{x.end_s:.3f} s "
                        f"[{', '.join(x.symbols)}] ({self.made(x)})"), None
            drops = [x for x in self.removals if not x.replaced_by and tags & set(x.clip.marker_ids)]
            if drops:
                x = drops[-1]
                return f"its tags were removed by {ref} step {x.step_index} {x.step_name}: {x.reason}", x
        return f"not among {ref}'s source clips (other sessions, or markers edited since)", None


def diff_versions(db: sqlite_utils.Database, a_ref, b_ref) -> VersionDiff:
    a, b = _Version(db, version_info(db, a_ref)), _Version(db, version_info(db, b_ref))
    a_count, b_count = Counter(c.key for c in a.clips), Counter(c.key for c in b.clips)
    only_a, only_b = a_count - b_count, b_count - a_count
    unchanged = sum((a_count & b_count).values())

    removed = []
    for c in a.clips:
        if only_a.get(c.key, 0) <= 0:
            continue
        only_a[c.key] -= 1
        why, r = b.fate(c)
        removed.append(DiffEntry("removed", c, why, r.step_index if r else None, r.step_name if r else None))
    added = []
    for c in b.clips:
        if only_b.get(c.key, 0) <= 0:
            continue
        only_b[c.key] -= 1
        why, r = a.fate(c)
        if why.startswith("not among"):
            why = f"not in {a.info.ref}"
        if r is not None:
            idx, name = r.step_index, r.step_name
        elif c.made_by != "markers":
            idx, name = b.step_of.get(c.made_by), c.made_by
        else:
            idx, name = None, None
        added.append(DiffEntry("added", c, f"{b.made(c)}; {why}", idx, name))
    return VersionDiff(a.info, b.info, added, removed, unchanged)
