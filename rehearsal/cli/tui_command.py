"""`rehearsal` with no subcommand: the rehearsal room in the terminal.

The TUI's options sit on the main group (they only apply when no subcommand is given);
textual is imported only when the TUI actually starts.
"""

from __future__ import annotations

import click

_TUI_OPTIONS = [
    click.option("--session", "tui_session", help="Session new takes go to (default: 'rehearsal YYYY-MM-DD')."),
    click.option("--notation", "tui_notation", default="good-bad-pedal", show_default=True,
                 help="Notation name (workspace notations/ or shipped) or a .toml path."),
    click.option("--score", "tui_score", type=click.Path(dir_okay=False),
                 help="Record from this score: the Score view shows it; its events label each take."),
    click.option("--input-file", "tui_input_file", type=click.Path(exists=True, dir_okay=False),
                 help="Stream this audio file at real-time pace instead of a device."),
    click.option("--demo", "tui_demo", is_flag=True, help="Stream the shipped demo take as if live (looping)."),
    click.option("--device", "tui_device", help="Input device (index or name). Default: the default input."),
    click.option("--channels", "tui_channels", type=click.IntRange(1, 64), help="Input channels (default: up to 2)."),
    click.option("--preroll", "tui_preroll", type=click.FloatRange(0, 600), default=10.0, show_default=True,
                 help="Seconds of input kept while not recording; a take starts with them."),
    click.option("--midi", "tui_midi", multiple=True,
                 help="MIDI input port to open (repeatable; 'all' = every port). Default: all."),
    click.option("--midi-virtual/--no-midi-virtual", "tui_midi_virtual", default=True, show_default=True,
                 help="Offer a virtual MIDI input port named `rehearsal`."),
    click.option("--no-midi", "tui_no_midi", is_flag=True, help="Do not open any MIDI port."),
    click.option("--midi-api", "tui_midi_api", type=click.Choice(["auto", "alsa", "jack"]), default="auto",
                 show_default=True),
    click.option("--osc-port", "tui_osc_port", type=click.IntRange(0, 65535), default=9000, show_default=True,
                 help="Listen for OSC tags on this UDP port (0: any free port)."),
    click.option("--no-osc", "tui_no_osc", is_flag=True, help="Do not listen for OSC."),
    click.option("--osc-host", "tui_osc_host", default="127.0.0.1", show_default=True,
                 help="Address to listen on; anything but loopback needs --osc-allow."),
    click.option("--osc-allow", "tui_osc_allow", multiple=True, help="Sender address allowed beyond loopback."),
    click.option("--who", "tui_who", help="Who is at this keyboard (tags from keys carry this name)."),
    click.option("--ascii", "tui_ascii", is_flag=True, default=None,
                 help="Draw every glyph as its ASCII alternative (terminals without the glyphs)."),
    click.option("--click", "tui_click", is_flag=True, help="A click through the output device on each tap."),
    click.option("--speed", "tui_speed", type=click.FloatRange(0.1, 100), default=1.0, hidden=True,
                 help="--input-file pace (tests), as `rehearsal record --speed`."),
]


def tui_options(f):
    for option in reversed(_TUI_OPTIONS):
        f = option(f)
    return f


def run_tui(home: str | None, **tui) -> None:
    try:
        from ..tui.app import run
        from ..tui.options import TuiOptions
    except ImportError as exc:  # pragma: no cover - the TUI ships with the package
        raise click.ClickException(f"the TUI is not available: {exc}")
    from ..notation import NotationError
    from ..notation.score import ScoreError

    options = TuiOptions(
        session=tui.get("tui_session"), notation=tui.get("tui_notation") or "good-bad-pedal",
        score=tui.get("tui_score"),
        input_file=tui.get("tui_input_file"), demo=bool(tui.get("tui_demo")), device=tui.get("tui_device"),
        channels=tui.get("tui_channels"), preroll=tui.get("tui_preroll", 10.0),
        midi=() if tui.get("tui_no_midi") else tuple(tui.get("tui_midi") or ("all",)),
        midi_virtual=False if tui.get("tui_no_midi") else tui.get("tui_midi_virtual", True),
        midi_api=tui.get("tui_midi_api") or "auto",
        osc_port=None if tui.get("tui_no_osc") else tui.get("tui_osc_port", 9000),
        osc_host=tui.get("tui_osc_host") or "127.0.0.1", osc_allow=tuple(tui.get("tui_osc_allow") or ()),
        who=tui.get("tui_who"), ascii=True if tui.get("tui_ascii") else None, click=bool(tui.get("tui_click")),
        speed=tui.get("tui_speed") or 1.0,
    )
    try:
        run(home, options)
    except (NotationError, ScoreError) as exc:
        raise click.ClickException(str(exc))
