"""Pictures to share (maps, training curves): one place that opens matplotlib and saves.

matplotlib is imported only when a picture is drawn (never by recording or tagging), with
the non-interactive Agg backend, so drawing works the same in a worker thread, a test or a
machine without a display. The file's suffix chooses the format: .png (default) or .svg.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

FORMATS = ("png", "svg")


def picture_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if not suffix:
        return "png"
    raise ValueError(f"{path}: pictures are written as {' or '.join('.' + f for f in FORMATS)}, not .{suffix}")


@contextmanager
def figure(path: str | Path, *, size: tuple[float, float] = (8, 6), ncols: int = 1, nrows: int = 1):
    """Yield (fig, axes) and save the figure to `path` when the block ends without error."""
    fmt = picture_format(path)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, dpi=120)
    try:
        yield fig, axes
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=fmt)
    finally:
        plt.close(fig)
