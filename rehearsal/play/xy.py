"""The XY pad: walk the playing generation's terrain (rehearsal.training.terrain) live.

A target point comes from OSC (`/rehearsal/xy x y [glide]`, a TouchOSC XY pad or a tablet)
or the TUI, as x, y in 0..1 of the map's box (the terrain knows its box). The pad's glide
thread ("xy-glide") moves the point toward the target in a straight line over the glide
time, every TICK_S, evaluates the terrain (TorchScript, under a millisecond) and holds the
model's whole latent at its value through the player's latent path (the model host reads
it each block), so the walk is heard. Each target is recorded with the take as a play
event (`xy`, "x y glide" at the frame it arrived), so a walk can be replayed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

DEFAULT_GLIDE_S = 0.25
MAX_GLIDE_S = 30.0
TICK_S = 0.01


class XYPad:
    def __init__(self, terrain_file: Path, send_latent: Callable[[list[float]], None], *, texture: float = 0.0):
        import torch

        from ..training.terrain import load_terrain

        torch.set_num_threads(1)          # beside real-time model hosts: one small thread, never a pool
        self.module = load_terrain(Path(terrain_file))
        self.lo = [float(v) for v in self.module.lo]
        self.span = [float(v) for v in self.module.span]
        self.send_latent = send_latent
        self.texture = float(texture)
        self.frame = 0
        self.current: tuple[float, float] | None = None
        self.target: tuple[float, float] | None = None
        self.glide_s = DEFAULT_GLIDE_S
        self._from: tuple[float, float] | None = None
        self._since = 0.0
        self._cond = threading.Condition()
        self._closed = False
        self.sent = 0
        # where the terrain's clips sit, in 0..1 of its box (what the Play screen's pad draws)
        self.points = [((float(px) - self.lo[0]) / self.span[0], (float(py) - self.lo[1]) / self.span[1])
                       for px, py in self.module.points.tolist()]
        self.latent_at(0.5, 0.5)          # the first call of a TorchScript module is the slow one: now
        self._thread = threading.Thread(target=self._run, name="xy-glide", daemon=True)
        self._thread.start()

    @staticmethod
    def check(x: float, y: float, glide_s: float | None) -> None:
        for name, v in (("x", x), ("y", y)):
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"/rehearsal/xy: {name} = {v} is outside 0..1 of the map")
        if glide_s is not None and not (math.isfinite(glide_s) and 0.0 <= glide_s <= MAX_GLIDE_S):
            raise ValueError(f"/rehearsal/xy: glide {glide_s} s is outside 0..{MAX_GLIDE_S:.0f} s")

    def set_target(self, x: float, y: float, glide_s: float | None = None) -> None:
        self.check(x, y, glide_s)
        with self._cond:
            # from where the walk is, else from the last point asked for (not yet reached), else here
            self._from = self.current or self.target or (float(x), float(y))
            self.target = (float(x), float(y))
            self.glide_s = DEFAULT_GLIDE_S if glide_s is None else float(glide_s)
            self._since = time.monotonic()
            self._cond.notify_all()

    def state(self) -> dict:
        """Where the walk is, where it goes and how fast (for a display; no lock: a glance)."""
        return {"current": self.current, "target": self.target, "glide_s": self.glide_s, "points": self.points}

    def latent_at(self, u: float, v: float) -> list[float]:
        import torch

        xy = torch.tensor([[self.lo[0] + u * self.span[0], self.lo[1] + v * self.span[1]]])
        with torch.inference_mode(), torch.jit.optimized_execution(False):   # no profiling passes
            z = self.module(xy, self.texture, self.frame)
        return [float(a) for a in z[0]]

    def _position(self, now: float) -> tuple[tuple[float, float], bool]:
        """Where the glide is now, and whether it has arrived."""
        frac = 1.0 if self.glide_s <= 0 else min(1.0, (now - self._since) / self.glide_s)
        (x0, y0), (x1, y1) = self._from, self.target
        return (x0 + (x1 - x0) * frac, y0 + (y1 - y0) * frac), frac >= 1.0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (self.target is None or
                                            (self.current == self.target and self.texture == 0.0)):
                    self._cond.wait()
                if self._closed:
                    return
                point, _ = self._position(time.monotonic())
                self.current = point
            try:
                self.send_latent(self.latent_at(*point))
            except Exception as exc:      # the play process ended under the pad: stop walking
                log.warning("the XY pad stops: %s", exc)
                return
            self.sent += 1
            self.frame += 1
            time.sleep(TICK_S)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2)
