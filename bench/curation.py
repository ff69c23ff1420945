"""Benchmark: analyse and curate an hour of audio, on one core.

    .venv/bin/python bench/curation.py [--minutes 60] [--keep DIR]

Synthesises `--minutes` of 48 kHz mono takes (one minute each: tones at known pitches,
noise bursts, plucked notes, silence) with tags from two people, into a fresh workspace.
Then, in the same run:

1. cold: `preview` + `commit` of a nine-step pipeline: every take read with soundfile,
   analysed with aubio, cached, curated, written as a dataset version;
2. baseline: the same aubio objects (pvoc and YIN at the same window and hop) run in a bare
   loop over the same arrays, already in memory: the floor any aubio-based analysis pays;
3. warm: the same curation again, descriptors from the cache;
4. augment: the `augment` step (SoX pitch shift and time stretch, gain, noise: one copy per
   clip) over the first `--augment-s` seconds of the dataset's clips, materialised: not part
   of the speed goal (never on by default, for small datasets), timed per second of audio;
5. truth: the shipped good-takes pipeline on the truth take of each `--truth-seeds` seed
   (tests/support/truth_take.py: fluidsynth instruments, espeak-ng speech, noise; known
   good / bad segments, late taps from two people): precision, recall, samples under bad
   material, duplicated samples, measured against the generator's truth; then the same with
   `augment` appended: the recorded clips must score the same, every augmented clip says so.

The pipeline is the shipped good-takes' steps (agreement first, phrase regions, sets of
time) plus pitch-range; a performer mapped to every take's input (`audio:bench`) and one
who withdrew (mapped to a take of another session) make step 0 look up who played each take
(and keep them all: the figures count every take's audio).
Prints the speed as a multiple of real time (goal: >= 200x cold) and cold / baseline
(goal: <= 1.5x). Pinned to one CPU, BLAS threads 1. `--json PATH` writes every figure.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 48000
TAKE_S = 60

NOTATION = """
name = "bench"
description = "bench"
[defaults]
before = 4.0
after = 1.0
[[symbols]]
id = "good"
glyph = "+"
[[symbols]]
id = "bad"
glyph = "x"
[[symbols]]
id = "breath"
glyph = "h"
"""

PIPELINE = """
name = "bench"
[[steps]]
use = "region-from-taps"
mode = "phrase"
cover = ["bad"]
[[steps]]
use = "agreement"
rule = "majority"
veto = "bad"
min_overlap = 0.5
overlap_of = "longer"
once_each = true
tie = "sound"
[[steps]]
use = "select-symbols"
keep = ["good", "breath"]
drop = ["bad"]
[[steps]]
use = "manual"
[[steps]]
use = "trim-silence"
[[steps]]
use = "loudness-gate"
min_db = -45
[[steps]]
use = "noise-filter"
[[steps]]
use = "pitch-range"
low = "C2"
high = "C6"
unpitched = "keep"
[[steps]]
use = "dedupe"
[[steps]]
use = "segment"
max_s = 3.0
[[steps]]
use = "balance"
by = "person"
max_s = 900
"""


AUGMENT = """
[[steps]]
use = "augment"
copies = 1
noise_db = -70
"""


def augment_seconds(ws, db, version_ref: str, seconds: float) -> dict:
    """The augment step over the dataset's first `seconds` of clips, materialised (sox runs then)."""
    from rehearsal.curation import commit, materialise_dataset, version_clips
    from rehearsal.curation.augment import render

    clips = [sc.clip for sc in version_clips(db, version_ref)]
    chosen, total = [], 0.0
    for c in clips:
        if total >= seconds:
            break
        chosen.append(c)
        total += c.duration_s
    paths = {r["id"]: ws.resolve(r["path"]) for r in db.query("SELECT id, path FROM takes")}
    t0 = time.perf_counter()
    for k, c in enumerate(chosen):
        data, _ = sf.read(str(paths[c.take_id]), start=c.start, stop=c.end, dtype="float32", always_2d=True)
        render(data, c.sample_rate, {"gain_db": -2.0, "pitch_semitones": 0.3, "stretch": 1.03, "noise_db": -70.0,
                                     "seed": k})
    spent = time.perf_counter() - t0
    return {"clips": len(chosen), "audio_s": round(total, 1), "seconds": round(spent, 2),
            "x_real_time": round(total / spent, 1) if spent else None}


