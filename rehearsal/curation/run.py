"""Running a pipeline over sessions, without writing a dataset (that is `versions.commit`).

    run = start_run(ws, db, pipeline, ["monday", "tuesday"])
    for report in run.steps_iter():        # one step at a time (a TUI shows each effect)
        print(report.label, report.clips_in, "->", report.clips_out)
        for removal in report.removals:    # what was cut, and why: play removal.clip
            ...
    version = commit(run, "pitched-good")  # versions.py: one transaction, immutable

`preview(...)` runs every step at once. A step that raises, or returns something that is
not a valid clip of a take in the run, stops the run with `StepFailed` naming the step and
the plugin that provides it; nothing is written (descriptors computed meanwhile stay
cached, which is harmless).
"""

from __future__ import annotations

import os

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import sqlite_utils

from ..plugins import manager as plugin_manager
from ..plugins.timelimit import LastResort, time_limit
from ..store.plugin_problems import remember as remember_problem
from ..store.markers import list_markers
from ..store.notations import load_stored_notation
from ..store.people import performers, source_map, withdrawn
from ..store.sessions import find_session
from ..store.takes import takes_of_session
from ..store.workspace import Workspace
from .clips import Clip, ClipKey, clip_descriptors
from .descriptors import DescriptorStore
from .pipeline import Pipeline, PipelineError, StepSpec
from .steps import Step, StepContext

USABLE_TAKE_STATUS = ("complete", "recovered")


class CurationError(RuntimeError):
    """The run cannot go on (no such session, no takes, unreadable audio...)."""


class StepFailed(CurationError):
    """A step raised or returned something invalid. Nothing was written."""

    def __init__(self, index: int, step: str, plugin: str | None, message: str):
        self.index, self.step, self.plugin, self.message = index, step, plugin, message
        super().__init__(f"step {index} {step!r} (plugin {plugin or 'unknown'}) failed: {message}")


@dataclass(frozen=True)
class Removal:
    """A clip that a step removed (replaced_by is None) or replaced by other clips."""

    step_index: int          # 0 = taking clips from markers, then 1-based as in the pipeline file
    step_name: str
    clip: Clip
    reason: str
    replaced_by: tuple[ClipKey, ...] | None = None

    @property
    def audio_range(self) -> tuple[int, int, int]:
        """(take_id, start_sample, end_sample): what to play to hear what was cut."""
        return self.clip.take_id, self.clip.start, self.clip.end

    def describe(self) -> str:
        what = "replaced" if self.replaced_by else "removed"
        return f"{what} {self.clip.describe()}: {self.reason}"


@dataclass
class StepReport:
    index: int
    name: str
    plugin: str
    params: dict
    note: str
    clips_in: int
    clips_out: int
    seconds_in: float
    seconds_out: float
    removals: list[Removal] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)     # what this step passed on

    @property
    def label(self) -> str:
        return f"{self.index} {self.name}"

    @property
    def effect(self) -> str:
        """What the step did to clips, in the words the CLI and the TUI both show:
        "1 removed, 3 changed" (changed: replaced by trimmed or split clips); "" if nothing."""
        dropped = sum(1 for r in self.removals if not r.replaced_by)
        replaced = len(self.removals) - dropped
        return ", ".join(([f"{dropped} removed"] if dropped else []) + ([f"{replaced} changed"] if replaced else []))

    def summary(self) -> str:
        bits = [f"{self.clips_in} -> {self.clips_out} clips",
                f"{self.seconds_in:.1f} -> {self.seconds_out:.1f} s"]
        if self.effect:
            bits.append(self.effect)
        return f"{self.index:>2} {self.name:<18} " + ", ".join(bits)


STEP_TIME_LIMIT_S = 600.0


def step_time_limit_s() -> float:
    """Seconds one curation step may run (REHEARSAL_STEP_TIME_LIMIT_S; 0 for none)."""
    text = os.environ.get("REHEARSAL_STEP_TIME_LIMIT_S", "")
    try:
        return float(text) if text.strip() else STEP_TIME_LIMIT_S
    except ValueError:
        raise CurationError(f"REHEARSAL_STEP_TIME_LIMIT_S={text!r}: give a number of seconds") from None


def _seconds(clips: list[Clip]) -> float:
    return float(sum(c.duration_s for c in clips))


