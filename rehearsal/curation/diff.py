"""What changed between two dataset versions, and which step made the difference.

Clips are compared by key (take, start, end, symbols), as multisets. For a clip of A that
B lacks, B's removal log says which of B's steps removed or replaced it; for a clip B has
and A lacks, B says which step made it (or that it came straight from markers) and A's log
says which of A's steps had removed it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlite_utils

from .clips import Clip, ClipKey
from .run import Removal
from .versions import VersionInfo, version_clips, version_info, version_removals


@dataclass(frozen=True)
class DiffEntry:
    change: str             # "added" or "removed"
    clip: Clip
    why: str
    step_index: int | None  # the step responsible, in the version that explains it
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


def _index(removals: list[Removal]) -> dict[ClipKey, Removal]:
    out: dict[ClipKey, Removal] = {}
    for r in removals:
        out.setdefault(r.clip.key, r)
    return out


def _explain_removal(r: Removal, ref: str) -> str:
    verb = "replaced" if r.replaced_by else "removed"
    return f"{verb} by {ref} step {r.step_index} {r.step_name}: {r.reason}"


def diff_versions(db: sqlite_utils.Database, a_ref, b_ref) -> VersionDiff:
    a, b = version_info(db, a_ref), version_info(db, b_ref)
    a_clips = [s.clip for s in version_clips(db, a.id)]
    b_clips = [s.clip for s in version_clips(db, b.id)]
    a_removed, b_removed = _index(version_removals(db, a.id)), _index(version_removals(db, b.id))
    a_count, b_count = Counter(c.key for c in a_clips), Counter(c.key for c in b_clips)
    only_a, only_b = a_count - b_count, b_count - a_count
    unchanged = sum((a_count & b_count).values())

    removed = []
    for c in a_clips:
        if only_a.get(c.key, 0) <= 0:
            continue
        only_a[c.key] -= 1
        r = b_removed.get(c.key)
        if r is not None:
            removed.append(DiffEntry("removed", c, _explain_removal(r, b.ref), r.step_index, r.step_name))
        else:
            removed.append(DiffEntry("removed", c, f"not among {b.ref}'s source clips "
                                     "(other sessions, or markers edited since)", None, None))
    added = []
    for c in b_clips:
        if only_b.get(c.key, 0) <= 0:
            continue
        only_b[c.key] -= 1
        made = f"made by {b.ref} step {_step_index(db, b.id, c.made_by)} {c.made_by}" if c.made_by != "markers" \
            else "straight from markers"
        r = a_removed.get(c.key)
        if r is not None:
            why = f"{made}; {_explain_removal(r, a.ref)}"
            added.append(DiffEntry("added", c, why, r.step_index, r.step_name))
        else:
            idx = _step_index(db, b.id, c.made_by) if c.made_by != "markers" else None
            added.append(DiffEntry("added", c, f"{made}; not in {a.ref}", idx, c.made_by if idx else None))
    return VersionDiff(a, b, added, removed, unchanged)


def _step_index(db, version_id: int, step_name: str):
    row = db.execute("SELECT MAX(step_index) FROM dataset_steps WHERE version_id = ? AND step_name = ?",
                     [version_id, step_name]).fetchone()
    return row[0] if row and row[0] is not None else "?"
