"""A grid of (character, style) cells as one rich Text: the map and the XY pad draw with it."""

from __future__ import annotations

from rich.text import Text


def grid_text(grid: list[list[tuple[str, str | None]]]) -> Text:
    """Rows joined by newlines, each cell styled (None or "" for the default)."""
    out = Text()
    for r, row in enumerate(grid):
        for ch, style in row:
            out.append(ch, style=style or None)
        if r < len(grid) - 1:
            out.append("\n")
    return out
