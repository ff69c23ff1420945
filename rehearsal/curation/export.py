"""Export a dataset version with a registered dataset exporter (built-ins: folder, rave, labels).

Exporters come from plugins (`register_dataset_exporters`); each gets the materialised
folder, its metadata records and an empty destination folder. A failing exporter is
reported on its plugin and leaves the destination removed rather than half written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlite_utils

from ..plugins import manager as plugin_manager
from ..store.workspace import Workspace
from .materialise import materialise_dataset, read_metadata


class ExportError(RuntimeError):
    pass


def export_formats() -> list[str]:
    return sorted(plugin_manager.registry("dataset_exporters"))


def export_dataset(ws: Workspace, db: sqlite_utils.Database, ref, dest: str | Path, fmt: str = "folder") -> Path:
    exporters = plugin_manager.registry("dataset_exporters")
    if fmt not in exporters:
        raise ExportError(f"unknown export format {fmt!r} (known: {', '.join(sorted(exporters)) or 'none'})")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} exists and is not an empty folder: choose a new one")
    folder = materialise_dataset(ws, db, ref)
    records = read_metadata(folder)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        exporters[fmt](folder, records, dest)
    except Exception as exc:
        plugin = plugin_manager.provider("dataset_exporters", fmt)
        plugin_manager.report_problem(plugin, f"exporter {fmt!r} failed: {type(exc).__name__}: {exc}")
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for p in dest.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        raise ExportError(f"export {fmt!r} (plugin {plugin}) failed: {type(exc).__name__}: {exc}") from exc
    return dest
