#!/usr/bin/env python3
"""Synthesise the demo take shipped with rehearsal (rehearsal/assets/demo-take.flac).

The TUI streams it "as if live" on a machine with no sound card, so a new user can record,
tag and review straight away. It should sound like a small rehearsal, not a test tone:
plucked strings (Karplus-Strong) playing a phrase, a voice-like line (a glottal pulse
train shaped by vowel formants, with vibrato), a few breathy noise gestures and silences
between phrases, so there are moments worth tagging. Seeded: the file is reproducible.

    .venv/bin/python scripts/make_demo_take.py [--out rehearsal/assets/demo-take.flac]

Kept under 1.5 MB: 24 s, 48 kHz, mono, 16-bit FLAC (a stereo mix with the same music
comes to 1.8 MB: FLAC spends most of its bits on the noise in the plucks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 48_000
SECONDS = 24.0
RNG = np.random.default_rng(20240601)


def midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def pluck(freq: float, seconds: float, decay: float = 0.996, brightness: float = 0.5) -> np.ndarray:
    """Karplus-Strong, computed one delay line at a time (each period depends on the last)."""
    n = int(SR * seconds)
    period = max(2, int(round(SR / freq)))
    out = np.zeros(n + period + 1, np.float64)
    burst = RNG.uniform(-1, 1, period)
    # a darker excitation for a softer pluck
    for _ in range(int((1 - brightness) * 4)):
        burst = 0.5 * (burst + np.roll(burst, 1))
    out[:period] = burst
    pos = period
    while pos < n:
        end = min(pos + period, n)
        prev = out[pos - period:end - period]
        prev_next = out[pos - period + 1:end - period + 1]
        out[pos:end] = decay * 0.5 * (prev + prev_next)
        pos = end
    sig = out[:n]
    return sig / (np.abs(sig).max() + 1e-9)


VOWELS = {  # first three formants (Hz) and bandwidths, roughly a sung voice
    "a": ((800, 1150, 2900), (80, 90, 120)),
    "o": ((450, 800, 2830), (70, 80, 100)),
    "i": ((350, 1700, 2700), (50, 100, 120)),
    "u": ((325, 700, 2530), (50, 60, 170)),
    "e": ((400, 1600, 2700), (60, 80, 120)),
}


def voice(notes: list[tuple[float, float, str]], vibrato: float = 5.5) -> np.ndarray:
    """Additive voice: harmonics of a glide-free f0 weighted by a formant envelope.

    notes: (midi note, seconds, vowel). Formants glide between vowels."""
    total = int(SR * sum(d for _, d, _ in notes))
    f0 = np.zeros(total)
    formants = np.zeros((total, 3))
    widths = np.zeros((total, 3))
    pos = 0
    for note, dur, vowel in notes:
        n = int(SR * dur)
        f0[pos:pos + n] = midi_hz(note)
        formants[pos:pos + n] = VOWELS[vowel][0]
        widths[pos:pos + n] = VOWELS[vowel][1]
        pos += n
    smooth = np.ones(int(SR * 0.06)) / int(SR * 0.06)   # portamento and vowel glides
    f0 = np.convolve(f0, smooth, mode="same")
    for k in range(3):
        formants[:, k] = np.convolve(formants[:, k], smooth, mode="same")
    t = np.arange(total) / SR
    vib = 1 + 0.012 * np.sin(2 * np.pi * vibrato * t) * np.clip(t / 0.8, 0, 1)
    phase = 2 * np.pi * np.cumsum(f0 * vib) / SR
    out = np.zeros(total)
    for h in range(1, 40):
        fh = h * f0 * vib
        amp = np.zeros(total)
        for k, gain in enumerate((1.0, 0.6, 0.25)):
            amp += gain / (1 + ((fh - formants[:, k]) / widths[:, k]) ** 2)
        amp *= (fh < SR / 2 - 1000) / h ** 0.7
        out += amp * np.sin(h * phase)
    out = out / (np.abs(out).max() + 1e-9)
    env = np.ones(total)
    ramp = int(SR * 0.15)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[-ramp:] = np.linspace(1, 0, ramp)
    return out * env


def breath_gesture(seconds: float, centre: float) -> np.ndarray:
    """A band of filtered noise swelling and fading: a bow scrape or a long 'sh'."""
    n = int(SR * seconds)
    noise = RNG.standard_normal(n)
    spec = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spec *= np.exp(-0.5 * ((freqs - centre) / (centre * 0.35)) ** 2)
    sig = np.fft.irfft(spec, n)
    env = np.sin(np.linspace(0, np.pi, n)) ** 2
    sig = sig * env
    return sig / (np.abs(sig).max() + 1e-9)


def place(track: np.ndarray, sig: np.ndarray, at: float, gain: float, pan: float) -> None:
    """Add `sig` at `at` seconds, equal-power panned (-1 left .. 1 right)."""
    start = int(at * SR)
    end = min(len(track), start + len(sig))
    if end <= start:
        return
    theta = (pan + 1) * np.pi / 4
    track[start:end, 0] += gain * np.cos(theta) * sig[:end - start]
    track[start:end, 1] += gain * np.sin(theta) * sig[:end - start]


def compose() -> np.ndarray:
    track = np.zeros((int(SR * SECONDS), 2))
    # phrase 1: plucked pentatonic figure (0-6 s)
    figure = [57, 60, 62, 64, 67, 64, 62, 60, 57, 55, 57]
    for i, note in enumerate(figure):
        place(track, pluck(midi_hz(note), 1.8, 0.995, 0.6), 0.3 + i * 0.5, 0.45, -0.4 + 0.08 * (i % 3))
    # phrase 2: voice alone, then plucks answer (6.5-13 s)
    place(track, voice([(64, 0.9, "a"), (67, 0.6, "o"), (69, 1.4, "a"), (67, 0.5, "e"), (64, 1.6, "u")]),
          6.6, 0.4, 0.35)
    for i, note in enumerate([52, 57, 59, 64]):
        place(track, pluck(midi_hz(note), 2.5, 0.997, 0.3), 11.6 + i * 0.35, 0.4, -0.2)
    # a scrape, then silence (13.5-15.5 s)
    place(track, breath_gesture(1.2, 2500), 13.6, 0.3, 0.1)
    # phrase 3: voice and plucks together, a little rougher (16-23.5 s)
    place(track, voice([(62, 0.8, "i"), (64, 0.8, "e"), (66, 1.0, "a"), (69, 1.8, "o"), (62, 2.2, "u")], 6.2),
          16.2, 0.35, 0.3)
    for i, note in enumerate([50, 57, 62, 57, 50, 57, 62, 66, 69, 66, 62, 57]):
        place(track, pluck(midi_hz(note), 1.5, 0.994, 0.5), 16.0 + i * 0.55, 0.35, -0.5)
    place(track, breath_gesture(0.8, 5000), 22.2, 0.2, -0.1)
    # short fades at both ends so the loop joins without a click
    fade = int(SR * 0.05)
    track[:fade] *= np.linspace(0, 1, fade)[:, None]
    track[-fade:] *= np.linspace(1, 0, fade)[:, None]
    mono = track.mean(axis=1)
    return mono / np.abs(mono).max() * 0.7


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "rehearsal" / "assets" / "demo-take.flac"
    p.add_argument("--out", type=Path, default=default)
    args = p.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, compose().astype(np.float32), SR, format="FLAC", subtype="PCM_16")
    size = args.out.stat().st_size
    print(f"{args.out}: {SECONDS:.0f} s, {SR} Hz, mono, {size / 1e6:.2f} MB")
    if size > 1_500_000:
        raise SystemExit("the demo take must stay under 1.5 MB")


if __name__ == "__main__":
    main()
