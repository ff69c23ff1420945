"""Annotation files other tools read, written from one neutral list of annotations.

Markers of a take (`markers.py`) and the clips of a dataset (the `labels` exporter) both
become `Annotation`s; each writer here turns them into one tool's file, so a rule about a
format (a header, a quoting, a time unit) lives in one place:

- Audacity labels: `start<TAB>end<TAB>label`, seconds with 6 decimals;
- Sonic Visualiser CSV with a header SV's CSV import reads by name: `time,label` (time
  instants) or `time,duration,label` (regions), seconds (a time of 0 s is written one
  sample in: SV's reader skips a row at frame 0);
- REAPER Region/Marker Manager CSV `#,Name,Start,End,Length,Color` with times as REAPER
  writes them with the ruler in Minutes:Seconds, and an .RPP fragment of MARKER lines in
  seconds (what a project file holds, whatever the ruler shows);
- ELAN .eaf and Praat TextGrid through pympi-ling: one tier (or more, see `lanes`) per person.

The label carries the review note where the format has nothing better: "✓ good (ana): bleed".
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Annotation:
    start_s: float
    end_s: float
    at_s: float                 # the moment itself (the tap) for formats of instants
    value: str                  # what it is: a symbol, or symbols joined with "+"
    who: str                    # the person (tier) it belongs to
    text: str                   # the one-line label: glyph, symbol, who
    note: str | None = None     # the review note

    @property
    def label(self) -> str:
        """The one-line label with the note, for formats with one text field."""
        return one_line(f"{self.text}: {self.note}" if self.note else self.text)


@dataclass(frozen=True)
class Vocabulary:
    """What the values mean (ELAN's controlled vocabulary): [(value, meaning)]."""
    name: str
    entries: tuple[tuple[str, str], ...]


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- Audacity --------------------------------------------------------------------------

def audacity_labels(anns: list[Annotation]) -> str:
    return "".join(f"{a.start_s:.6f}\t{a.end_s:.6f}\t{a.label}\n" for a in anns)


# --- Sonic Visualiser ------------------------------------------------------------------
# SV splits fields with its own rules (svcore StringBits::splitQuoted, escapes "any"): a
# field is quoted with " (doubled inside) and a backslash escapes, so both are written
# escaped; a field starting with ' would open a single-quoted field, so it is quoted too.

def _sv_field(text: str) -> str:
    if not text or any(c in text for c in ",\"'\\") or text != text.strip():
        return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'
    return text


def _sv_csv(header: tuple[str, ...], rows) -> str:
    lines = [",".join(header)]
    lines += [",".join(_sv_field(f) for f in row) for row in rows]
    return "\n".join(lines) + "\n"


def _sv_time(seconds: float, sample_rate: int) -> str:
    # SV's reader takes a time of frame 0 for a failure and skips the row: start one sample in
    return f"{max(seconds, 1 / sample_rate):.6f}"


def sv_instants(anns: list[Annotation], sample_rate: int) -> str:
    """Time instants at each annotation's moment: SV's CSV import makes a time-instants layer."""
    return _sv_csv(("time", "label"), ([_sv_time(a.at_s, sample_rate), a.label] for a in anns))


def sv_regions(anns: list[Annotation], sample_rate: int) -> str:
    """Regions (start and duration): SV's CSV import makes a regions layer."""
    return _sv_csv(("time", "duration", "label"),
                   ([_sv_time(a.start_s, sample_rate), f"{a.end_s - a.start_s:.6f}", a.label]
                    for a in anns if a.end_s > a.start_s))


# --- REAPER ----------------------------------------------------------------------------

def reaper_time(seconds: float) -> str:
    """REAPER's Minutes:Seconds form: 0:05.250, 12:00.000, 1:02:03.500 (milliseconds)."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m}:{s:02d}.{ms:03d}"


def reaper_csv(anns: list[Annotation]) -> str:
    """Region/Marker Manager CSV: R<n> rows for regions, M<n> for instants, as REAPER exports."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["#", "Name", "Start", "End", "Length", "Color"])
    regions = markers = 0
    for a in anns:
        if a.end_s > a.start_s:
            regions += 1
            w.writerow([f"R{regions}", a.label, reaper_time(a.start_s), reaper_time(a.end_s),
                        reaper_time(a.end_s - a.start_s), ""])
        else:
            markers += 1
            w.writerow([f"M{markers}", a.label, reaper_time(a.at_s), "", "", ""])
    return out.getvalue()


def _rpp_string(text: str) -> str:
    """An RPP token: quoted with the first of " ' ` the text lacks (how REAPER quotes)."""
    if text and not any(c.isspace() or c in "\"'`" for c in text):
        return text
    for q in "\"'`":
        if q not in text:
            return f"{q}{text}{q}"
    return '"' + text.replace('"', "'") + '"'


def reaper_rpp(anns: list[Annotation]) -> str:
    """MARKER lines for a project's <REAPER_PROJECT ...> block, positions in seconds.

    A region is two lines with the same index: its start (flag 1, the name) and its end."""
    lines = []
    for i, a in enumerate(anns, 1):
        guid = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"rehearsal:{i}:{a.start_s}:{a.label}")).upper() + "}"
        if a.end_s > a.start_s:
            lines.append(f"  MARKER {i} {a.start_s:.6f} {_rpp_string(a.label)} 1 0 1 R {guid} 0")
            lines.append(f'  MARKER {i} {a.end_s:.6f} "" 1')
        else:
            lines.append(f"  MARKER {i} {a.at_s:.6f} {_rpp_string(a.label)} 0 0 1 R {guid} 0")
    return "\n".join(lines) + ("\n" if lines else "")


