"""Synthetic material for tests, benchmarks and demos (numpy only).

Three kinds of sound the families are meant for: a plucked, sampled-like harmonic
instrument; a voice-like signal (a glottal source through moving vowel formants, with
vibrato and breath); and noise textures with percussive hits. Plus `timbre`: noise of
three colours at one loudness, for symbols that differ only in timbre. Deterministic from a seed.
`write_dataset` lays clips out as a dataset folder (metadata.jsonl + WAVs), the format
curation materialises.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SR = 48000
SCALE = [0, 2, 3, 5, 7, 8, 10]  # a minor scale


def plucked(seconds: float, seed: int = 0, low: float = 110.0, octaves: float = 2.0, sr: int = SR) -> np.ndarray:
    """Notes of 0.25-0.7 s: harmonics 1/h with brighter attacks that darken as they decay."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), dtype=np.float64)
    t0 = 0
    while t0 < len(out):
        dur = int(rng.uniform(0.25, 0.7) * sr)
        degree = rng.integers(0, int(7 * octaves))
        f0 = low * 2 ** ((12 * (degree // 7) + SCALE[degree % 7]) / 12)
        t = np.arange(dur) / sr
        note = np.zeros(dur)
        for h in range(1, 40):
            if h * f0 >= sr / 2 * 0.9:
                break
            note += np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h * np.exp(-t * (2.5 + 0.9 * h))
        note *= rng.uniform(0.2, 0.5) * np.minimum(1.0, t / 0.003)
        end = min(len(out), t0 + dur)
        out[t0:end] += note[:end - t0]
        t0 += int(dur * rng.uniform(0.7, 1.0))
    return out.astype(np.float32)


FORMANTS = {"a": (800, 1150, 2900), "e": (400, 1600, 2700), "i": (300, 2300, 3000),
            "o": (450, 800, 2830), "u": (325, 700, 2530)}


def voice(seconds: float, seed: int = 0, f0: float = 180.0, sr: int = SR) -> np.ndarray:
    """A sung vowel line: harmonics shaped by formants moving between vowels, vibrato, breath."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    # a melody of held notes with glides, plus 5.5 Hz vibrato
    notes = f0 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9], size=int(seconds * 2) + 2) / 12)
    knots = np.linspace(0, seconds, len(notes))
    pitch = np.interp(t, knots, notes) * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    vowels = list(FORMANTS)
    seq = [FORMANTS[vowels[i]] for i in rng.integers(0, len(vowels), size=int(seconds * 1.5) + 2)]
    vk = np.linspace(0, seconds, len(seq))
    formants = np.stack([np.interp(t, vk, [s[j] for s in seq]) for j in range(3)])
    out = np.zeros(n)
    for h in range(1, 60):
        fh = h * pitch
        if fh.min() >= sr / 2 * 0.9:
            break
        gain = sum(np.exp(-0.5 * ((fh - formants[j]) / (80 + 40 * j)) ** 2) * (1.0, 0.6, 0.3)[j] for j in range(3))
        out += np.where(fh < sr / 2 * 0.9, (gain + 0.02) / np.sqrt(h) * np.sin(h * phase), 0.0)
    envelope = np.clip(np.interp(t, np.linspace(0, seconds, int(seconds * 3) + 2),
                                 rng.uniform(0.3, 1.0, int(seconds * 3) + 2)), 0, 1)
    breath = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same") * 0.02
    out = (out / (np.abs(out).max() + 1e-9) * 0.4 + breath) * envelope
    return out.astype(np.float32)


def _colour(noise: np.ndarray, centre: float, width: float, sr: int) -> np.ndarray:
    spec = np.fft.rfft(noise)
    f = np.fft.rfftfreq(len(noise), 1 / sr)
    shaped = np.fft.irfft(spec * np.exp(-0.5 * (np.log2((f + 1) / centre) / width) ** 2), len(noise))
    return shaped / (np.sqrt(np.mean(shaped ** 2)) + 1e-12)


def noise_texture(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Coloured noise sections (low rumble, hiss, mid band) and percussive noise hits."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n)
    t0 = 0
    while t0 < n:
        dur = int(rng.uniform(0.2, 0.8) * sr)
        end = min(n, t0 + dur)
        seg = _colour(rng.standard_normal(dur), rng.choice([150, 600, 2500, 8000]), rng.uniform(0.4, 1.2), sr)
        t = np.arange(dur) / sr
        if rng.random() < 0.5:   # a hit: sharp attack, exponential decay
            env = np.exp(-t * rng.uniform(8, 30)) * np.minimum(1, t / 0.001)
        else:                    # a swell
            env = np.sin(np.pi * np.minimum(t / (dur / sr), 1.0)) ** 2
        out[t0:end] += (seg * env * rng.uniform(0.05, 0.25))[:end - t0]
        t0 += int(dur * rng.uniform(0.6, 1.0))
    return out.astype(np.float32)


TIMBRES = {"low": (300.0, 1.0), "mid": (2000.0, 1.0), "high": (9000.0, 1.0)}   # centre Hz, octaves


def timbre(seconds: float, kind: str, seed: int = 0, rms: float = 0.1, sr: int = SR) -> np.ndarray:
    """Noise coloured one of three ways (TIMBRES: a low rumble, a mid band, a hiss) under a
    slow swell, at the same RMS whatever the colour: material of equal loudness that differs
    only in timbre (the test of models steered by symbols)."""
    rng = np.random.default_rng([seed, list(TIMBRES).index(kind)])
    n = int(seconds * sr)
    centre, width = TIMBRES[kind]
    seg = _colour(rng.standard_normal(n), centre, width, sr) + 0.003 * rng.standard_normal(n)   # a -50 dB floor
    t = np.arange(n) / sr
    env = np.interp(t, np.linspace(0, seconds, int(seconds * 2) + 2), rng.uniform(0.5, 1.0, int(seconds * 2) + 2))
    out = seg * env
    return (out * rms / np.sqrt(np.mean(out ** 2))).astype(np.float32)


def write_dataset(folder: Path, clips: list[tuple[str, np.ndarray, list[str]]], sr: int = SR,
                  who: str = "test") -> Path:
    """Write clips (name, audio, symbols) as WAVs plus metadata.jsonl; returns the folder."""
    import soundfile as sf

    folder = Path(folder)
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as f:
        for i, (name, audio, symbols) in enumerate(clips):
            rel = f"clips/{i:03d}-{name}.wav"
            sf.write(str(folder / rel), audio, sr, subtype="FLOAT")
            f.write(json.dumps({"path": rel, "symbols": symbols, "who": who}, ensure_ascii=False) + "\n")
    return folder
