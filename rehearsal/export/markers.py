"""Write a take's markers in the formats other tools read.

- json: one object per line, tap time and region in samples and in seconds.
- audacity: `start<TAB>end<TAB>label`, seconds with 6 decimals, per take audio file (ELAN reads it).
- sv-csv: Sonic Visualiser time instants, `time,value,label`.
- reaper: region/marker CSV `#,Name,Start,End,Length`, UTF-8 without a BOM.
"""

from __future__ import annotations

import csv
import io
import json

from ..store.markers import Marker

FORMATS = ("json", "audacity", "sv-csv", "reaper")


def _label(m: Marker) -> str:
    # labels are one line and tab-free whatever the notation or note says
    text = f"{m.glyph} {m.symbol} ({m.who})"
    return " ".join(text.split())


def marker_json(m: Marker, take: dict) -> dict:
    sr = take["sample_rate"]
    return {
        "id": m.id, "take_id": m.take_id, "take": take.get("number"), "symbol": m.symbol, "glyph": m.glyph,
        "who": m.who, "source": m.source, "gesture": m.gesture,
        "tap_sample": m.tap_sample, "start_sample": m.start_sample, "end_sample": m.end_sample,
        "tap_s": round(m.tap_sample / sr, 6), "start_s": round(m.start_sample / sr, 6),
        "end_s": round(m.end_sample / sr, 6), "sample_rate": sr, "note": m.note, "created_at": m.created_at,
    }


def export_markers(markers: list[Marker], take: dict, fmt: str) -> str:
    sr = take["sample_rate"]
    if fmt == "json":
        return "".join(json.dumps(marker_json(m, take), ensure_ascii=False) + "\n" for m in markers)
    if fmt == "audacity":
        return "".join(f"{m.start_sample / sr:.6f}\t{m.end_sample / sr:.6f}\t{_label(m)}\n" for m in markers)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if fmt == "sv-csv":
        for m in markers:
            w.writerow([f"{m.tap_sample / sr:.6f}", m.symbol, _label(m)])
    elif fmt == "reaper":
        w.writerow(["#", "Name", "Start", "End", "Length"])
        for i, m in enumerate(markers, 1):
            start, end = m.start_sample / sr, m.end_sample / sr
            w.writerow([f"R{i}", _label(m), f"{start:.6f}", f"{end:.6f}", f"{end - start:.6f}"])
    else:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return out.getvalue()