class CurationRun:
    """One pass of a pipeline over some sessions' takes, held in memory until committed."""

    def __init__(self, ws: Workspace, db: sqlite_utils.Database, pipeline: Pipeline, sessions: list[dict],
                 takes: dict[int, dict], steps: list[tuple[StepSpec, Step]], registry: dict):
        self.ws, self.db, self.pipeline = ws, db, pipeline
        self.sessions = sessions
        self.takes = takes
        self.store = DescriptorStore(ws, db, pipeline.analysis)
        self._steps = steps
        self._registry = registry
        self._descriptors: dict[tuple[int, int, int], dict] = {}
        self._notations: dict[int, object] = {}
        self.take_channels: dict[int, tuple[int, ...] | None] = {}   # kept input channels (None: all)
        self.source_clips, self.source_removals = self._clips_from_markers()
        self.reports: list[StepReport] = []
        self._current: list[Clip] = list(self.source_clips)
        self._next = 0

    # -- services for steps -------------------------------------------------------------
    def clip_descriptors(self, clip: Clip) -> dict:
        k = (clip.take_id, clip.start, clip.end)
        d = self._descriptors.get(k)
        if d is None:
            d = clip_descriptors(self.store.frames(clip.take_id), clip.start, clip.end)
            self._descriptors[k] = d
        return d

    def notation_of(self, take_id: int):
        nid = self.takes[take_id]["notation_id"]
        if nid not in self._notations:
            self._notations[nid] = load_stored_notation(self.db, nid)
        return self._notations[nid]

    def read_audio(self, clip: Clip) -> np.ndarray:
        import soundfile as sf

        path = self.ws.resolve(self.takes[clip.take_id]["path"])
        data, _ = sf.read(str(path), start=clip.start, stop=clip.end, dtype="float32", always_2d=True)
        return clip_audio(data, clip)

    # -- source ---------------------------------------------------------------------------
    def _clips_from_markers(self) -> tuple[list[Clip], list[Removal]]:
        clips, removals = [], []
        corrected = _corrected_markers(self.db, list(self.takes))
        gone = withdrawn(self.db)
        mapping = source_map(self.db) if gone else {}
        for take in self.takes.values():
            sr, frames = take["sample_rate"], take["frames"]
            played = performers(self.db, take, mapping) if gone else []
            left = [f"channel {ch + 1} ({who} played it; withdrew {gone[who]})"
                    for ch, who in enumerate(played) if who in gone]
            kept = tuple(ch for ch, who in enumerate(played) if who not in gone)
            self.take_channels[take["id"]] = kept if left else None
            for m in list_markers(self.db, take["id"]):
                clip = Clip(take["id"], m.start_sample, m.end_sample, sr, (m.symbol,), (m.who,), (m.id,),
                            m.tap_sample, "markers", m.id in corrected)
                if m.who in gone:
                    removals.append(Removal(0, "markers", clip, f"{m.who} withdrew their material ({gone[m.who]})"))
                    continue
                if left and not kept:
                    players = sorted({w for w in played if w in gone})
                    removals.append(Removal(0, "markers", clip, f"the take was played by {', '.join(players)}, "
                                            f"who withdrew ({'; '.join(gone[w] for w in players)})"))
                    continue
                if left:
                    held = clip.replace(channels=kept)
                    removals.append(Removal(0, "markers", clip, "left out " + ", ".join(left), (held.key,)))
                    clip = held
                start, end = max(0, m.start_sample), min(frames, m.end_sample)
                if end <= start:
                    removals.append(Removal(0, "markers", clip, "region lies outside the take's audio"))
                    continue
                if (start, end) != (clip.start, clip.end):
                    clip = clip.with_bounds(start, end)   # a tap near the start: window clipped to the audio
                clips.append(clip)
        clips.sort(key=lambda c: (c.take_id, c.start, c.end, c.symbols))
        return clips, removals

    # -- running --------------------------------------------------------------------------
    @property
    def clips(self) -> list[Clip]:
        """The clips after the steps run so far (all of them once `finish()` or `preview`)."""
        return list(self._current)

    @property
    def done(self) -> bool:
        return self._next >= len(self._steps)

    def removals(self, step_index: int | None = None) -> list[Removal]:
        out = list(self.source_removals) if step_index in (None, 0) else []
        for r in self.reports:
            if step_index is None or r.index == step_index:
                out.extend(r.removals)
        return out

    def step(self) -> StepReport:
        """Run the next step; returns its report."""
        if self.done:
            raise CurationError("every step has run")
        spec, step = self._steps[self._next]
        plugin = plugin_manager.provider("curation_steps", spec.use) or "unknown"
        before = self._current
        ctx = StepContext(self, spec.use)
        audio_before = self._take_files()
        try:
            with time_limit(step_time_limit_s(), f"step {spec.index} {spec.use!r} (plugin {plugin})",
                            LastResort(plugin, str(self.ws.db_path))):
                result = step.apply(list(before), ctx)
            touched = self._touched_takes(audio_before)
            if touched:
                message = f"it deleted or changed take audio: {', '.join(touched)}"
                self._problem(plugin, f"step {spec.use!r} {message}")
                raise StepFailed(spec.index, spec.use, plugin, message)
            after = self._validate(result, spec, plugin)
        except StepFailed:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # SystemExit too: a plugin must not end the run silently
            message = f"{type(exc).__name__}: {exc}"
            self._problem(plugin, f"step {spec.use!r} failed in a run: {message}")
            raise StepFailed(spec.index, spec.use, plugin, message) from exc
        removals, after = self._account(spec, before, after, ctx)
        after = [self._held(c) for c in after]
        report = StepReport(spec.index, spec.use, plugin, step.params(), spec.note, len(before), len(after),
                            _seconds(before), _seconds(after), removals, list(after))
        self.reports.append(report)
        self._current = after
        self._next += 1
        return report

    def _held(self, clip: Clip) -> Clip:
        """A clip holds only the take's channels of people who have not withdrawn, whatever a
        step made."""
        want = self.take_channels.get(clip.take_id)
        return clip if clip.channels == want else clip.replace(channels=want)

    def _problem(self, plugin: str, message: str) -> None:
        """For `rehearsal plugins`: in this process, and remembered in the workspace."""
        plugin_manager.report_problem(plugin, message)
        try:
            remember_problem(self.db, plugin, message)
        except Exception:      # a locked or full database must not hide the step's own error
            pass

    def _take_files(self) -> dict[str, tuple[int, int] | None]:
        """(size, mtime_ns) of every take file of the run: a step must only read them."""
        out: dict[str, tuple[int, int] | None] = {}
        for take in self.takes.values():
            try:
                st = self.ws.resolve(take["path"]).stat()
                out[take["path"]] = (st.st_size, st.st_mtime_ns)
            except OSError:
                out[take["path"]] = None
        return out

    def _touched_takes(self, before: dict[str, tuple[int, int] | None]) -> list[str]:
        now = self._take_files()
        return [f"{path} ({'deleted' if now[path] is None else 'changed'})"
                for path, was in before.items() if was is not None and now[path] != was]

    def steps_iter(self) -> Iterator[StepReport]:
        while not self.done:
            yield self.step()

    def finish(self) -> "CurationRun":
        for _ in self.steps_iter():
            pass
        return self

    def _validate(self, result, spec: StepSpec, plugin: str) -> list[Clip]:
        def bad(msg):
            self._problem(plugin, f"step {spec.use!r} returned invalid output: {msg}")
            return StepFailed(spec.index, spec.use, plugin, f"returned invalid output: {msg}")

        if result is None or isinstance(result, (str, bytes, Clip)):
            raise bad(f"expected a list of clips, got {type(result).__name__}")
        try:
            items = list(result)
        except TypeError:
            raise bad(f"expected a list of clips, got {type(result).__name__}") from None
        out = []
        for i, c in enumerate(items):
            if not isinstance(c, Clip):
                raise bad(f"item {i} is {type(c).__name__}, not a Clip")
            take = self.takes.get(c.take_id)
            if take is None:
                raise bad(f"item {i} refers to take {c.take_id!r}, which is not in this run")
            if not (isinstance(c.start, (int, np.integer)) and isinstance(c.end, (int, np.integer))):
                raise bad(f"item {i}: start and end must be whole sample numbers")
            if not 0 <= c.start < c.end <= take["frames"]:
                raise bad(f"item {i}: region {c.start}-{c.end} is not inside take {c.take_id} (0-{take['frames']})")
            if c.sample_rate != take["sample_rate"]:
                raise bad(f"item {i}: sample rate {c.sample_rate} is not the take's {take['sample_rate']}")
            symbols, who = tuple(c.symbols), tuple(c.who)
            if not symbols or not all(isinstance(s, str) and s for s in symbols):
                raise bad(f"item {i}: symbols must be a non-empty list of names")
            if not all(isinstance(w, str) for w in who):
                raise bad(f"item {i}: who must be a list of names")
            try:
                augment = tuple((str(k), v) for k, v in c.augment)
            except (TypeError, ValueError):
                raise bad(f"item {i}: augment must be (name, value) pairs") from None
            if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for _, v in augment):
                raise bad(f"item {i}: augment values must be numbers or text")
            if (symbols, who) != (c.symbols, c.who) or type(c.start) is not int or type(c.end) is not int:
                c = c.replace(symbols=symbols, who=who, start=int(c.start), end=int(c.end),
                              marker_ids=tuple(int(m) for m in c.marker_ids))
            out.append(c)
        return out

    def _account(self, spec: StepSpec, before: list[Clip], after: list[Clip], ctx: StepContext):
        """Match inputs to outputs by key; every input that did not pass gets a Removal."""
        in_keys = Counter(c.key for c in before)
        out_keys = Counter(c.key for c in after)
        # outputs that are not inputs are this step's own clips
        new_budget = out_keys - in_keys
        marked = []
        for c in after:
            if new_budget.get(c.key, 0) > 0:
                new_budget[c.key] -= 1
                c = c.replace(made_by=spec.use)
            marked.append(c)
        passed = in_keys & out_keys
        records = list(ctx.records)
        removals = []
        for c in before:
            if passed.get(c.key, 0) > 0:
                passed[c.key] -= 1
                continue
            rec = next((r for r in records if r.clip.key == c.key), None)
            if rec is not None:
                records.remove(rec)
                replaced = tuple(x.key for x in rec.replaced_by) if rec.replaced_by else None
                removals.append(Removal(spec.index, spec.use, c, rec.reason, replaced))
            else:
                removals.append(Removal(spec.index, spec.use, c, f"removed by {spec.use} (no reason given)"))
        return removals, marked


