"""The terrain: a small network from 2D map coordinates to a generation's latent, to walk.

In the spirit of nn.terrain: the point (x, y), normalised to the map's box, goes through
Fourier features (sin/cos of 2*pi*B*p, B a fixed seeded Gaussian matrix) and a few dense
layers to one latent frame. It is fitted on the clips of a dataset version placed on their
map (`rehearsal.curation.clipmap`), in seconds on a CPU.

A clip is a sequence of latent frames, not a point. The approach taken here: each point of
the map is fitted to its clip's **mean latent**, and a **texture** control replays the
frame-to-frame motion of the clip nearest the pad around that mean (texture 0: the still
mean; 1: the clip's own motion; in between, or more, scaled). The space between clips is
the network's smooth interpolation of their means; the texture of the nearest clip rides
on it. (The alternative, pairing each clip's frames with a short path through its point,
is not done: it ties a clip's timbre to a direction on the map that means nothing.)

`Terrain.forward(xy, texture, frame)` is TorchScript-able and exported beside the model as
`models/gNNNN/terrain.ts` so a Max/Pd patch (nn~, or any TorchScript host) can walk it:
`forward(xy: (N, 2), texture: float, frame: int) -> (N, latent)`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .generations import terrain_path  # noqa: F401  (where it lives, torch-free)

N_FOURIER = 32
SIGMA = 1.0            # frequency scale of the Fourier features (cycles per map box): smooth between clips
WIDTH = 96
STEPS = 600
MAX_TEXTURE_FRAMES = 256


class Terrain(nn.Module):
    def __init__(self, latent: int, lo: Tensor, hi: Tensor, mean: Tensor, std: Tensor, points: Tensor,
                 textures: Tensor, lengths: Tensor, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(2, N_FOURIER, generator=g) * SIGMA)
        self.register_buffer("lo", lo.float())
        self.register_buffer("span", (hi - lo).float().clamp_min(1e-6))
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())
        self.register_buffer("points", points.float())         # (clips, 2) where each clip sits
        self.register_buffer("textures", textures.float())     # (clips, frames, latent): frame - clip mean
        self.register_buffer("lengths", lengths.long())        # (clips,) frames of each texture
        self.latent = latent
        self.net = nn.Sequential(nn.Linear(2 * N_FOURIER + 2, WIDTH), nn.SiLU(), nn.Linear(WIDTH, WIDTH), nn.SiLU(),
                                 nn.Linear(WIDTH, WIDTH), nn.SiLU(), nn.Linear(WIDTH, latent))

    def features(self, xy: Tensor) -> Tensor:
        u = (xy - self.lo) / self.span
        proj = 2.0 * math.pi * (u @ self.B)
        return torch.cat([torch.sin(proj), torch.cos(proj), u], -1)

    def mean_latent(self, xy: Tensor) -> Tensor:
        """(N, 2) -> (N, latent): the still terrain."""
        return self.net(self.features(xy)) * self.std + self.mean

    def forward(self, xy: Tensor, texture: float = 0.0, frame: int = 0) -> Tensor:
        z = self.mean_latent(xy)
        if texture != 0.0 and self.textures.shape[0] > 0:
            d = torch.cdist(xy, self.points)                  # the nearest clip's motion
            near = torch.argmin(d, dim=1)
            idx = torch.remainder(torch.full_like(near, frame), self.lengths[near])
            z = z + texture * self.textures[near, idx]
        return z


@dataclass
class TerrainFit:
    terrain: Terrain
    seconds: float
    final_loss: float


def fit_terrain(points: np.ndarray, frames: list[np.ndarray], *, steps: int = STEPS, seed: int = 0,
                lr: float = 3e-3) -> TerrainFit:
    """Fit on clips at `points` (n, 2) with latent `frames` (each (frames_i, latent))."""
    if len(points) != len(frames) or len(points) < 2:
        raise ValueError(f"a terrain needs at least 2 clips with a point each, got {len(points)} points "
                         f"and {len(frames)} clips")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)     # a tiny network: a thread pool only waits on itself (40 s instead of 2 under load)
    try:
        return _fit(points, frames, steps, seed, lr)
    finally:
        torch.set_num_threads(threads)


def _fit(points: np.ndarray, frames: list[np.ndarray], steps: int, seed: int, lr: float) -> TerrainFit:
    torch.manual_seed(seed)
    started = time.monotonic()
    targets = torch.tensor(np.stack([f.mean(0) for f in frames]), dtype=torch.float32)
    xy = torch.tensor(points, dtype=torch.float32)
    mean, std = targets.mean(0), targets.std(0).clamp_min(1e-3)
    margin = 0.05 * (xy.max(0).values - xy.min(0).values)
    lo, hi = xy.min(0).values - margin, xy.max(0).values + margin
    t_len = min(MAX_TEXTURE_FRAMES, max(len(f) for f in frames))
    textures = torch.zeros(len(frames), t_len, targets.shape[1])
    lengths = torch.ones(len(frames), dtype=torch.long)
    for i, f in enumerate(frames):
        dev = torch.tensor(f[:t_len] - f.mean(0), dtype=torch.float32)
        textures[i, :len(dev)] = dev
        lengths[i] = max(1, len(dev))
    terrain = Terrain(targets.shape[1], lo, hi, mean, std, xy, textures, lengths, seed)
    opt = torch.optim.Adam(terrain.net.parameters(), lr=lr, weight_decay=1e-5)
    goal = (targets - mean) / std
    loss = torch.tensor(0.0)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((terrain.net(terrain.features(xy)) - goal) ** 2)
        loss.backward()
        opt.step()
    terrain.eval()
    return TerrainFit(terrain, time.monotonic() - started, float(loss.detach()))


def glide_path(points: list[tuple[float, float]], frames_per_leg: int) -> np.ndarray:
    """A walk through `points`, `frames_per_leg` latent frames from each to the next (linear)."""
    legs = [np.linspace(points[i], points[i + 1], frames_per_leg, endpoint=False) for i in range(len(points) - 1)]
    return np.concatenate(legs + [np.array([points[-1]])])


def render_walk(model, terrain: Terrain, path: np.ndarray, texture: float = 0.0) -> np.ndarray:
    """Audio of a walk: the terrain's latent along `path` ((frames, 2) map points, one per
    latent frame, so len(path) * hop samples), decoded by the model from a zero state."""
    with torch.no_grad():
        xy = torch.tensor(path, dtype=torch.float32)
        z = torch.stack([terrain(xy[i:i + 1], texture, i)[0] for i in range(len(xy))]) if texture \
            else terrain(xy, 0.0, 0)
        audio, _ = model.decode_frames(z.unsqueeze(0), model.zero_state(1, torch.device("cpu")), 0)
    return audio[0].numpy()


# -- beside the model ---------------------------------------------------------------------------

def export_terrain(terrain: Terrain, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".ts.tmp")
    torch.jit.script(terrain).save(str(tmp))
    tmp.replace(path)
    return path


def load_terrain(path: Path):
    """The exported terrain (TorchScript), as a play host or a patch loads it."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no terrain yet: `rehearsal model terrain GEN --dataset REF` fits one")
    return torch.jit.load(str(path), map_location="cpu")


def terrain_for(ws, db, gen_ref, dataset_ref, *, method: str = "umap", seed: int = 0, steps: int = STEPS) -> dict:
    """Map the dataset's clips through the generation's latent, fit a terrain on the map,
    export it beside the model. Returns what was done, with figures."""
    from ..curation.clipmap import clip_map, latent_rows
    from . import generations as gens

    gen = gens.get_generation(db, gen_ref)
    rows, frames, names, source = latent_rows(ws, db, dataset_ref, gen["id"])
    cmap = clip_map(db, dataset_ref, method=method, seed=seed, rows=rows, feature_names=names, source=source)
    fit = fit_terrain(cmap.xy, frames, steps=steps, seed=seed)
    path = export_terrain(fit.terrain, terrain_path(ws, gen))
    return {"generation": gen["name"], "dataset": cmap.ref, "method": cmap.method, "clips": len(frames),
            "path": str(path), "fit_s": round(fit.seconds, 2), "map_s": round(cmap.fit_s, 2),
            "loss": round(fit.final_loss, 4)}
