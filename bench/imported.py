"""Benchmark: imported nn~ modules, from validation to playing in the host.

    .venv/bin/python bench/imported.py [--seconds 20] [--module FILE.ts ...] [--out results.json]

For each module (default: the nn-tilde toy of tests/support/nn_tilde_module.py, plus every
--module given, e.g. a RAVE `rave export --streaming` file):
  validation_s        `validate_nn_module`: every method at every buffer size, batch 1/4/1
  realtime_factors    x real time on one thread by buffer size (the host's own setting)
  play_buffer         the buffer the host calls it with
  host latency        samples beyond the play's own latency (buffer, soxr, render allowance)
  host realtime       audio seconds per second of the module's calls while it played
  glitches / behind   blocks played dry / blocks it could not answer, in --seconds of a
                      voice from a file, paced in real time, no output device
Baseline in the same run: one of our latent generations played the same way (its host
renders each 256-sample block in place). Figures as measured; ratios are to the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def play(path: str, gen_id: int, seconds: float, folder: Path) -> dict:
    from rehearsal.play import PlayConfig, Player
    from rehearsal.training import synthetic

    folder = Path(tempfile.mkdtemp(dir=folder))
    voice = folder / "voice.wav"
    sf.write(voice, synthetic.voice(seconds + 5, seed=3), 48000, subtype="FLOAT")
    player = Player(PlayConfig(input_file=str(voice), output_device="none")).open()
    events, cond = [], threading.Condition()

    def on(ev):
        with cond:
            events.append(ev)
            cond.notify_all()

    player.on_event(on)
    try:
        player.start_take(folder / "in.w64", folder / "out.w64")
        player.load(gen_id, path, f"g{gen_id}")
        with cond:
            cond.wait_for(lambda: any(k == "switched" for k, _ in events), 120)
        loaded = next((p for k, p in events if k == "loaded"), {})
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.1)
        stats = player.stats()
        stopped = player.stop_take()
    finally:
        player.close()
    behind = [p for k, p in events if k == "model-behind"]
    return {"latency_beyond_room": loaded.get("latency_samples", 0), "room_latency": stopped["stats"]["latency_samples"],
            "play_buffer": loaded.get("buffer"), "host_realtime": round(stats["model"].get("realtime_factor", 0), 2),
            "median_share": round(stats["model"].get("median_share", 0), 3), "glitches": stopped["glitches"],
            "behind": behind[-1]["count"] if behind else 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--module", action="append", default=[])
    ap.add_argument("--out")
    args = ap.parse_args()

    from rehearsal.store import Workspace, open_db
    from rehearsal.training.generations import checkpoint_for
    from rehearsal.training.imported import import_model, module_info
    from tests.support.nn_tilde_module import built_module
    from tests.support.playmodels import make_generation

    results = {"seconds": args.seconds, "modules": {}}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(Path(tmp) / "ws")
        db = open_db(ws.db_path)
        ours = make_generation(ws, db, "latent", seed=1)
        base = play(str(ws.resolve(checkpoint_for(db, ours)["path"])), ours["id"], args.seconds, Path(tmp))
        results["baseline_latent"] = base
        print("baseline (our latent generation):", base, flush=True)
        for path in [str(built_module(44100)), *args.module]:
            t0 = time.perf_counter()
            g = import_model(db, ws, path, previews=False)
            info = module_info(g)
            row = {"family": info.family, "sample_rate": info.sample_rate, "validation_s": info.validation_s,
                   "import_s": round(time.perf_counter() - t0, 2), "realtime_factors": info.realtime_factors,
                   "play_buffer": info.play_buffer}
            row.update(play(str(ws.resolve(checkpoint_for(db, g)["path"])), g["id"], args.seconds, Path(tmp)))
            row["host_realtime_vs_baseline"] = round(row["host_realtime"] / max(base["host_realtime"], 1e-9), 3)
            results["modules"][Path(path).name] = row
            print(Path(path).name, json.dumps(row), flush=True)
        db.conn.close()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
