"""Rendering audio files through a generation: resynthesis, timbre transfer, and a score
through a model steered by symbols (no audio in)."""

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


# -- a score through a model steered by symbols ------------------------------------------------

DYNAMIC_DB = {"ppp": -24.0, "pp": -18.0, "p": -12.0, "mp": -6.0, "mf": 0.0, "f": 6.0, "ff": 12.0, "fff": 18.0}
REST_DB = -100.0
RENDER_BLOCKS = 2048      # blocks decoded at a time (about 11 s): a long score never sits in memory whole


def score_controls(model, score) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per block of the score's events (the count-in left out): the model's symbol index and
    the loudness in dB (the dataset's mean loudness at mf, 6 dB a step of dynamics, an event
    without one at mf, a rest silent), and the score's symbols the model never learned (they
    play as "no symbol")."""
    hop = int(model.hop)
    n = max(1, int(np.ceil(score.duration_s * SAMPLE_RATE / hop)))
    symbol = np.zeros(n, np.int64)
    loud = np.full(n, REST_DB, np.float32)
    mean_db = float(model.desc_mean[0])
    unknown: dict[str, None] = {}
    for e in score.events:
        a, b = int(round(e.start_s * SAMPLE_RATE / hop)), int(round(e.end_s * SAMPLE_RATE / hop))
        if e.symbol is None or b <= a:
            continue
        symbol[a:b] = model.symbol_index(e.symbol)
        if symbol[a] == 0:
            unknown.setdefault(e.symbol)
        loud[a:b] = mean_db + DYNAMIC_DB[e.dynamic or "mf"]
    return symbol, loud, list(unknown)


def render_score_file(model, score, dest: Path, *, seed: int = 0, device: str = "cpu") -> tuple[int, list[str]]:
    """`score` through a model steered by symbols, prompted by its symbols and dynamics alone,
    into `dest` (48 kHz float WAV). Returns (frames written, symbols the model never learned)."""
    import soundfile as sf
    import torch

    if not getattr(model, "symbols", None):
        raise LookupError(f"this generation's model ({type(model).__name__}) is not steered by symbols: train "
                          "one with `rehearsal train --family latent --condition symbols`")
    symbol, loud, unknown = score_controls(model, score)
    if len(unknown) == len({e.symbol for e in score.sounding}):
        raise LookupError(f"the model learned none of the score's symbols ({', '.join(unknown)}); it knows: "
                          + ", ".join(model.symbols))
    samples = int(round(score.duration_s * SAMPLE_RATE))
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    state, written = None, 0
    with torch.no_grad(), sf.SoundFile(str(dest), "w", SAMPLE_RATE, 1, subtype="FLOAT") as f:
        for k in range(0, len(symbol), RENDER_BLOCKS):
            sym = torch.as_tensor(symbol[None, k:k + RENDER_BLOCKS], device=device)
            db = torch.as_tensor(loud[None, k:k + RENDER_BLOCKS], device=device)
            audio, state = model.render_symbols(sym, db, seed=seed, start=k, state=state)
            out = np.clip(audio[0].float().cpu().numpy()[:samples - written], -1.0, 1.0)
            f.write(out)
            written += len(out)
    return written, unknown
