"""The demo take shipped with the package: the input when there is no sound card (record's
demo input, and play's, which then plays into a null output)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def demo_take_path() -> Path:
    """The short musical take shipped with the package (scripts/make_demo_take.py made it)."""
    return Path(str(resources.files("rehearsal") / "assets" / "demo-take.flac"))


def device_names(sd, kind: str | None = None) -> list[str]:
    """The devices PortAudio lists (of `kind`: "input", "output" or any), for error messages."""
    try:
        devices = sd.query_devices()
    except Exception:
        return []
    key = {"input": "max_input_channels", "output": "max_output_channels"}.get(kind or "")
    return [d["name"] for d in devices if key is None or d[key] > 0]
