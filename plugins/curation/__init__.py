"""Built-in curation steps and dataset exporters.

They register through the same hooks a third-party plugin uses (see docs/plugins.md).
"""

from rehearsal.plugins import hookimpl

from . import agreement, augment, balance, dedupe, exports, level, manual, pitch, regions, select


@hookimpl
def register_curation_steps(register):
    register("select-symbols", select.SelectSymbols)
    register("select-people", select.SelectPeople)
    register("duration", select.Duration)
    register("agreement", agreement.Agreement)
    register("region-from-taps", regions.RegionFromTaps)
    register("trim-silence", regions.TrimSilence)
    register("segment", regions.Segment)
    register("loudness-gate", level.LoudnessGate)
    register("noise-filter", level.NoiseFilter)
    register("pitch-range", pitch.PitchRange)
    register("balance", balance.Balance)
    register("dedupe", dedupe.Dedupe)
    register("manual", manual.Manual)
    register("augment", augment.Augment)


@hookimpl
def register_dataset_exporters(register):
    register("folder", exports.export_folder)
    register("rave", exports.export_rave)
    register("labels", exports.export_labels)
