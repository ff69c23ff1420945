"""Dataset exporters: a folder with metadata, a folder for RAVE, label files per take."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from rehearsal.naming import safe_filename


def export_folder(folder: Path, records: list[dict], dest: Path) -> None:
    """clips/ + metadata.jsonl + dataset.json + pipeline.toml, as materialised (files writable)."""
    (dest / "clips").mkdir()
    for r in records:
        shutil.copyfile(folder / r["path"], dest / r["path"])
    for name in ("metadata.jsonl", "dataset.json", "pipeline.toml"):
        shutil.copyfile(folder / name, dest / name)


def export_rave(folder: Path, records: list[dict], dest: Path) -> None:
    """A flat folder of WAV files, what `rave preprocess --input_path` reads."""
    for r in records:
        shutil.copyfile(folder / r["path"], dest / Path(r["path"]).name)


def export_labels(folder: Path, records: list[dict], dest: Path) -> None:
    """Per take: Audacity labels (<session>-take<N>.txt) and Sonic Visualiser CSV (.csv) of the
    dataset's clips, to open beside the take's audio and hear what the dataset kept."""
    by_take: dict[tuple, list[dict]] = {}
    for r in records:
        by_take.setdefault((r["session"], r["take"]), []).append(r)
    for (session, take), items in sorted(by_take.items()):
        stem = f"{safe_filename(session)}-take{take}"
        items.sort(key=lambda r: r["start_s"])
        with open(dest / f"{stem}.txt", "w", encoding="utf-8", newline="") as f:
            for r in items:
                f.write(f"{r['start_s']:.6f}\t{r['end_s']:.6f}\t{_label(r)}\n")
        with open(dest / f"{stem}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            for r in items:
                w.writerow([f"{r['start_s']:.6f}", r["position"], _label(r)])
    (dest / "dataset.json").write_text(json.dumps({"labels_for": sorted({r["dataset"] for r in records})}) + "\n")


def _label(r: dict) -> str:
    text = f"#{r['position']} {'+'.join(r['symbols'])} ({r['who']})"
    return " ".join(text.split())
