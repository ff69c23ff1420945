"""What reviewing needs from curation: the region curation will use for each marker, and the
moments where people disagree, from a pipeline's own steps (Review, F2; `rehearsal markers
--regions`).

    seen = review(ws, db, "monday", "good-takes")
    seen.regions[marker_id]    # (start, end) after the first region-from-taps step
    seen.disputes[marker_id]   # the agreement step's reason, where the moment's tags differ

A region a person trimmed is the marker's own and is never recomputed (region-from-taps
keeps `corrected` clips as they are), so trimming what is shown here fixes it for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .pipeline import PipelineError, find_pipeline, load_pipeline
from .descriptors import TakeAudioError
from .run import start_run

REGION_STEP, AGREEMENT_STEP = "region-from-taps", "agreement"


@dataclass
class ReviewView:
    pipeline: str
    regions: dict[int, tuple[int, int]] = field(default_factory=dict)
    corrected: set[int] = field(default_factory=set)    # trimmed by a person: kept as they are
    disputes: dict[int, str] = field(default_factory=dict)
    unreadable: list[int] = field(default_factory=list)   # numbers of takes whose audio cannot be read


def review(ws, db, session: str, pipeline: str = "good-takes", *, need_regions: bool = True) -> ReviewView:
    """Run the pipeline's steps up to its first agreement step (or its first region-from-taps
    when it has no agreement) over `session`; nothing is written."""
    p = load_pipeline(find_pipeline(pipeline, ws.home / "pipelines"))
    uses = [spec.use for spec in p.steps if spec.enabled]
    if need_regions and REGION_STEP not in uses:
        raise PipelineError(p.source, None, "steps", f"{pipeline}: has no region-from-taps step, "
                            "so it uses the markers' own regions")
    last = AGREEMENT_STEP if AGREEMENT_STEP in uses else REGION_STEP
    out = ReviewView(p.name)
    run = start_run(ws, db, p, [session])
    for take_id in sorted({c.take_id for c in run.source_clips}):
        try:
            run.store.frames(take_id)   # unreadable audio: said here, not as a step's (plugin's) failure
        except TakeAudioError:
            out.unreadable.append(run.takes[take_id]["number"])
    if out.unreadable:
        left = frozenset(t for t in run.takes if run.takes[t]["number"] in out.unreadable)
        if len(left) == len(run.takes):
            return out
        run = start_run(ws, db, p, [session], leave_out=left)
    for report in run.steps_iter():
        if report.name == REGION_STEP and not out.regions:
            out.regions = {c.marker_ids[0]: (c.start, c.end) for c in report.clips if len(c.marker_ids) == 1}
            out.corrected = {c.marker_ids[0] for c in report.clips if len(c.marker_ids) == 1 and c.corrected}
        if report.name == AGREEMENT_STEP:
            out.disputes = disputes(report)
        if report.name == last:
            break
    return out


def disputes(report) -> dict[int, str]:
    """marker id -> reason, for the tags of moments whose tags name different symbols: the
    agreement step merged each tag of such a moment into the winner's clip (a tag it passed on
    as it was is the winner itself) or dropped them all (a tie), with one reason."""
    made = {c.key: c for c in report.clips}
    groups: dict[tuple, list] = {}
    for r in report.removals:
        groups.setdefault((r.clip.take_id, r.replaced_by or r.reason), []).append(r)
    out = {}
    for (_, how), members in groups.items():
        said = {s for r in members for s in r.clip.symbols}
        winners = [made[k] for k in how if k in made] if isinstance(how, tuple) else []
        if len(said | {s for c in winners for s in c.symbols}) < 2:
            continue
        for m in {m for r in members for m in r.clip.marker_ids} | {m for c in winners for m in c.marker_ids}:
            out[m] = members[0].reason
    return out