def clip_audio(data: np.ndarray, clip: Clip) -> np.ndarray:
    """A clip's samples from its take's samples over its region: only the channels it holds,
    augmented as its augmentation step said (rehearsal.curation.augment)."""
    if clip.channels is not None:
        data = data[:, list(clip.channels)]
    if clip.augment:
        from .augment import render

        data = render(data, clip.sample_rate, dict(clip.augment))
    return data


def _corrected_markers(db, take_ids: list[int]) -> set[int]:
    """Markers whose region a person changed (trimmed, nudged) after tagging."""
    if not take_ids or not db["marker_edits"].exists():
        return set()
    marks = ",".join("?" * len(take_ids))
    rows = db.query(f"""SELECT DISTINCT e.marker_id AS id, e.after_json AS after FROM marker_edits e
                        JOIN markers m ON m.id = e.marker_id
                        WHERE m.take_id IN ({marks}) AND e.action = 'update'""", take_ids)
    return {r["id"] for r in rows if r["after"] and ('"start_sample"' in r["after"] or '"end_sample"' in r["after"])}


def resolve_sessions(db, sessions: list[str]) -> list[dict]:
    out = []
    for s in sessions:
        try:
            row = find_session(db, s)
        except LookupError as exc:
            raise CurationError(str(exc)) from None
        if all(o["id"] != row["id"] for o in out):
            out.append({"id": row["id"], "name": row["name"]})
    return out


