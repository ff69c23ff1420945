"""A MIDI pedal that moves a score performed by the real `rehearsal record --score` or
`rehearsal play --score`: an rtmidi output port on the test JACK server (its process callback
is C++, so it needs no GIL: see tests/test_midi_source.py) and a notation that binds it, the
sound-poetry symbols with the score actions: CC 64 advances the score, CC 65 holds it (and
lets it go). The command opens the port with `--midi score-pedal --midi-api jack`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from rehearsal.notation import find_notation

NAME = "score-pedal"
ADVANCE, HOLD = 64, 65
ACTIONS = "".join(f"""
[[actions]]
id = "{action}"
  [[actions.midi]]
  type = "control_change"
  control = {control}
  gesture = "tap"
""" for action, control in (("score-advance", ADVANCE), ("score-hold", HOLD)))


def write_pedal_notation(folder: Path) -> Path:
    """sound-poetry, with the pedal bound to the score actions, as `folder`/poetry-pedal.toml."""
    text = Path(find_notation("sound-poetry")).read_text(encoding="utf-8")
    path = folder / "poetry-pedal.toml"
    path.write_text(text + ACTIONS, encoding="utf-8")
    return path


class Pedal:
    def __init__(self, out):
        self.out = out

    def tap(self, control: int) -> None:
        """Press and release (a sustain pedal: 127 on press, 0 on release)."""
        self.out.send_message([0xB0, control, 127])
        self.out.send_message([0xB0, control, 0])


@contextmanager
def score_pedal():
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=NAME)
    out.open_virtual_port("out")
    try:
        yield Pedal(out)
    finally:
        out.delete()