def synth_take(rng: np.random.Generator) -> np.ndarray:
    """A minute of rehearsal-like material in 2-6 s sections."""
    n = TAKE_S * SR
    x = (1e-4 * rng.standard_normal(n)).astype(np.float32)
    pos = 0
    while pos < n:
        length = min(n - pos, int(rng.uniform(2, 6) * SR))
        kind = rng.choice(["tone", "tone", "plucks", "noise", "silence"])
        t = np.arange(length, dtype=np.float32) / SR
        if kind == "tone":
            f0 = 440 * 2 ** (rng.integers(-24, 13) / 12)
            sig = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
            x[pos:pos + length] += (rng.uniform(0.02, 0.3) * sig / 1.5).astype(np.float32)
        elif kind == "plucks":
            f0 = 440 * 2 ** (rng.integers(-12, 13) / 12)
            for start in np.arange(0, length / SR - 0.3, rng.uniform(0.3, 1.0)):
                a = int(start * SR)
                tt = t[: length - a]
                x[pos + a:pos + length] += (0.3 * np.exp(-tt * 6) * np.sin(2 * np.pi * f0 * tt)).astype(np.float32)
        elif kind == "noise":
            x[pos:pos + length] += (rng.uniform(0.01, 0.2) * rng.standard_normal(length)).astype(np.float32)
        pos += length
    return np.clip(x, -0.99, 0.99)


def build_workspace(home: Path, minutes: int):
    from rehearsal.notation import parse_notation
    from rehearsal.store import Workspace, open_db
    from rehearsal.store.markers import insert_marker
    from rehearsal.store.notations import store_notation
    from rehearsal.store.sessions import get_or_create_session
    from rehearsal.store.takes import create_take, finish_take

    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    nid = store_notation(db, parse_notation(NOTATION, "bench.toml"))
    sid = get_or_create_session(db, "bench", nid)
    rng = np.random.default_rng(1)
    folder = ws.session_audio_dir("bench")
    for number in range(1, minutes + 1):
        audio = synth_take(rng)
        path = folder / f"take-{number}.wav"
        sf.write(str(path), audio, SR, subtype="PCM_16")
        tid = create_take(db, session_id=sid, number=number, path=ws.relative(path), format="WAV", subtype="PCM_16",
                          sample_rate=SR, channels=1, device="bench", notation_id=nid)
        finish_take(db, tid, frames=len(audio), overflows=0)
        db.conn.execute("BEGIN")
        for _ in range(20):                  # 20 tags a minute, two people
            tap = int(rng.uniform(5, TAKE_S - 1) * SR)
            symbol = str(rng.choice(["good", "good", "breath", "bad"]))
            insert_marker(db, take_id=tid, symbol=symbol, glyph=symbol[0], tap_sample=tap,
                          start_sample=tap - 4 * SR, end_sample=min(len(audio), tap + SR),
                          who=str(rng.choice(["ana", "bo"])), source="bench")
        db.conn.execute("COMMIT")
    from rehearsal.store.people import map_source, withdraw

    map_source(db, "audio:bench", "cy")          # cy played every take; dan, who withdrew, played
    map_source(db, "take:elsewhere/1", "dan")    # a take of another session: step 0 looks up who
    withdraw(db, "dan", by="dan")                # played each take, and keeps every one here
    return ws, db