# --- tiers: ELAN and Praat ------------------------------------------------------------

def lanes(anns: list[Annotation]) -> dict[str, list[Annotation]]:
    """Tier name -> its annotations, one tier per person; overlapping annotations of one
    person (neither ELAN nor Praat allows overlaps within a tier) go to "ana 2", "ana 3"."""
    tiers: dict[str, list[Annotation]] = {}
    by_person: dict[str, list[list[Annotation]]] = {}
    for a in sorted(anns, key=lambda a: (a.start_s, a.end_s)):
        person = a.who or "unknown"
        rows = by_person.setdefault(person, [])
        for row in rows:
            if row[-1].end_s <= a.start_s:
                row.append(a)
                break
        else:
            rows.append([a])
    for person in sorted(by_person):
        for i, row in enumerate(by_person[person]):
            tiers[person if i == 0 else f"{person} {i + 1}"] = row
    return tiers


def _through_file(write, suffix: str) -> str:
    """pympi writes files: write into a temporary one and return its text."""
    fd, name = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    os.unlink(name)     # pympi renames an existing file to .bak
    try:
        write(name)
        return Path(name).read_text(encoding="utf-8")
    finally:
        Path(name).unlink(missing_ok=True)


def textgrid(anns: list[Annotation], duration_s: float) -> str:
    """A Praat TextGrid: an IntervalTier per person lane; the note rides in the label."""
    from pympi.Praat import TextGrid

    end = max([duration_s, *(a.end_s for a in anns)])
    tg = TextGrid(xmin=0, xmax=end)
    for name, items in lanes(anns).items():
        tier = tg.add_tier(name)
        for a in items:
            if a.end_s > a.start_s:
                tier.add_interval(a.start_s, a.end_s, a.label)
    return _through_file(lambda p: tg.to_file(p, codec="utf-8"), ".TextGrid")


LANGUAGE = ("und", "http://cdb.iso.org/lg/CDB-00130975-001", "undetermined (und)")   # ELAN's default


def eaf(anns: list[Annotation], vocabulary: Vocabulary, media_path: str | None = None,
        author: str = "rehearsal") -> str:
    """An ELAN document: a tier per person lane whose values come from the notation's
    controlled vocabulary (each symbol with its meaning), and under each a "note" tier
    (Symbolic_Association) holding the review notes."""
    from pympi.Elan import Eaf

    doc = Eaf(author=author)
    doc.adocument.update({"VERSION": "3.0", "FORMAT": "3.0",
                          "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"})
    doc.remove_tier("default")
    doc.remove_linguistic_type("default-lt")
    lang = LANGUAGE[0]
    doc.add_language(*LANGUAGE)
    cv = one_line(vocabulary.name) or "notation"
    doc.add_controlled_vocabulary(cv)
    doc.add_cv_description(cv, lang, f"the symbols of {vocabulary.name}")
    known = set()
    for i, (value, meaning) in enumerate(vocabulary.entries, 1):
        doc.add_cv_entry(cv, f"cveid{i}", [(value, lang, meaning or None)])
        known.add(value)
    for value in sorted({a.value for a in anns} - known):    # a symbol the notation lacks
        doc.add_cv_entry(cv, f"cveid{len(known) + 1}", [(value, lang, None)])
        known.add(value)
    doc.add_linguistic_type("symbol", param_dict={
        "LINGUISTIC_TYPE_ID": "symbol", "TIME_ALIGNABLE": "true", "GRAPHIC_REFERENCES": "false",
        "CONTROLLED_VOCABULARY_REF": cv})
    doc.add_linguistic_type("note", constraints="Symbolic_Association", timealignable=False)
    if media_path:
        doc.add_linked_file(Path(media_path).resolve().as_uri(), relpath=Path(media_path).name,
                            mimetype="audio/x-wav")
    for name, items in lanes(anns).items():
        person = items[0].who or "unknown"
        doc.add_tier(name, ling="symbol", part=person, language=lang)
        noted = [a for a in items if a.note]
        if noted:
            doc.add_tier(f"{name} note", ling="note", parent=name, part=person, language=lang)
        for a in items:
            start, end = round(a.start_s * 1000), round(a.end_s * 1000)
            if end > start:
                doc.add_annotation(name, start, end, a.value)
        for a in noted:
            start, end = round(a.start_s * 1000), round(a.end_s * 1000)
            if end > start:
                doc.add_ref_annotation(f"{name} note", name, (start + end) // 2, one_line(a.note))
    from pympi.Elan import to_eaf

    return _through_file(lambda p: to_eaf(p, doc), ".eaf")
