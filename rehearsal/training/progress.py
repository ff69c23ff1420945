"""The progress stream of a run: JSON lines appended by the worker, read by anyone.

    models/g0007/progress.jsonl
    {"event": "start", "step": 0, "budget_s": 180, "max_steps": null, ...}
    {"event": "step", "step": 25, "loss": 7.9, "elapsed_s": 12.1, "audio_s": 137.0,
     "fraction": 0.07, "time_left_s": 167.9}
    {"event": "eval", "step": 50, "val_loss": 6.4, "train_loss": 6.9, "best": true, ...}
    {"event": "checkpoint", "kind": "best", "step": 50, "path": ..., "previews": [...]}
    {"event": "notice", "message": "a take is recording: training on 1 thread, low priority"}
    {"event": "end", "status": "complete" | "cancelled" | "failed", "reason": ..., "error": ...}

Every line carries "generation" and "t" (Unix time). A file, not a pipe, so the CLI, the
TUI, or a later reader all see the same stream, including after the run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


class ProgressWriter:
    def __init__(self, path: Path, generation_id: int):
        self.path = Path(path)
        self.generation_id = generation_id
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: dict) -> None:
        line = json.dumps({"generation": self.generation_id, "t": round(time.time(), 3), **event},
                          ensure_ascii=False, default=float)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class ProgressReader:
    """Reads complete new lines since the last call (a line being written is left for later)."""

    def __init__(self, path: Path, offset: int = 0):
        self.path = Path(path)
        self.offset = offset

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a killed writer: skip it
        return events


def read_all(path: Path) -> list[dict]:
    return ProgressReader(path).read()


def loss_curve(path: Path) -> dict[str, list]:
    """Train and validation loss against step, for plotting (the TUI's loss curve)."""
    train, val = [], []
    for e in read_all(path):
        if e.get("event") == "step" and e.get("loss") is not None:
            train.append((e["step"], e["loss"]))
        elif e.get("event") == "eval" and e.get("val_loss") is not None:
            val.append((e["step"], e["val_loss"]))
    return {"train": train, "val": val}