def baseline_seconds(ws, db, params) -> float:
    """The same aubio objects, same window and hop, over the same arrays already in memory."""
    import aubio

    total = 0.0
    for take in db.query("SELECT * FROM takes ORDER BY id"):
        x, sr = sf.read(str(ws.resolve(take["path"])), dtype="float32")
        q = params.decimation(sr)
        hop, ph = params.hop, params.hop // q
        n = len(x) // hop
        b = x[: n * hop].reshape(-1, q).mean(1)
        y = np.ascontiguousarray(np.concatenate([[b[0] / 2], 0.5 * (b[1:] + b[:-1])]), dtype=np.float32)
        x = np.ascontiguousarray(x)
        pv = aubio.pvoc(params.win, hop)
        pitch = aubio.pitch(params.pitch_method, max(params.pitch_win, ph), ph, sr // q)
        pitch.set_unit("Hz")
        conf = pitch.get_confidence
        t0 = time.perf_counter()
        for i in range(n):
            pv(x[i * hop:(i + 1) * hop])
            pitch(y[i * ph:(i + 1) * ph])
            conf()
        total += time.perf_counter() - t0
    return total


def truth_figures(seeds: list[int], augment: bool = True, noise: str = "made") -> list[dict]:
    """The shipped good-takes pipeline on the truth take of each seed, against its truth."""
    from tests.support import truth_take as T
    from tests.support.curation_fixtures import CurationWorld

    from rehearsal.curation import parse_pipeline, preview
    from rehearsal.store import Workspace, open_db

    missing = T.tools_missing()
    if missing:
        print(f"truth take: skipped ({missing})")
        return []
    path = ROOT / "plugins" / "pipelines" / "good-takes.toml"
    pipeline = parse_pipeline(path.read_text(encoding="utf-8"), str(path))
    with_augment = parse_pipeline(path.read_text(encoding="utf-8") + AUGMENT, str(path) + " + augment")
    out = []
    for seed in seeds:
        home = Path(tempfile.mkdtemp(prefix="rehearsal-truth-"))
        try:
            ws = Workspace.at(home)
            db = open_db(ws.db_path)
            world = CurationWorld.create(ws, db, notation=T.NOTATION)
            truth = T.truth_take(seed, noise=noise)
            T.add_to_world(world, truth)
            m = T.measure(preview(ws, db, pipeline, [world.session]).clips, truth)
            if augment:
                clips = preview(ws, db, with_augment, [world.session]).clips
                made = [c for c in clips if c.augment]
                kept = T.measure([c for c in clips if not c.augment], truth)
                m["augmented_clips"] = len(made)
                m["augmented_all_named"] = all(c.made_by == "augment" and dict(c.augment).get("stretch") for c in made)
                m["recorded_clips_unchanged"] = {k: kept[k] for k in ("precision", "recall", "bad_samples",
                                                                       "duplicated_samples")} == \
                    {k: m[k] for k in ("precision", "recall", "bad_samples", "duplicated_samples")}
            out.append(m)
            print(f"truth take seed {seed}: precision {m['precision']:.3f} (goal >= 0.95), recall {m['recall']:.3f} "
                  f"(goal >= 0.7), {m['bad_samples']} samples under bad, {m['duplicated_samples']} duplicated "
                  f"(goals 0, 0); {m['dataset_s']} s of dataset"
                  + (f"; with augment: {m['augmented_clips']} augmented clips, all named: {m['augmented_all_named']}, "
                     f"recorded clips scored the same: {m['recorded_clips_unchanged']}" if augment else ""))
            db.conn.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=60, help="minutes of audio (one take per minute)")
    ap.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    ap.add_argument("--truth-seeds", default="0,1,2,3", help="seeds of the truth takes to measure ('' for none)")
    ap.add_argument("--truth-noise", choices=("made", "recorded"), default="made",
                    help="the truth take's noise: made in code, or the soundfont's recorded sound effects")
    ap.add_argument("--augment-s", type=float, default=120.0, help="seconds of clips to augment (0: none)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args()
    figures = {"command": " ".join(["bench/curation.py", *sys.argv[1:]]), "load_before": os.getloadavg()}
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})   # one core
    except (AttributeError, OSError):
        pass

    from rehearsal.curation import DESCRIPTOR_STATS, commit, parse_pipeline, preview

    home = args.keep or Path(tempfile.mkdtemp(prefix="rehearsal-bench-"))
    try:
        t0 = time.perf_counter()
        ws, db = build_workspace(home, args.minutes)
        audio_s = args.minutes * TAKE_S
        print(f"synthesised {audio_s / 60:.0f} min of audio in {time.perf_counter() - t0:.1f} s "
              f"({args.minutes} takes, {20 * args.minutes} tags)")
        pipeline = parse_pipeline(PIPELINE, "bench.toml")

        t0 = time.perf_counter()
        run = preview(ws, db, pipeline, ["bench"])
        version = commit(run, "bench")
        cold = time.perf_counter() - t0
        computed = DESCRIPTOR_STATS["computed"]

        base = baseline_seconds(ws, db, pipeline.analysis)

        t0 = time.perf_counter()
        run2 = preview(ws, db, pipeline, ["bench"])
        version2 = commit(run2, "bench")
        warm = time.perf_counter() - t0
        assert DESCRIPTOR_STATS["computed"] == computed, "the second run analysed again"
        assert [c.key for c in run2.clips] == [c.key for c in run.clips]

        print(f"dataset {version.ref}: {version.clip_count} clips, {version.total_s / 60:.1f} min "
              f"({len(run.source_clips)} tagged clips in)")
        for r in run.reports:
            print(f"   {r.summary()}")
        print(f"cold (read + aubio + cache + {len(pipeline.steps)} steps + commit): {cold:6.2f} s = {audio_s / cold:6.0f}x real time "
              f"(goal >= 200x)")
        print(f"baseline (same aubio objects, bare loop):        {base:6.2f} s = {audio_s / base:6.0f}x real time")
        print(f"cold / baseline:                                 {cold / base:6.2f}x (goal <= 1.5x)")
        print(f"warm (descriptors from the cache) {version2.ref}:  {warm:6.2f} s = {audio_s / warm:6.0f}x real time; "
              f"{DESCRIPTOR_STATS['computed']} analyses in all, {DESCRIPTOR_STATS['loaded']} cache loads")
        withdrawn = [r for r in run.removals(0) if "withdr" in r.reason]
        assert not withdrawn, withdrawn[0].reason
        print("step 0: every take's performers looked up (dan withdrew; none of these takes is theirs)")
        figures["speed"] = {"minutes": args.minutes, "cold_s": round(cold, 2), "cold_x_real_time": round(audio_s / cold),
                            "baseline_s": round(base, 2), "baseline_x_real_time": round(audio_s / base),
                            "cold_over_baseline": round(cold / base, 2), "warm_s": round(warm, 2),
                            "steps": [r.name for r in run.reports], "withdrawn_clips_step0": len(withdrawn),
                            "clips": version.clip_count}
        if args.augment_s > 0:
            figures["augment"] = augment_seconds(ws, db, version.ref, args.augment_s)
            a = figures["augment"]
            print(f"augment (SoX pitch + tempo, gain, noise; not in the goal): {a['audio_s']} s of {a['clips']} clips "
                  f"in {a['seconds']} s = {a['x_real_time']}x real time")
        db.conn.close()
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    figures["truth"] = truth_figures([int(x) for x in args.truth_seeds.split(",") if x.strip()], noise=args.truth_noise)
    figures["load_after"] = os.getloadavg()
    if figures["truth"]:
        t = figures["truth"]
        print(f"truth over {len(t)} seeds: precision >= {min(m['precision'] for m in t):.4f}, recall "
              f"{min(m['recall'] for m in t):.3f} lowest, median {float(np.median([m['recall'] for m in t])):.3f}, "
              f"{sum(m['bad_samples'] for m in t)} samples under bad, {sum(m['duplicated_samples'] for m in t)} duplicated")
    if args.json:
        import json

        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
