"""Clips in memory, the validation split, probe clips and random training windows (numpy).

A training example is a window of `frames` blocks cut from a clip at a block boundary, with
`context` samples of the clip before it (zeros before the clip starts), so each block is
analysed from the same history it would have when the clip is rendered whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import SAMPLE_RATE, ClipInfo, DatasetInfo, load_audio, split_validation
from .descriptors import DescriptorCache


@dataclass
class ClipAudio:
    name: str
    audio: np.ndarray                    # mono float32 at 48 kHz
    symbols: tuple[str, ...] = ()
    steer: np.ndarray | None = None      # for a model steered by symbols: weights over its symbols (assign_symbols)
    f0: np.ndarray | None = None         # per block, when the family asks for pitch
    confidence: np.ndarray | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class PreparedData:
    train: list[ClipAudio]
    val: list[ClipAudio]
    probes: list[ClipAudio]

    @property
    def train_seconds(self) -> float:
        return sum(c.seconds for c in self.train)


def prepare(dataset: DatasetInfo, clips: list[ClipInfo], *, hop: int, conditioning: tuple[str, ...],
            val_fraction: float, probe_count: int, probe_seconds: float, cache: DescriptorCache,
            pitch_window: int = 2048, max_val_seconds: float = 10.0, vocabulary=()) -> PreparedData:
    """Load, split and describe. Fewer than 4 clips: the last `val_fraction` of each clip is
    held out instead of whole clips, so even a one-clip dataset gets a validation set."""
    if not clips:
        raise ValueError("no clips to train on (check the symbols you asked for)")
    train_info, val_info = split_validation(clips, val_fraction)
    train = [ClipAudio(c.name, load_audio(dataset.folder / c.path), c.symbols) for c in train_info]
    val = [ClipAudio(c.name, load_audio(dataset.folder / c.path)[: int(max_val_seconds * SAMPLE_RATE)], c.symbols)
           for c in val_info]
    if val_fraction > 0 and not val:
        held = []
        for c in train:
            cut = int(len(c.audio) * (1 - val_fraction)) // hop * hop
            if cut >= hop and len(c.audio) - cut >= hop:
                tail = c.audio[cut:cut + int(max_val_seconds * SAMPLE_RATE)]
                held.append(ClipAudio(f"{c.name}-tail", tail.copy(), c.symbols))
                c.audio = c.audio[:cut]
        val = held
    # probes: the same clips every time for a dataset (validation first, then training clips)
    pool = val if val else train
    probes = [ClipAudio(c.name, c.audio[: int(probe_seconds * SAMPLE_RATE)], c.symbols)
              for c in pool[:probe_count]]
    assign_symbols(train + val + probes, vocabulary)
    for c in train + val + probes:
        if "f0" in conditioning:
            c.f0, c.confidence = cache.pitch(c.audio, SAMPLE_RATE, hop, pitch_window)
    return PreparedData(train, val, probes)


def assign_symbols(clips: list[ClipAudio], vocabulary) -> None:
    """Each clip's steering for a model steered by symbols: weights over "no symbol" (entry
    0) and the model's `vocabulary` (entries 1..), equal on every one of its symbols the model
    learns (a clip tagged with two gets 0.5 on each: the model hears the mean of their
    embeddings), all on "no symbol" when it has none of them."""
    index = {s: i + 1 for i, s in enumerate(vocabulary)}
    for c in clips:
        c.steer = symbol_weights([index[s] for s in dict.fromkeys(c.symbols) if s in index], len(index))


def symbol_weights(indices: list[int], n_symbols: int) -> np.ndarray:
    """Weights over "no symbol" and `n_symbols` symbols: equal on `indices` (1-based), else on 0."""
    w = np.zeros(n_symbols + 1, np.float32)
    w[indices or [0]] = 1.0 / max(1, len(indices))
    return w


class WindowSampler:
    """Random windows, reproducible from (seed, step): a resumed run draws the same batches."""

    def __init__(self, clips: list[ClipAudio], frames: int, hop: int, context: int, conditioning: tuple[str, ...]):
        if not clips:
            raise ValueError("no training audio")
        self.clips, self.frames, self.hop, self.context = clips, frames, hop, context
        self.conditioning = conditioning
        blocks = np.array([max(1, -(-len(c.audio) // hop) - frames + 1) for c in clips], dtype=np.float64)
        self.weights = blocks / blocks.sum()
        self.starts = blocks.astype(np.int64)

    def batch(self, seed: int, step: int, batch_size: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([seed, step])
        n = self.frames * self.hop
        audio = np.zeros((batch_size, self.context + n), dtype=np.float32)
        out: dict[str, np.ndarray] = {"audio": audio}
        for key in self.conditioning:
            out[key] = np.zeros((batch_size, self.frames), dtype=np.float32)
        if "symbol" in self.conditioning:     # per block: the clip's weights over the model's symbols
            out["symbol"] = np.zeros((batch_size, self.frames, len(self.clips[0].steer)), dtype=np.float32)
        which = rng.choice(len(self.clips), size=batch_size, p=self.weights)
        for i, ci in enumerate(which):
            clip = self.clips[ci]
            j = int(rng.integers(0, self.starts[ci]))
            s = j * self.hop - self.context
            lo, hi = max(0, s), min(len(clip.audio), j * self.hop + n)
            if hi > lo:
                audio[i, lo - s:hi - s] = clip.audio[lo:hi]
            if "symbol" in self.conditioning:
                out["symbol"][i] = clip.steer
            if "f0" in self.conditioning:
                seg = clip.f0[j:j + self.frames]
                out["f0"][i, :len(seg)] = seg
                seg = clip.confidence[j:j + self.frames]
                out["confidence"][i, :len(seg)] = seg
        out["noise_offset"] = np.array(int(rng.integers(0, 1 << 30)))
        return out


def whole_clip_inputs(clip: ClipAudio, hop: int, context: int, conditioning: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A clip as one batch item, rendered from a zero state (as a fresh nn~ would)."""
    n = -(-len(clip.audio) // hop)
    audio = np.zeros((1, context + n * hop), dtype=np.float32)
    audio[0, context:context + len(clip.audio)] = clip.audio
    out = {"audio": audio}
    if "symbol" in conditioning:
        out["symbol"] = np.broadcast_to(clip.steer, (1, n, len(clip.steer))).copy()
    if "f0" in conditioning:
        out["f0"] = clip.f0[None, :n].astype(np.float32)
        out["confidence"] = clip.confidence[None, :n].astype(np.float32)
    return out
