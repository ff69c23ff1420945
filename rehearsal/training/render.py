"""Rendering audio files through a generation: resynthesis and timbre transfer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import generations as gens
from .dataset import SAMPLE_RATE, load_audio


def load_generation_model(ws, db, ref, step: int | None = None, device: str = "cpu"):
    """(model, generation row, checkpoint row) for a generation's default or chosen checkpoint."""
    from .checkpoints import load_checkpoint

    gen = gens.get_generation(db, ref)
    ckpt = gens.checkpoint_for(db, gen, step)
    model, _ = load_checkpoint(ws.resolve(ckpt["path"]))
    return model.to(device), gen, ckpt


def render_array(model, audio: np.ndarray, *, transpose_semitones: float = 0.0, device: str = "cpu") -> np.ndarray:
    """Mono 48 kHz in, mono 48 kHz out, same length."""
    from .data import ClipAudio
    from .descriptors import pitch_track
    from .evaluation import render_clip

    clip = ClipAudio("input", audio.astype(np.float32))
    if "f0" in model.conditioning:
        clip.f0, clip.confidence = pitch_track(clip.audio, SAMPLE_RATE, model.hop,
                                               int(model.config.get("yin_window", 2048)))
    return render_clip(model, clip, device, transpose=2 ** (transpose_semitones / 12))


def render_file(model, src: Path, dest: Path, *, transpose_semitones: float = 0.0, device: str = "cpu") -> int:
    """Render `src` (any format and rate soundfile reads) to a 48 kHz float WAV. Returns frames."""
    import soundfile as sf

    out = render_array(model, load_audio(Path(src)), transpose_semitones=transpose_semitones, device=device)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 1.0:  # keep a float file playable everywhere; the level is the model's, scaled once
        out = out / peak
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dest), out, SAMPLE_RATE, subtype="FLOAT")
    return len(out)
