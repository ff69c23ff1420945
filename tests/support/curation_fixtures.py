"""Real audio with known quiet, noisy and pitched parts, in a real workspace.

`render_take()` returns the samples and a map of what is where; `CurationWorld` writes
them with soundfile into a workspace's audio folder, with real sessions / takes / markers
rows, so curation runs end to end on the real store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 48000

NOTATION = """
name = "curation test"
description = "Symbols the curation tests tag with."
[defaults]
before = 1.5
after = 0.5

[[symbols]]
id = "good"
glyph = "+"
label = "Good"
colour = "#2ecc71"

[[symbols]]
id = "bad"
glyph = "x"
label = "Bad"
colour = "#e74c3c"

[[symbols]]
id = "breath"
glyph = "h"
label = "Breath"
colour = "#3498db"
before = 1.0
after = 1.0
"""

# what the rendered take holds (seconds)
PARTS = {
    "quiet1": (0.0, 2.0),        # -80 dBFS noise floor
    "noise": (2.0, 4.0),         # white noise, about -12 dBFS
    "a3": (4.0, 6.0),            # 220 Hz harmonic tone, -15 dBFS RMS
    "quiet2": (6.0, 8.0),
    "a4": (8.0, 10.0),           # 440 Hz
    "a2": (10.0, 12.0),          # 110 Hz
    "soft_a3": (12.0, 14.0),     # 220 Hz at -54 dBFS: quiet but not silent
    "plucks": (14.0, 22.0),      # 330 Hz plucks, one attack each second at 14.5, 15.5, ... 21.5
    "quiet3": (22.0, 24.0),
}
PLUCK_ONSETS = [14.5 + k for k in range(8)]
DURATION = 24.0


def harmonic(f0: float, n: int, amp: float) -> np.ndarray:
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * 2 * f0 * t) + 0.25 * np.sin(2 * np.pi * 3 * f0 * t)
    return (amp * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)   # RMS = amp


def render_take(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (1e-4 * rng.standard_normal(int(DURATION * SR))).astype(np.float32)   # -80 dBFS floor

    def put(part, sig):
        a = int(PARTS[part][0] * SR)
        x[a:a + len(sig)] = sig

    n2 = 2 * SR
    put("noise", (0.25 * rng.standard_normal(n2)).astype(np.float32))
    put("a3", harmonic(220.0, n2, 0.18))
    put("a4", harmonic(440.0, n2, 0.18))
    put("a2", harmonic(110.0, n2, 0.18))
    put("soft_a3", harmonic(220.0, n2, 0.002))
    a, b = int(PARTS["plucks"][0] * SR), int(PARTS["plucks"][1] * SR)
    x[a:b] = 1e-4 * rng.standard_normal(b - a)
    for t0 in PLUCK_ONSETS:
        n = int(0.9 * SR)
        tt = np.arange(n) / SR
        s = int(t0 * SR)
        x[s:s + n] += (0.4 * np.exp(-tt * 5) * np.sin(2 * np.pi * 330 * tt)).astype(np.float32)
    return np.clip(x, -0.99, 0.99)   # what a PCM file can hold


@dataclass
class CurationWorld:
    ws: object
    db: object
    session: str = "monday"
    takes: dict = field(default_factory=dict)       # number -> take id
    notation_id: int | None = None

    @classmethod
    def create(cls, ws, db, session: str = "monday", notation: str = NOTATION) -> "CurationWorld":
        from rehearsal.notation import parse_notation
        from rehearsal.store.notations import store_notation
        from rehearsal.store.sessions import get_or_create_session

        nid = store_notation(db, parse_notation(notation, "curation-test.toml"))
        get_or_create_session(db, session, nid)
        return cls(ws, db, session, {}, nid)

    def add_take(self, samples: np.ndarray | None = None, *, session: str | None = None, subtype="PCM_24") -> int:
        from rehearsal.store.sessions import get_or_create_session
        from rehearsal.store.takes import create_take, finish_take, next_take_number

        session = session or self.session
        sid = get_or_create_session(self.db, session, self.notation_id)
        number = next_take_number(self.db, sid)
        samples = render_take() if samples is None else samples
        path = self.ws.session_audio_dir(session) / f"take-{number}.wav"
        sf.write(str(path), samples, SR, subtype=subtype)
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        tid = create_take(self.db, session_id=sid, number=number, path=self.ws.relative(path), format="WAV",
                          subtype=subtype, sample_rate=SR, channels=channels, device="test render",
                          notation_id=self.notation_id)
        finish_take(self.db, tid, frames=len(samples), overflows=0)
        self.takes[(session, number)] = tid
        return tid

    def tag(self, take_id: int, symbol: str, start_s: float, end_s: float, who: str = "ana",
            tap_s: float | None = None) -> int:
        from rehearsal.store.markers import insert_marker

        tap = end_s if tap_s is None else tap_s
        return insert_marker(self.db, take_id=take_id, symbol=symbol, glyph=symbol[0], tap_sample=round(tap * SR),
                             start_sample=round(start_s * SR), end_sample=round(end_s * SR), who=who,
                             source=f"who:{who}")

    def tag_part(self, take_id: int, symbol: str, part: str, who: str = "ana", inset_s: float = 0.1) -> int:
        a, b = PARTS[part]
        return self.tag(take_id, symbol, a + inset_s, b - inset_s, who)

    def pipeline(self, body: str, name: str = "test"):
        from rehearsal.curation import parse_pipeline

        return parse_pipeline(f'name = "{name}"\n{body}', f"{name}.toml")

    def write_pipeline(self, body: str, name: str = "test") -> Path:
        path = self.ws.home / f"{name}.toml"
        path.write_text(f'name = "{name}"\n{body}', encoding="utf-8")
        return path


def step(use: str, **params) -> str:
    """A [[steps]] table as TOML text."""
    import json

    lines = ["[[steps]]", f'use = "{use}"']
    for k, v in params.items():
        lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


# -- a take of many short clips in three clusters (maps, terrains) ---------------------------
CLUSTERS = (("good", "ana"), ("breath", "bo"), ("bad", "cy"))   # low tones, high tones, noise bursts
CLIP_S, GAP_S = 0.6, 0.1


def cluster_clip(kind: int, k: int, rng) -> np.ndarray:
    n = int(CLIP_S * SR)
    """Clip k of a cluster: each a little higher (tones) or louder (noise) than the one before,
    so neighbourhoods within a cluster mean something."""
    if kind == 0:
        return harmonic(110.0 * 2 ** (k / 24), n, 0.12)
    if kind == 1:
        return harmonic(880.0 * 2 ** (k / 24), n, 0.05)
    return ((0.05 * 2 ** (k / 8)) * rng.standard_normal(n)).astype(np.float32)


def add_cluster_clips(world: CurationWorld, take_id: int | None, first: int, count: int, seed: int = 0):
    """Tags `count` clips numbered from `first` (clip i: cluster i % 3) on a take written by
    `cluster_take`. Returns [(marker id, clip index)]."""
    out = []
    for i in range(first, first + count):
        symbol, who = CLUSTERS[i % 3]
        start = i * (CLIP_S + GAP_S) + 0.05
        out.append((world.tag(take_id, symbol, start, start + CLIP_S - 0.1, who=who), i))
    return out


def cluster_take(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (1e-4 * rng.standard_normal(int(count * (CLIP_S + GAP_S) * SR) + SR)).astype(np.float32)
    for i in range(count):
        a = int(i * (CLIP_S + GAP_S) * SR)
        sig = cluster_clip(i % 3, i // 3, rng)
        x[a:a + len(sig)] = sig
    return np.clip(x, -0.99, 0.99)
