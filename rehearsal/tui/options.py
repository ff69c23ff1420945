"""What the TUI was asked to do (command-line options), in one plain object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..audio.demo import demo_take_path  # noqa: F401  (the TUI's demo input)


def default_session_name(now: datetime) -> str:
    """One session per day unless told otherwise: what a rehearsal usually is."""
    return f"rehearsal {now:%Y-%m-%d}"


@dataclass
class TuiOptions:
    session: str | None = None         # default: "rehearsal YYYY-MM-DD"
    notation: str = "good-bad-pedal"   # a name (workspace notations/ or shipped) or a .toml path
    score: str | None = None           # record from this score: the Score view, takes labelled by it
    input_file: str | None = None      # stream a file at real-time pace instead of a device
    demo: bool = False                 # stream the shipped demo take, looping, as if live
    device: str | int | None = None
    channels: int | None = None
    preroll: float = 10.0
    midi: tuple[str, ...] = ("all",)   # ports to open; "all" = every input port there is
    midi_virtual: bool = True          # offer a virtual input port named `rehearsal`
    midi_api: str = "auto"
    osc_port: int | None = 9000        # None: no OSC listener; 0: any free port
    osc_host: str = "127.0.0.1"
    osc_allow: tuple[str, ...] = ()
    who: str | None = None             # the person at the keyboard (else "key")
    ascii: bool | None = None          # None: decide from the terminal
    click: bool = False                # a click through the output device on each tap
    open_input: bool = True            # tests and snapshots may start without an input
    speed: float = 1.0                 # --input-file pace (tests)
    play_output: str | int | None = None   # the Play screen's output device; "none": not heard (tests)