def start_run(ws: Workspace, db: sqlite_utils.Database, pipeline: Pipeline, sessions: list[str],
              registry: dict | None = None, leave_out: frozenset[int] = frozenset()) -> CurationRun:
    """Check the pipeline against the plugins, take clips from the sessions' markers (of
    every finished take but those in `leave_out`)."""
    if not sessions:
        raise CurationError("name at least one session")
    registry = plugin_manager.registry("curation_steps") if registry is None else registry
    steps = [(spec, pipeline.instantiate(spec, registry)) for spec in pipeline.steps if spec.enabled]
    if not steps:
        raise PipelineError(pipeline.source, None, "steps", "every step is disabled")
    resolved = resolve_sessions(db, sessions)
    takes = {}
    for s in resolved:
        for t in takes_of_session(db, s["id"]):
            if t["status"] in USABLE_TAKE_STATUS and t["frames"] > 0 and t["id"] not in leave_out:
                takes[t["id"]] = t
    if not takes:
        raise CurationError(f"no finished takes in {', '.join(s['name'] for s in resolved)}")
    return CurationRun(ws, db, pipeline, resolved, takes, steps, registry)


def preview(ws: Workspace, db: sqlite_utils.Database, pipeline: Pipeline, sessions: list[str],
            registry: dict | None = None) -> CurationRun:
    """Run every step; nothing is written. Look at `run.reports`, `run.clips`, `run.removals()`."""
    return start_run(ws, db, pipeline, sessions, registry).finish()

