"""Curation: turn tagged moments into versioned datasets.

Data flows: markers of some sessions' takes -> clips -> pipeline steps (plugins) ->
an immutable dataset version in the store -> a folder of clips + metadata.jsonl.

Library API (the CLI and the TUI use only these):

- pipelines: `load_pipeline(path)`, `parse_pipeline(text)`, `find_pipeline(name, ws_dir)`
- running: `start_run(ws, db, pipeline, sessions)` then `run.step()` / `run.steps_iter()`
  (preview one step at a time), or `preview(...)`; `run.reports[i].removals` lists what each
  step removed, with audio ranges; nothing is written until `commit(run, name)`
- versions: `dataset_version_id(db, ref)`, `version_info`, `version_clips`, `version_removals`,
  `list_datasets`, `diff_versions(db, a, b)`
- files: `materialise_dataset(ws, db, ref) -> Path`, `export_dataset(ws, db, ref, dest, fmt)`,
  `export_removed(ws, db, ref, dest)` (what the steps cut, to listen to)
- seeing: `coverage(db, ref)`, `clip_map(db, ref)`, `write_png(map, path)`
- descriptors: `take_descriptors(ws, db, take, params)` (cached), `analyse_array`, `analyse_file`
- manual decisions: `decide(db, take_id=, start=, end=, decision=, who=)`
- writing steps: `Step`, `Filter`, `Transform`, `Clip` (see docs/plugins.md)

Refs name versions: "name" (latest), "name@3" or "name/v3", or an integer id.
"""

from .analysis import AnalysisParams, FrameDescriptors, analyse_array, analyse_file
from .clips import Clip, ClipKey, clip_descriptors, hz_to_note, note_to_hz
from .clipmap import ClipMap, clip_map, write_png
from .coverage import Coverage, coverage
from .decisions import decide, decide_clips, decisions_for_take, withdraw
from .descriptors import STATS as DESCRIPTOR_STATS, DescriptorStore, TakeAudioError, take_descriptors
from .diff import VersionDiff, diff_versions
from .export import Exported, ExportError, export_dataset, export_formats, export_removed
from .materialise import materialise_dataset, read_metadata
from .pipeline import Pipeline, PipelineError, StepSpec, find_pipeline, load_pipeline, parse_pipeline, shipped_pipelines
from .run import CurationError, CurationRun, Removal, StepFailed, StepReport, preview, start_run
from .steps import Filter, Step, StepContext, StepParamError, Transform
from .versions import (DatasetNotFound, StoredClip, VersionInfo, commit, dataset_version_id, list_datasets,
                       list_versions, version_clips, version_info, version_removals, version_steps)

__all__ = [
    "materialise_dataset", "dataset_version_id",
    "AnalysisParams", "FrameDescriptors", "analyse_array", "analyse_file", "take_descriptors", "DescriptorStore",
    "DESCRIPTOR_STATS", "TakeAudioError",
    "Clip", "ClipKey", "clip_descriptors", "hz_to_note", "note_to_hz",
    "Step", "Filter", "Transform", "StepContext", "StepParamError",
    "Pipeline", "PipelineError", "StepSpec", "find_pipeline", "load_pipeline", "parse_pipeline", "shipped_pipelines",
    "CurationError", "CurationRun", "Removal", "StepFailed", "StepReport", "preview", "start_run",
    "commit", "list_datasets", "list_versions", "version_clips", "version_info", "version_removals", "version_steps",
    "DatasetNotFound", "StoredClip", "VersionInfo",
    "VersionDiff", "diff_versions", "Exported", "ExportError", "export_dataset", "export_formats", "export_removed", "read_metadata",
    "Coverage", "coverage", "ClipMap", "clip_map", "write_png",
    "decide", "decide_clips", "decisions_for_take", "withdraw",
]
