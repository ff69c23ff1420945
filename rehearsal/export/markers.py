"""Write a take's markers in the formats other tools read (one file describes one take).

- json: one object per line, tap time and region in samples and in seconds, the note;
- audacity: `start<TAB>end<TAB>label` (Audacity, and ELAN's / Praat's label import);
- sv-csv: Sonic Visualiser time instants at each tap, header `time,label`;
- reaper: Region/Marker Manager CSV `#,Name,Start,End,Length,Color`, Minutes:Seconds;
- reaper-rpp: MARKER lines in seconds, to paste into an .RPP project;
- eaf: ELAN, one tier per person, the notation as a controlled vocabulary, notes on a
  dependent tier;
- textgrid: Praat, one interval tier per person.

The review note rides in the label wherever the format has no place of its own for it.
See formats.py for each format's rules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..store.markers import Marker
from . import formats as F

FORMATS = ("json", "audacity", "sv-csv", "reaper", "reaper-rpp", "eaf", "textgrid")
EXTENSIONS = {"json": "jsonl", "audacity": "txt", "sv-csv": "csv", "reaper": "reaper.csv",
              "reaper-rpp": "rpp", "eaf": "eaf", "textgrid": "TextGrid"}
ONE_TAKE = tuple(f for f in FORMATS if f != "json")   # files that describe one audio file


def annotation(m: Marker, sr: int) -> F.Annotation:
    return F.Annotation(start_s=m.start_sample / sr, end_s=m.end_sample / sr, at_s=m.tap_sample / sr,
                        value=m.symbol, who=m.who, text=F.one_line(f"{m.glyph} {m.symbol} ({m.who})"),
                        note=(m.note or "").strip() or None)


def marker_json(m: Marker, take: dict) -> dict:
    sr = take["sample_rate"]
    return {
        "id": m.id, "take_id": m.take_id, "take": take.get("number"), "symbol": m.symbol, "glyph": m.glyph,
        "who": m.who, "source": m.source, "gesture": m.gesture,
        "tap_sample": m.tap_sample, "start_sample": m.start_sample, "end_sample": m.end_sample,
        "tap_s": round(m.tap_sample / sr, 6), "start_s": round(m.start_sample / sr, 6),
        "end_s": round(m.end_sample / sr, 6), "sample_rate": sr, "note": m.note, "created_at": m.created_at,
    }


def vocabulary(notation, markers: list[Marker]) -> F.Vocabulary:
    """The notation's symbols with their meanings (the label where no meaning is written)."""
    if notation is None:
        return F.Vocabulary("symbols", tuple((s, "") for s in sorted({m.symbol for m in markers})))
    return F.Vocabulary(notation.name, tuple((s.id, s.meaning or s.label) for s in notation.symbols))


def export_markers(markers: list[Marker], take: dict, fmt: str, notation=None, media_path=None) -> str:
    """The text of one take's markers in `fmt`. `notation` (the take's) gives ELAN its
    vocabulary; `media_path` (the take's audio) is linked from the ELAN document."""
    sr = take["sample_rate"]
    if fmt == "json":
        return "".join(json.dumps(marker_json(m, take), ensure_ascii=False) + "\n" for m in markers)
    anns = [annotation(m, sr) for m in markers]
    if fmt == "audacity":
        return F.audacity_labels(anns)
    if fmt == "sv-csv":
        return F.sv_instants(anns, sr)
    if fmt == "reaper":
        return F.reaper_csv(anns)
    if fmt == "reaper-rpp":
        return F.reaper_rpp(anns)
    if fmt == "textgrid":
        return F.textgrid(anns, (take.get("frames") or 0) / sr)
    if fmt == "eaf":
        return F.eaf(anns, vocabulary(notation, markers), media_path)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def take_file_name(take: dict, fmt: str) -> str:
    return f"take-{take['number']:03d}.{EXTENSIONS[fmt]}"


def take_markers_text(db, ws, take: dict, fmt: str, shown=None) -> str:
    """Export one take (a takes row) from the store: its live markers, notation and audio.
    `shown`, when given, maps each marker to the one to write (e.g. with curation's region)."""
    from ..store.markers import list_markers
    from ..store.notations import load_stored_notation

    notation = None
    if fmt == "eaf" and take.get("notation_id") is not None:
        notation = load_stored_notation(db, take["notation_id"])
    media = str(ws.resolve(take["path"])) if fmt == "eaf" and take.get("path") else None
    markers = list_markers(db, take["id"])
    if shown is not None:
        markers = [shown(m) for m in markers]
    return export_markers(markers, take, fmt, notation, media)


def write_text(path: Path, text: str) -> None:
    """Write whole or not at all (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)


class OutputError(ValueError):
    pass


def output_paths(output: str, takes: list[dict], fmt: str) -> list[tuple[dict, Path]]:
    """Where each take goes for `-o OUTPUT`: a folder (existing, or ending in /) gets
    take-NNN.<ext> per take; a name with {take} is filled in per take; a plain file name
    holds one take only. Two takes never share a file."""
    if "{take}" in output:
        paths = [(t, Path(output.replace("{take}", str(t["number"])))) for t in takes]
    elif output.endswith(("/", os.sep)) or Path(output).is_dir():
        paths = [(t, Path(output) / take_file_name(t, fmt)) for t in takes]
    elif len(takes) > 1:
        raise OutputError(
            f"{output}: {len(takes)} takes would go into one file, and a file describes one take. "
            f"Give a folder (-o {Path(output).parent / 'markers'}/: one take-NNN.{EXTENSIONS[fmt]} per take), "
            f"a name with {{take}} (-o {_with_take(output, fmt)}), or choose one take with --take N")
    else:
        paths = [(takes[0], Path(output))] if takes else []
    if len({p for _, p in paths}) != len(paths):
        raise OutputError(f"{output}: two takes would be written to the same file")
    return paths


def _with_take(output: str, fmt: str) -> str:
    p = Path(output)
    suffix = "".join(p.suffixes)
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return str(p.with_name(f"{stem}-{{take}}{suffix or '.' + EXTENSIONS[fmt]}"))
