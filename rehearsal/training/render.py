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
    if str(ckpt["path"]).endswith(".ts"):
        raise LookupError(f"{gen['name']} is an imported nn~ module ({ckpt['path']}): `rehearsal render` and "
                          "`rehearsal export` take it as it is, but it has no weights here to load")
    model, _ = load_checkpoint(ws.resolve(ckpt["path"]))
    return model.to(device), gen, ckpt


def render_module_file(model_path: Path, src: Path, dest: Path) -> int:
    """`src` through an imported generation's nn~ module (its model.ts), as the play host
    streams it (its rate and buffer, latency removed), into `dest` (48 kHz float WAV)."""
    from .imported import info_for_file
    from .module_stream import render_offline

    out = render_offline(Path(model_path), info_for_file(model_path), load_audio(Path(src)), SAMPLE_RATE)
    return write_playable(out, dest)


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
    out = render_array(model, load_audio(Path(src)), transpose_semitones=transpose_semitones, device=device)
    return write_playable(out, dest)


def write_playable(out: np.ndarray, dest: Path) -> int:
    """`out` as a 48 kHz float WAV at `dest`; frames written."""
    import soundfile as sf

    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 1.0:  # keep a float file playable everywhere; the level is the model's, scaled once
        out = out / peak
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dest), out, SAMPLE_RATE, subtype="FLOAT")
    return len(out)


def generate_file(model, dest: Path, seconds: float, *, prompt: Path | None = None, prompt_from_s: float = 0.0,
                  prompt_seconds: float = 4.0, temperature: float | None = None, seed: int | None = None,
                  device: str = "cpu") -> int:
    """`seconds` of a free run of an autoregressive generation into `dest` (48 kHz float WAV),
    after hearing `prompt_seconds` of `prompt` from `prompt_from_s` if a prompt is given (a
    moment of a take). Returns frames written."""
    import torch

    if not hasattr(model, "generate"):
        raise LookupError(f"this generation's model ({type(model).__name__}) cannot run free: "
                          "train one with --family autoregressive")
    context = None
    if prompt is not None:
        audio = load_audio(Path(prompt))
        start = int(prompt_from_s * SAMPLE_RATE)
        piece = audio[start:start + int(prompt_seconds * SAMPLE_RATE)]
        n = len(piece) // model.hop * model.hop
        if n < model.hop * model.stride * 2:
            raise LookupError(f"{prompt}: no prompt at {prompt_from_s:.2f} s (the file is {len(audio) / SAMPLE_RATE:.2f} s)")
        context = torch.zeros(1, model.context + n, device=device)
        context[0, model.context:] = torch.as_tensor(piece[:n], device=device)
    with torch.no_grad():
        samples = int(round(seconds * SAMPLE_RATE))
        out = model.generate(-(-samples // model.hop), prompt=context, temperature=temperature,
                             seed=seed)[0, :samples].float().cpu().numpy()
    return write_playable(out, dest)
