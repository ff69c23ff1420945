"""Reading what REAPER reads, for the tests of our REAPER exports (REAPER itself cannot run here).

- `.rpp`: the project text is parsed by `rpp` (PyPI, a third-party parser of REAPER's
  project files, not ours); the MARKER lines it yields are then read as ReaTeam's State
  Chunk Definitions describe them: `MARKER index position name flags color ...`, position
  in seconds, flag bit 1 a region, bit 8 "selected", a region closed by a second line with
  the same index and region flag. Markers and regions are numbered separately. The same
  reader is checked on MARKER lines verbatim from REAPER 7.78-made projects
  (`REAPER_MADE_RPP`), so it is not only a mirror of our writer.
- Region/Marker Manager CSV: `#,Name,Start,End,Length,Color`, a row per marker (`M<n>`, End
  and Length empty) or region (`R<n>`), times as REAPER's time mode writes them with the
  ruler in Minutes:Seconds: `m:ss.mmm`, `h:mm:ss.mmm` past an hour (format_timestr_pos mode
  0); read back with that grammar only, so a bare `5.25` or a measures.beats `3.1.00` time
  is refused as REAPER would read it in another ruler mode.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

# MARKER lines verbatim from REAPER-made .rpp files (REAPER 7.78/win64 and a REAPER-made
# region pair), as quoted in a public test suite of a DAW project manager
REAPER_MADE_RPP = """<REAPER_PROJECT 0.1 "7.78/win64" 1784823281 0
  RULERLANE 2 8 "" 0 -1 0
  MARKER 1 0 "Track 1: HelloDAW Project Manager" 0 0 1 R {A9E967B2-1CDD-4976-96FE-8BEC7C692609} 0 2
  MARKER 2 1035.7203188705985 "Track 2: This is the result of a recording session" 0 0 1 R {7ABFE34A-D6F8-4BE4-8838-596E8157D9DB} 0 2
  MARKER 4 2553.4094989978121 "Track 4: But I could have adapted other parameters" 8 0 1 R {73055394-4E7D-4D9B-94D1-6DEBB40A500F} 0 2
  MARKER 1 2 "Edit Region" 9 0 1 B {AFD8C34F-4325-2000-0000-000000000000} 0
  MARKER 1 4 "" 9
>
"""


@dataclass(frozen=True)
class Place:
    index: int
    start: float
    end: float | None     # None for a marker
    name: str


def project(fragment: str) -> str:
    """Our MARKER fragment pasted into a REAPER project block, as the docs tell a person to."""
    return '<REAPER_PROJECT 0.1 "7.78/win64" 1784823281 0\n  TEMPO 120 4 4 0\n' + fragment + ">\n"


def rpp_places(text: str) -> list[Place]:
    import rpp

    root = rpp.loads(text)
    starts: dict[tuple[int, bool], list] = {}
    places = []
    for line in root.findall("MARKER"):
        _, index, pos, name, flags, *rest = line
        index, pos, flags = int(index), float(pos), int(flags)
        region = bool(flags & 1)
        if not region:
            places.append(Place(index, pos, None, name))
        elif (index, True) in starts:
            first = starts.pop((index, True))
            places.append(Place(index, first[0], pos, first[1]))
        else:
            if not rest:
                raise ValueError(f"region {index}: a closing line before its opening one")
            starts[(index, True)] = (pos, name)
    if starts:
        raise ValueError(f"regions without an end: {sorted(i for i, _ in starts)}")
    return sorted(places, key=lambda p: (p.start, p.index))


_TIME = re.compile(r"^(?:(\d+):(\d{2}):|(\d+):)(\d{2})\.(\d{3})$")


def reaper_seconds(text: str) -> float:
    """A REAPER time-mode string (ruler in Minutes:Seconds) in seconds."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"{text!r} is not REAPER's Minutes:Seconds form (m:ss.mmm or h:mm:ss.mmm)")
    h, hm, mm, s, ms = m.groups()
    minutes = int(hm) + 60 * int(h) if h is not None else int(mm)
    if int(s) >= 60 or (h is not None and int(hm) >= 60):
        raise ValueError(f"{text!r}: seconds or minutes past 59")
    return minutes * 60 + int(s) + int(ms) / 1000


def region_csv_places(text: str) -> list[Place]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != ["#", "Name", "Start", "End", "Length", "Color"]:
        raise ValueError(f"not a REAPER region/marker list: header {rows[:1]}")
    out = []
    for row in rows[1:]:
        kind, name, start, end, length, _colour = row
        index = int(kind[1:])
        if kind[0] == "M":
            if end or length:
                raise ValueError(f"marker {kind} with an end")
            out.append(Place(index, reaper_seconds(start), None, name))
        elif kind[0] == "R":
            a, b = reaper_seconds(start), reaper_seconds(end)
            if abs((b - a) - reaper_seconds(length)) > 0.0015:
                raise ValueError(f"region {kind}: length {length} is not end - start")
            out.append(Place(index, a, b, name))
        else:
            raise ValueError(f"row {kind!r}: neither M<n> nor R<n>")
    return out
