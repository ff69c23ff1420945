"""A dataset's clips as files acids-rave's `rave preprocess` keeps (almost) whole.

What preprocess (acids-rave 2.3.1, scripts/preprocess.py, default flags) does with a folder:
every *.wav/aif/flac/... under it is decoded and resampled by ffmpeg to 44.1 kHz 16-bit
(`--sampling_rate 44100`), and read in whole chunks of 2 x `--num_signal` = 262,144 samples
(5.94 s); each chunk is one LMDB entry and a file's last partial chunk is dropped. With
`--channels 1` (the default) only a file's first channel is read. Training then splits the
entries 98 / 2 into train and validation, so below about 100 chunks the validation set is
one chunk or none.

A dataset of 4-second clips, copied as it is, gives preprocess nothing. So the clips of each
symbol group (clips with the same symbols, in dataset order) are joined into one stream,
with a short equal-power crossfade where two clips meet (none where a clip simply goes on
where the previous one ended in the same take), and the stream is cut into files of whole
chunks (each file a few samples longer than its chunks, the next starting where those
chunks end, so nothing is lost at the cuts). What RAVE still drops: each group's last
partial chunk (under 5.94 s), a group shorter than one chunk entirely, the crossfades'
overlap, and every channel after the first unless preprocess is given --channels.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RAVE_SR = 44100                 # preprocess --sampling_rate default
NUM_SIGNAL = 131072             # preprocess --num_signal default
CHUNK = 2 * NUM_SIGNAL          # samples at RAVE_SR per LMDB entry (preprocess reads n_signal * 4 bytes of int16)
CHUNK_S = CHUNK / RAVE_SR       # 5.944 s
MIN_CHUNKS = 100                # below this, the 98/2 split leaves (almost) no validation set
CROSSFADE_S = 0.010
CHUNKS_PER_FILE = 50            # about 5 minutes a file
MARGIN = 16                     # source samples past a file's last chunk: ffmpeg's resampled length is
                                # ceil(n * 44100 / sr), so whole chunks survive any rounding


def chunk_samples(sr: int) -> float:
    """Source samples (at `sr`) that resample to one RAVE chunk."""
    return CHUNK * sr / RAVE_SR


def chunks_in(frames: int, sr: int) -> int:
    """Whole chunks preprocess reads from a file of `frames` samples at `sr`."""
    return math.ceil(frames * RAVE_SR / sr) // CHUNK


@dataclass
class Group:
    name: str                   # symbols joined with "+"
    sample_rate: int
    channels: int
    clips: int = 0
    clip_seconds: float = 0.0   # the dataset's seconds in this group
    frames: int = 0             # the joined stream
    crossfades: int = 0
    files: list = field(default_factory=list)
    chunks: int = 0

    @property
    def kept_seconds(self) -> float:
        return self.chunks * CHUNK_S

    @property
    def stream_seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass
class RaveExport:
    groups: list[Group]
    dest: Path

    @property
    def chunks(self) -> int:
        return sum(g.chunks for g in self.groups)

    @property
    def dataset_seconds(self) -> float:
        return sum(g.clip_seconds for g in self.groups)

    @property
    def kept_seconds(self) -> float:
        return self.chunks * CHUNK_S

    @property
    def channels(self) -> int:
        return max((g.channels for g in self.groups), default=1)

    def command(self) -> str:
        import shlex

        out = self.dest.with_name(self.dest.name + "-lmdb")
        extra = f" --channels {self.channels}" if self.channels > 1 else ""
        return f"rave preprocess --input_path {shlex.quote(str(self.dest))} --output_path {shlex.quote(str(out))}{extra}"

    def report(self) -> str:
        """What to tell the person: what RAVE keeps, what it drops, the command to run."""
        total = self.dataset_seconds
        share = self.kept_seconds / total if total else 0.0
        lines = [f"{len(self.groups)} symbol group(s), {sum(len(g.files) for g in self.groups)} file(s): "
                 f"{self.chunks} RAVE chunk(s) of {CHUNK_S:.2f} s = {self.kept_seconds:.1f} s of the dataset's "
                 f"{total:.1f} s ({share:.0%}) reach `rave preprocess` (44.1 kHz, default flags)"]
        for g in self.groups:
            dropped = g.stream_seconds - g.kept_seconds
            what = (f"all {g.stream_seconds:.1f} s dropped: shorter than one chunk" if g.chunks == 0 else
                    f"{g.chunks} chunk(s), {dropped:.1f} s tail dropped")
            fade = f", {g.crossfades} crossfade(s) overlap {g.crossfades * CROSSFADE_S:.2f} s" if g.crossfades else ""
            lines.append(f"  {g.name} ({g.sample_rate} Hz, {g.channels} ch): {g.clips} clip(s), "
                         f"{g.clip_seconds:.1f} s -> {what}{fade}")
        if self.channels > 1:
            lines.append(f"  preprocess reads only the first channel unless given --channels {self.channels} "
                         "(added to the command below)")
        if self.chunks < MIN_CHUNKS:
            lines.append(f"warning: {self.chunks} chunk(s) is below the ~{MIN_CHUNKS} ({MIN_CHUNKS * CHUNK_S / 60:.0f} "
                         f"min) RAVE's 98/2 train/validation split needs: its validation set would be "
                         f"{self.chunks - max(98 * self.chunks // 100, 1)} chunk(s)")
        lines.append(f"run: {self.command()}")
        return "\n".join(lines)

    def manifest(self) -> dict:
        return {"rave": {"sampling_rate": RAVE_SR, "num_signal": NUM_SIGNAL, "chunk_samples": CHUNK,
                         "chunk_s": CHUNK_S, "crossfade_s": CROSSFADE_S},
                "dataset_seconds": round(self.dataset_seconds, 6), "chunks": self.chunks,
                "kept_seconds": round(self.kept_seconds, 6), "command": self.command(),
                "groups": [{**{k: v for k, v in asdict(g).items()}, "kept_seconds": round(g.kept_seconds, 6)}
                           for g in self.groups]}


def _fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.cos(t * np.pi / 2).astype(np.float32)[:, None], np.sin(t * np.pi / 2).astype(np.float32)[:, None]


class _Stream:
    """The joined clips of one group, written into files by stream position."""

    def __init__(self, sr: int, channels: int, bounds: list[tuple[int, int]], paths: list[Path]):
        import soundfile as sf

        self.sr, self.bounds, self.pos = sr, bounds, 0
        self.files = [sf.SoundFile(str(p), "w", samplerate=sr, channels=channels, subtype="FLOAT", format="WAV")
                      for p in paths]

    def emit(self, block: np.ndarray) -> None:
        a, b = self.pos, self.pos + len(block)
        for f, (s, e) in zip(self.files, self.bounds):
            lo, hi = max(a, s), min(b, e)
            if lo < hi:
                f.write(block[lo - a:hi - a])
        self.pos = b

    def close(self) -> None:
        for f in self.files:
            f.close()


def _layout(frames: int, sr: int) -> tuple[int, list[tuple[int, int]]]:
    """Whole chunks in a stream of `frames`, and the files' [start, end) in the stream."""
    step = chunk_samples(sr)
    total = 0
    while math.ceil((total + 1) * step) + MARGIN <= frames:
        total += 1
    if total == 0:
        return 0, [(0, frames)]
    bounds = []
    for first in range(0, total, CHUNKS_PER_FILE):
        last = min(first + CHUNKS_PER_FILE, total)
        start = round(first * step)
        end = frames if last == total else min(frames, math.ceil(last * step) + MARGIN)
        bounds.append((start, end))
    return total, bounds


