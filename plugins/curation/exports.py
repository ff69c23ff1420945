"""Dataset exporters: a folder with metadata, a folder for RAVE, label files per take.

An exporter may return a text for the person (what the export means, what to run next);
`rehearsal dataset export` prints it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rehearsal.export import formats as F
from rehearsal.export.markers import write_text
from rehearsal.export.rave import export_rave_folder
from rehearsal.naming import safe_filename


def export_folder(folder: Path, records: list[dict], dest: Path) -> None:
    """clips/ + metadata.jsonl + dataset.json + pipeline.toml, as materialised (files writable)."""
    (dest / "clips").mkdir()
    for r in records:
        shutil.copyfile(folder / r["path"], dest / r["path"])
    for name in ("metadata.jsonl", "dataset.json", "pipeline.toml"):
        shutil.copyfile(folder / name, dest / name)


def export_rave(folder: Path, records: list[dict], dest: Path) -> str:
    """Per symbol group, the clips joined into files of whole RAVE chunks (see
    rehearsal/export/rave.py): what `rave preprocess --input_path` reads, and keeps."""
    return export_rave_folder(folder, records, dest).report()


def export_labels(folder: Path, records: list[dict], dest: Path) -> None:
    """Per take, the dataset's clips as Audacity labels (<session>-take<N>.txt), a Sonic
    Visualiser regions CSV (.csv) and a REAPER region CSV (.reaper.csv), to open beside the
    take's audio and hear what the dataset kept. Review notes ride in the labels."""
    by_take: dict[tuple, list[dict]] = {}
    for r in records:
        by_take.setdefault((r["session"], r["take"]), []).append(r)
    for (session, take), items in sorted(by_take.items()):
        stem = f"{safe_filename(session)}-take{take}"
        items.sort(key=lambda r: (r["start_s"], r["position"]))
        anns = [_annotation(r) for r in items]
        write_text(dest / f"{stem}.txt", F.audacity_labels(anns))
        write_text(dest / f"{stem}.csv", F.sv_regions(anns, items[0]["sample_rate"]))
        write_text(dest / f"{stem}.reaper.csv", F.reaper_csv(anns))
    (dest / "dataset.json").write_text(json.dumps({"labels_for": sorted({r["dataset"] for r in records})}) + "\n")


def _annotation(r: dict) -> F.Annotation:
    symbols = "+".join(r["symbols"])
    notes = [n for n in r.get("notes", ()) if n]
    return F.Annotation(start_s=r["start_s"], end_s=r["end_s"], at_s=r["start_s"], value=symbols, who=r["who"],
                        text=F.one_line(f"#{r['position']} {symbols} ({r['who']})"),
                        note="; ".join(notes) or None)
