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


# -- how close a generation's descriptors lie to a dataset's ---------------------------------

DESCRIPTOR_NAMES = ("loudness", "centroid", "flatness")


@torch.no_grad()
def descriptor_frames(audio: np.ndarray) -> np.ndarray:
    """(n, 3) loudness (dB), log2 centroid and flatness (dB) per 256-sample block, from the
    latent family's causal analysis (the same numbers its frames are made of)."""
    from .families.defaults import LATENT_DEFAULTS
    from .families.latent import spectral_frames

    cfg = LATENT_DEFAULTS
    hop, fft, lw = int(cfg["hop"]), int(cfg["fft"]), int(cfg["loudness_window"])
    context = max(fft, lw) - hop
    n = len(audio) // hop
    x = torch.zeros(1, context + n * hop)
    x[0, context:] = torch.as_tensor(np.asarray(audio[:n * hop], dtype=np.float32))
    bands = dsp.log_band_matrix(fft, int(cfg["n_analysis_bands"]), SAMPLE_RATE)
    desc, _ = spectral_frames(x, context, hop, fft, lw, torch.hann_window(fft), bands, SAMPLE_RATE)
    return desc[0].numpy().astype(np.float64)


def wasserstein_1d(a: np.ndarray, b: np.ndarray, points: int = 1000) -> float:
    """The 1-D Wasserstein-1 distance between two samples: the mean absolute difference of
    their quantile functions (on `points` evenly spaced levels)."""
    q = (np.arange(points) + 0.5) / points
    return float(np.mean(np.abs(np.quantile(a, q) - np.quantile(b, q))))


def descriptor_distance(audio: np.ndarray, reference: list[np.ndarray]) -> dict:
    """How far `audio`'s descriptor distributions lie from those of the `reference` clips:
    per descriptor, the 1-D Wasserstein distance in the reference's z-scores (its mean and
    standard deviation over its blocks), and their sum ("total")."""
    ref = np.concatenate([descriptor_frames(c) for c in reference])
    got = descriptor_frames(audio)
    mean, std = ref.mean(0), np.maximum(ref.std(0), 1e-6)
    out = {name: wasserstein_1d((got[:, i] - mean[i]) / std[i], (ref[:, i] - mean[i]) / std[i])
           for i, name in enumerate(DESCRIPTOR_NAMES)}
    out["total"] = sum(out[name] for name in DESCRIPTOR_NAMES)
    return out


def noise_baseline_audio(train: list[ClipAudio], like: list[ClipAudio], seconds: float, seed: int = 0) -> np.ndarray:
    """`seconds` of the noise baseline: the dataset's average spectrum, level-matched block by
    block to the `like` clips taken in turn (what knowing only loudness and colour gives)."""
    spectrum = average_spectrum(train)
    pieces, total, i = [], 0, 0
    while total < seconds * SAMPLE_RATE:
        clip = like[i % len(like)]
        pieces.append(noise_baseline(clip, spectrum, seed=seed + i))
        total += len(clip.audio)
        i += 1
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]