def _joins(items: list[dict]) -> list[bool]:
    """For each clip after the first: does it go on exactly where the previous one ended?"""
    return [a["take_id"] == b["take_id"] and a["end_sample"] == b["start_sample"]
            for a, b in zip(items, items[1:])]


def export_rave_folder(folder: Path, records: list[dict], dest: Path) -> RaveExport:
    """Write the joined files into `dest` (flat: what `rave preprocess --input_path` reads),
    plus rave-export.json (the figures) and README.txt (the report). Returns the plan."""
    import soundfile as sf

    from ..naming import safe_filename

    groups: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["position"]):
        groups.setdefault(("+".join(r["symbols"]) or "untagged", r["sample_rate"], r["channels"]), []).append(r)
    names_used: dict[str, int] = {}
    for (name, _, _) in groups:
        names_used[name] = names_used.get(name, 0) + 1
    xfade_cache: dict[int, tuple] = {}
    plan = []
    for (name, sr, channels), items in sorted(groups.items()):
        joins = _joins(items)
        lengths = [r["end_sample"] - r["start_sample"] for r in items]
        xfade = max(1, round(CROSSFADE_S * sr))
        frames, crossfades = 0, 0
        for i, n in enumerate(lengths):
            x = 0 if i == 0 or joins[i - 1] else min(xfade, frames, n)
            crossfades += x > 0
            frames += n - x
        chunks, bounds = _layout(frames, sr)
        stem = safe_filename(name) + (f"-{sr}hz-{channels}ch" if names_used[name] > 1 else "")
        paths = [dest / f"{stem}-{i + 1:03d}.wav" for i in range(len(bounds))]
        g = Group(name, sr, channels, clips=len(items), clip_seconds=sum(lengths) / sr, frames=frames,
                  crossfades=crossfades, files=[p.name for p in paths],
                  chunks=sum(chunks_in(e - s, sr) for s, e in bounds))
        assert g.chunks >= chunks, (g.chunks, chunks)
        stream = _Stream(sr, channels, bounds, paths)
        try:
            pending = np.zeros((0, channels), dtype=np.float32)
            for i, r in enumerate(items):
                data, rate = sf.read(str(folder / r["path"]), dtype="float32", always_2d=True)
                if rate != sr or data.shape[1] != channels or len(data) != lengths[i]:
                    raise ValueError(f"{r['path']}: {len(data)} samples at {rate} Hz x {data.shape[1]}, the "
                                     f"metadata says {lengths[i]} at {sr} Hz x {channels}")
                x = 0 if i == 0 or joins[i - 1] else min(xfade, len(pending), len(data))
                if x:
                    if x not in xfade_cache:
                        xfade_cache[x] = _fades(x)
                    out_fade, in_fade = xfade_cache[x]
                    pending[-x:] = pending[-x:] * out_fade + data[:x] * in_fade
                pending = np.concatenate([pending, data[x:]])
                keep = min(len(pending), xfade)
                stream.emit(pending[:len(pending) - keep])
                pending = pending[len(pending) - keep:].copy()
            stream.emit(pending)
            assert stream.pos == frames, (stream.pos, frames)
        finally:
            stream.close()
        for p, (s, e) in zip(paths, bounds):   # what preprocess will read, checked on the files written
            assert sf.info(str(p)).frames == e - s
        plan.append(g)
    result = RaveExport(plan, Path(dest))
    (dest / "rave-export.json").write_text(json.dumps(result.manifest(), ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
    (dest / "README.txt").write_text(result.report() + "\n", encoding="utf-8")
    return result
