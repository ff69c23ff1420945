"""Rendering clips whole, the validation loss, previews and the filtered-noise baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import dsp
from .data import ClipAudio, whole_clip_inputs
from .dataset import SAMPLE_RATE


def model_inputs(model, batch: dict, device) -> list:
    """The tensors a family's forward takes after the audio, in its declared order."""
    return [torch.as_tensor(batch[k], device=device) for k in model.conditioning]


@torch.no_grad()
def render_clip(model, clip: ClipAudio, device="cpu", transpose: float = 1.0) -> np.ndarray:
    """The clip resynthesised whole from a zero state, cut to the clip's length.
    `transpose` multiplies the pitch of families that take one."""
    batch = whole_clip_inputs(clip, model.hop, model.context, model.conditioning)
    if "f0" in batch and transpose != 1.0:
        batch["f0"] = batch["f0"] * transpose
    audio = torch.as_tensor(batch["audio"], device=device)
    out = model(audio, *model_inputs(model, batch, device))
    return out[0, :len(clip.audio)].float().cpu().numpy()


def spectral_loss(pred: np.ndarray, target: np.ndarray) -> float:
    """Between two rendered arrays, on the CPU whatever device the model trains on."""
    p = torch.as_tensor(pred, dtype=torch.float32, device="cpu").unsqueeze(0)
    t = torch.as_tensor(target, dtype=torch.float32, device="cpu").unsqueeze(0)
    return float(dsp.multiscale_spectral_loss(p, t))


@torch.no_grad()
def validation_loss(model, clips: list[ClipAudio], device="cpu") -> float:
    """Mean multi-scale spectral loss over clips, weighted by their length."""
    if not clips:
        return float("nan")
    was_training = model.training
    model.eval()
    try:
        total, weight = 0.0, 0.0
        for c in clips:
            w = len(c.audio)
            total += spectral_loss(render_clip(model, c, device), c.audio) * w
            weight += w
        return total / weight
    finally:
        model.train(was_training)


def write_previews(model, probes: list[ClipAudio], folder: Path, device="cpu") -> list[Path]:
    """Render the probe clips into `folder` (one WAV each, same names every generation)."""
    import soundfile as sf

    from ..naming import safe_filename

    folder.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    paths = []
    try:
        for i, c in enumerate(probes, 1):
            path = folder / f"{i:02d}-{safe_filename(c.name)}.wav"
            sf.write(str(path), render_clip(model, c, device), SAMPLE_RATE, subtype="FLOAT")
            paths.append(path)
    finally:
        model.train(was_training)
    return paths


def write_probe_originals(probes: list[ClipAudio], folder: Path) -> None:
    import soundfile as sf

    from ..naming import safe_filename

    folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(probes, 1):
        sf.write(str(folder / f"{i:02d}-{safe_filename(c.name)}.wav"), c.audio, SAMPLE_RATE, subtype="FLOAT")


# -- the baseline a model must beat --------------------------------------------------------

def average_spectrum(clips: list[ClipAudio], n_fft: int = 1024) -> np.ndarray:
    """Long-term average magnitude spectrum of the training clips."""
    acc, count = np.zeros(n_fft // 2 + 1), 0
    window = np.hanning(n_fft)
    for c in clips:
        x = c.audio
        for s in range(0, len(x) - n_fft + 1, n_fft // 2):
            acc += np.abs(np.fft.rfft(x[s:s + n_fft] * window))
            count += 1
    return acc / max(count, 1)


def noise_baseline(clip: ClipAudio, spectrum: np.ndarray, hop: int = 256, seed: int = 0) -> np.ndarray:
    """White noise shaped by the dataset's average spectrum, its level matched to the clip
    block by block: what a model knowing only loudness and the overall colour would do."""
    n_fft = (len(spectrum) - 1) * 2
    rng = np.random.default_rng(seed)
    n = len(clip.audio)
    noise = rng.standard_normal(n + n_fft)
    shaped = np.fft.irfft(np.fft.rfft(noise) * np.interp(np.linspace(0, 1, (len(noise)) // 2 + 1),
                                                        np.linspace(0, 1, len(spectrum)), spectrum), len(noise))[:n]
    out = np.zeros(n, dtype=np.float32)
    for s in range(0, n, hop):
        seg = shaped[s:s + hop]
        target = clip.audio[s:s + hop]
        out[s:s + hop] = seg * np.sqrt(np.mean(target ** 2) / (np.mean(seg ** 2) + 1e-12))
    return out


def baseline_loss(train: list[ClipAudio], val: list[ClipAudio]) -> float:
    spectrum = average_spectrum(train)
    total, weight = 0.0, 0.0
    for i, c in enumerate(val):
        total += spectral_loss(noise_baseline(c, spectrum, seed=i), c.audio) * len(c.audio)
        weight += len(c.audio)
    return total / max(weight, 1)
