"""Status of the inputs that tag: MIDI ports, the OSC listener and its recent senders, keys."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def midi_lines(midi, error: str | None) -> list[Text]:
    if midi is None:
        return [Text.assemble(("MIDI  ", "bold"), (error or "off", "dim"))]
    st = midi.stats()
    ports = ", ".join(st["ports"]) or "no ports"
    # the counts before the port names: a line too long for the panel loses the end of the names
    line = Text.assemble(("MIDI  ", "bold"), f"{st['api']}, {st['messages']} msgs", (f"  ports: {ports}", "dim"))
    out = [line]
    if st["last"]:
        last = st["last"]
        out.append(Text(f"      last: {last['message']} on {last['port']} ({_ago(time.monotonic() - last['t'])})",
                        style="dim"))
    counts = st.get("counts") or {}
    if counts:
        out.append(Text("      " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), style="dim"))
    if st.get("unguarded"):   # an unterminated sysex there would swallow every later press
        out.append(Text(f"      not guarded against unterminated sysex: {', '.join(st['unguarded'])}", style="yellow"))
    return out


def osc_lines(osc, error: str | None) -> list[Text]:
    if osc is None:
        return [Text.assemble(("OSC   ", "bold"), (error or "off", "dim"))]
    st = osc.stats()
    state = "listening" if st["listening"] else "closed"
    counts = st["counts"]
    out = [Text.assemble(("OSC   ", "bold"), f"{st['address']}:{st['port']} {state}",
                         (f"  {counts.get('tags', 0)} tags, {counts.get('rejected', 0)} rejected", "dim"))]
    for s in st["senders"][:3]:
        out.append(Text(f"      {s['ip']}: {s['tags']} tags, {s['dropped']} dropped, {s['seconds_ago']:.1f} s ago",
                        style="dim"))
    return out


def key_lines(keys) -> list[Text]:
    if keys is None:
        return []
    c = keys.stats()
    return [Text.assemble(("keys  ", "bold"), f"{c['tags']} tags",
                          (f", {c['repeats']} auto-repeats ignored, {c['unbound']} unbound", "dim"))]


class SourcesStatus(Static):
    """Redrawn a few times a second from the sources' counters (cheap reads, no locks held long).
    One row per line whatever the width: a long line (many MIDI ports) ends in "…", never wraps."""

    DEFAULT_CSS = "SourcesStatus { text-wrap: nowrap; text-overflow: ellipsis; }"

    _last = ""

    def update_from(self, link) -> None:
        if link is None or not link.ready:
            text = Text("sources open once the input is open", style="dim")
        else:
            lines = midi_lines(link.midi, link.midi_error) + osc_lines(link.osc, link.osc_error) + key_lines(link.keys)
            text = Text("\n").join(lines)
        if text.markup == self._last:
            return
        relayout = text.plain.count("\n") != self._last.count("\n") or not self._last
        self._last = text.markup
        self.update(text, layout=relayout)   # a new line needs room; new numbers do not
