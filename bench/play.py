"""Benchmark: play a generation live through JACK for a minute with the other core busy.

    .venv/bin/python bench/play.py [--seconds 60] [--period 256] [--baseline-seconds 20]

Conditions (issue 6): 48 kHz, JACK dummy driver (real-time where allowed), blocks of
--period samples, the other core kept busy by a spinning process; a JACK client plays a
sung line with a tone burst every second into PortAudio's input and another records
PortAudio's output; half-way through, a second generation (another family) is loaded
and faded in, as in an A/B comparison.

Reports:
  glitches                blocks the model was not ready for (played dry), goal 0; JACK xruns
  model time              per render block, as a share of the block's duration (median, p99)
  model latency           input-to-output latency beyond the interface's own, measured with
                          clicks through the dry path (which is delayed exactly as the model's
                          output), goal <= 256 samples; the interface's own latency is measured
                          in the same run with a bare PortAudio pass-through
  analysis look-ahead     reported separately: the window the model's descriptors read
                          (pitch: yin 2048 samples), and the onset delay measured on the
                          tone bursts (input attack -> model output attack)
Baseline in the same run: the same model called inside the PortAudio callback of one process
(the design the play process avoids), with the same load: late callbacks and xruns.

--configs adds plays on the same terms (the same signal, load, A/B switch half-way; glitches,
model time p50/p99/max as a share of the block, latency), figures to bench/results/:
  corpus          a corpus generation (a unit bank of --corpus-minutes of plucks, issue 16)
                  transforming the input, A/B switch to the pitch generation
  accompany       the corpus generation co-performing, accompaniment at follow 0.5 (both
                  its parts render every block), A/B switch to an autoregressive one
  call-response   the same, call and response (a 0.1 s pause invites a 0.5 s answer: the
                  silence before each burst)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.jackserver import JackServer, realtime_allowed  # noqa: E402

SR = 48000


def spin_other_core() -> subprocess.Popen:
    from tests.support.jackserver import _die_with_parent

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=_die_with_parent)


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.01)


def clicks(n: int, every: int = 12000, first: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(n, np.float32)
    at = np.arange(first, n - every // 2, every)
    x[at] = 0.8
    return x, at


def first_lag(out: np.ndarray, start_abs: int, first_abs: int, at: np.ndarray) -> list[int]:
    """For each click position (relative to first_abs), the lag of the nearest spike after it."""
    lags = []
    spikes = np.flatnonzero(np.abs(out) > 0.4) + start_abs
    for a in at + first_abs:
        later = spikes[spikes >= a]
        if len(later):
            lags.append(int(later[0] - a))
    return lags


def interface_latency(period: int) -> int:
    from tests.support.jackplayer import JackPlayer
    from tests.support.jackrecorder import JackRecorder

    proc = subprocess.Popen([sys.executable, "-m", "tests.support.passthrough", str(period)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parents[1]))
    try:
        assert proc.stdout.readline().strip() == "ready"
        tester, listener = JackPlayer("bench-cal-in", channels=1), JackRecorder("bench-cal-out", seconds=5)
        try:
            tester.connect_to("PortAudio")
            listener.connect_from("PortAudio")
            listener.start()
            sig, at = clicks(SR)
            tester.play(sig)
            tester.done.wait(20)
            wait_until(lambda: listener.frames_recorded_until() > tester.started_cycle_frame + 2 * SR, 20)
            lags = first_lag(listener.buffer[:listener.pos, 0], listener.first_frame, tester.started_cycle_frame, at)
            return statistics.median(lags)
        finally:
            tester.close()
            listener.close()
    finally:
        proc.stdin.close()
        proc.wait(10)


def bursts(seconds: float, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A sung line, quiet, with a loud 220 Hz burst at the start of every second."""
    from rehearsal.training import synthetic

    n = int(seconds * SR)
    x = 0.3 * synthetic.voice(min(seconds, 30.0), seed=seed)
    x = np.resize(x, n).astype(np.float32)
    onsets = np.arange(SR // 4, n - SR // 2, SR)
    t = np.arange(int(0.3 * SR)) / SR
    tone = (0.6 * np.sin(2 * np.pi * 220 * t) * np.minimum(1, t / 0.002)).astype(np.float32)
    for o in onsets:
        x[o - SR // 8:o + len(tone)] *= 0.0     # silence before each burst so its attack is clear
        x[o:o + len(tone)] = tone
    return x, onsets


def onset_delays(out: np.ndarray, start_abs: int, first_abs: int, onsets: np.ndarray, interface: int) -> list[int]:
    """Input attack -> model output attack (first sample over 20% of the burst's output peak)."""
    delays = []
    for o in onsets:
        a = first_abs + o + interface - start_abs
        win = np.abs(out[a - 256:a + 6000]) if a - 256 >= 0 and a + 6000 <= len(out) else None
        if win is None or win.max() < 1e-4:
            continue
        env = np.convolve(win, np.ones(64) / 64, mode="same")
        delays.append(int(np.flatnonzero(env > 0.2 * env.max())[0]) - 256)
    return delays


class IO:
    """bench/play_io.py in its own process: plays `signal` in, records what comes out."""

    def __init__(self, signal: np.ndarray, tmp: Path, name: str):
        self.sig, self.out = tmp / f"{name}-in.npy", tmp / f"{name}-out.npy"
        np.save(self.sig, signal.astype(np.float32))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("play_io.py")), str(self.sig),
                                      str(self.out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> tuple[dict, np.ndarray]:
        info = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return info, np.load(self.out)


def run_play(seconds: float, period: int, switch_at: float, gens: list, ws, interface: int, tmp: Path,
             lookahead: int = 0, coperform: dict | None = None, name: str = "") -> dict:
    from rehearsal.play import PlayConfig, Player
    from rehearsal.training.generations import checkpoint_for

    db = gens[0][1]
    events, cond = [], threading.Condition()

    def on(ev):
        with cond:
            events.append((time.monotonic(), ev))
            cond.notify_all()

    def wait(kind, gen_id, timeout=60):
        with cond:
            ok = cond.wait_for(lambda: any(e[0] == kind and e[1].get("generation_id") == gen_id for _, e in events),
                               timeout)
            if not ok:
                raise TimeoutError(f"{kind} {gen_id}: {[e for _, e in events]}")

    player = Player(PlayConfig(blocksize=period, mix=0.0, fade_ms=50, lookahead=lookahead,
                               coperform=coperform)).open()
    player.on_event(on)
    spinner = None
    try:
        player.start_take(tmp / f"in{lookahead}{name}.w64", tmp / f"out{lookahead}{name}.w64")
        a, b = gens[0][0], gens[1][0]
        player.load(a["id"], ws.resolve(checkpoint_for(db, a)["path"]), a["name"])
        wait("switched", a["id"])
        spinner = spin_other_core()
        # 1. the dry path, delayed exactly as the model's output: clicks give the latency
        sig, at = clicks(2 * SR)
        io = IO(sig, tmp, f"clicks{lookahead}{name}")
        io.go()
        info, out = io.result()
        dry_lags = first_lag(out, info["first"], info["started"], at)
        # 2. the model, for `seconds`, with an A/B switch half-way
        player.set_mix(1.0)
        x, onsets = bursts(seconds)
        io = IO(x, tmp, f"bursts{lookahead}{name}")
        st0 = player.status()
        io.go()
        t0 = time.monotonic()
        wait_until(lambda: time.monotonic() - t0 > switch_at, seconds + 30)
        glitches_before_switch = player.status().glitches - st0.glitches
        t_switch = time.monotonic()
        player.load(b["id"], ws.resolve(checkpoint_for(db, b)["path"]), b["name"])
        info, out = io.result()
        st1 = player.status()
        stats = player.stats()
        player.stop_take()
    finally:
        if spinner:
            spinner.kill()
        player.close()
    switched_b = [t for t, e in events if e[0] == "switched" and e[1].get("generation_id") == b["id"]]
    half = onsets < switch_at * SR
    return {"dry_lags": dry_lags, "glitches": st1.glitches - st0.glitches, "glitches_before_switch": glitches_before_switch,
            "switch_s": (switched_b[0] - t_switch) if switched_b else None, "stats": stats, "xruns": info["xruns"],
            "onsets_a": onset_delays(out, info["first"], info["started"], onsets[half], interface),
            "onsets_b": onset_delays(out, info["first"], info["started"], onsets[~half & (onsets > (switch_at + 2) * SR)],
                                     interface),
            "skipped": st1.skipped, "saved": st1.saved - st0.saved, "latency": player.latency}


def run_naive(seconds: float, period: int, checkpoint, tmp: Path) -> dict:
    """The model inside the PortAudio callback (one process): what the play process avoids."""
    import sounddevice as sd
    import torch

    from rehearsal.play.slots import Slot

    torch.set_num_threads(1)
    slot = Slot.load(checkpoint, None, "naive")
    budget = period / SR
    late, calls, flags = [0], [0], [0]
    buf = np.zeros(slot.hop, np.float32)
    fill = [0]

    def callback(indata, outdata, frames, t, status):
        t0 = time.perf_counter()
        calls[0] += 1
        if status.input_overflow or status.output_underflow:
            flags[0] += 1
        buf[fill[0]:fill[0] + frames] = indata[:, 0]
        fill[0] += frames
        if fill[0] >= slot.hop:
            y = slot.run(buf)
            fill[0] = 0
            outdata[:, 0] = y[-frames:]
        else:
            outdata.fill(0)
        if time.perf_counter() - t0 > budget:
            late[0] += 1

    spinner = spin_other_core()
    try:
        with sd.Stream(channels=(1, 1), samplerate=SR, blocksize=period, dtype="float32", latency="low",
                       callback=callback):
            io = IO(bursts(seconds)[0], tmp, "naive")
            c0, l0, f0 = calls[0], late[0], flags[0]
            io.go()
            info, _ = io.result()
    finally:
        spinner.kill()
    return {"calls": calls[0] - c0, "late": late[0] - l0, "flags": flags[0] - f0, "xruns": info["xruns"]}


CONFIGS = ("corpus", "accompany", "call-response")


def corpus_generation(ws, db, minutes: float) -> tuple[dict, int]:
    """A corpus generation from `minutes` of plucks (stored as a run leaves one), its units."""
    import torch

    from rehearsal.training import synthetic
    from rehearsal.training.corpus import analyse_corpus, model_of
    from tests.support.playmodels import store_generation

    torch.set_num_threads(1)
    bank = analyse_corpus([synthetic.plucked(10.0, seed=i) for i in range(max(1, int(minutes * 6)))])
    return store_generation(ws, db, model_of(bank, {"pitch_match": True}), "corpus", label="bench corpus"), bank.size


def run_configs(names: list[str], args, ws, db, pitch: dict, interface: int, tmp: Path) -> dict:
    """The --configs plays, on the terms of the main one: {name: run_play's figures}."""
    from tests.support.playmodels import make_generation

    if not names:
        return {}
    corpus, units = corpus_generation(ws, db, args.corpus_minutes)
    generator = make_generation(ws, db, "autoregressive", seed=2, steps=10) if set(names) - {"corpus"} else None
    plays = {"corpus": ([corpus, pitch], None),
             "accompany": ([corpus, generator], {"mode": "accompany", "follow": 0.5}),
             "call-response": ([corpus, generator], {"mode": "call-response", "pause_s": 0.1, "answer_s": 0.5})}
    out = {}
    for name in names:
        gens, co = plays[name]
        r = run_play(args.seconds, args.period, args.seconds / 2, [(g, db) for g in gens], ws, interface, tmp,
                     coperform=co, name=name)
        r["units"], r["switch_to"] = units, gens[1]["family"]
        out[name] = r
    return out


def config_figures(name: str, r: dict, interface: int) -> dict:
    m, lat = r["stats"]["model"], [x - interface for x in r["dry_lags"]]
    budget = m.get("budget_ms", 0.0)
    return {"glitches": r["glitches"], "glitches_before_switch": r["glitches_before_switch"], "xruns": r["xruns"],
            "skipped": r["skipped"], "saved": r["saved"], "units": r["units"], "switch_to": r["switch_to"],
            "model_share_p50": round(m.get("median_share", 0.0), 4), "model_share_p99": round(m.get("p99_share", 0.0), 4),
            "model_share_max": round(m.get("max_ms", 0.0) / budget, 4) if budget else None, "blocks": m.get("blocks", 0),
            "latency_samples": statistics.median(lat) if lat else None,
            "switch_s": round(r["switch_s"], 3) if r["switch_s"] is not None else None}


def report_configs(configs: dict, interface: int, args) -> None:
    if not configs:
        return
    figures = {name: config_figures(name, r, interface) for name, r in configs.items()}
    for name, f in figures.items():
        print(f"  {name:14}         glitches {f['glitches']} ({f['glitches_before_switch']} before the switch to "
              f"{f['switch_to']}), xruns {f['xruns']}; model time p50 {100 * f['model_share_p50']:.1f}% "
              f"p99 {100 * f['model_share_p99']:.1f}% max {100 * (f['model_share_max'] or 0):.0f}% of the block; "
              f"latency {f['latency_samples']} samples beyond the interface ({f['units']} units)")
    out = Path(__file__).with_name("results") / f"play-configs-{time.strftime('%Y-%m-%d', time.gmtime())}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds": args.seconds, "period": args.period, "corpus_minutes": args.corpus_minutes,
                               "load": os.getloadavg(), "cores": os.cpu_count(), "interface_latency": interface,
                               "configs": figures}, indent=2) + "\n")
    print(f"  (figures in {out.relative_to(Path(__file__).parents[1])})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--no-realtime", action="store_true")
    ap.add_argument("--lookahead-seconds", type=float, default=0.0,
                    help="also play this long with one extra render block of latency (--lookahead 1)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"also play these, on the same terms ({', '.join(CONFIGS)}; '' for none)")
    ap.add_argument("--corpus-minutes", type=float, default=10.0, help="the corpus generation's bank: minutes of audio")
    args = ap.parse_args()
    names = [c for c in args.configs.split(",") if c]
    if set(names) - set(CONFIGS):
        ap.error(f"--configs: {', '.join(sorted(set(names) - set(CONFIGS)))} is not one of {', '.join(CONFIGS)}")
    realtime = not args.no_realtime and realtime_allowed()
    server = JackServer(f"rehearsal-bench-play-{os.getpid()}", period=args.period, realtime=realtime).start()
    try:
        from rehearsal.store import Workspace, open_db
        from rehearsal.training.generations import checkpoint_for
        from tests.support.playmodels import make_generation

        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace.at(Path(tmp) / "ws")
            db = open_db(ws.db_path)
            pitch = make_generation(ws, db, "pitch", seed=0, steps=10)
            latent = make_generation(ws, db, "latent", seed=1, steps=10)
            interface = interface_latency(args.period)
            t = Path(tmp)
            r = run_play(args.seconds, args.period, args.seconds / 2, [(pitch, db), (latent, db)], ws, interface, t)
            r2 = (run_play(args.lookahead_seconds, args.period, args.lookahead_seconds / 2, [(pitch, db), (latent, db)],
                           ws, interface, t, lookahead=1) if args.lookahead_seconds > 0 else None)
            configs = run_configs(names, args, ws, db, pitch, interface, t)
            b = (run_naive(args.baseline_seconds, args.period, ws.resolve(checkpoint_for(db, pitch)["path"]), t)
                 if args.baseline_seconds > 0 else None)
    finally:
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
        server.stop()
    m = r["stats"]["model"]
    from rehearsal.training.families.defaults import LATENT_DEFAULTS, PITCH_DEFAULTS

    lat = [x - interface for x in r["dry_lags"]]
    print(f"play bench: {args.seconds:.0f} s at 48 kHz, JACK period {args.period} "
          f"({'realtime' if realtime else 'no-realtime'}), other core busy; pitch generation, "
          f"A/B switch to a latent one at {args.seconds / 2:.0f} s")
    print(f"  glitches               {r['glitches']}   (goal 0; {r['glitches_before_switch']} before the switch, "
          f"{r['skipped']} blocks skipped; {r['saved']} late blocks caught by the callback's grace wait); "
          f"JACK xruns {r['xruns']}")
    print(f"  model time per block   median {100 * m['median_share']:.1f}%  p99 {100 * m['p99_share']:.1f}%  "
          f"max {m['max_ms']:.2f} ms of a {m['budget_ms']:.2f} ms block ({m['blocks']} blocks)")
    print(f"  interface latency      {interface} samples (bare PortAudio pass-through, measured)")
    print(f"  model latency          {statistics.median(lat) if lat else '?'} samples beyond the interface "
          f"(clicks through the dry path, min {min(lat) if lat else '?'} max {max(lat) if lat else '?'}; goal <= 256)")
    print(f"  analysis look-ahead    pitch: yin window {PITCH_DEFAULTS['yin_window']} samples ending at the block "
          f"(centre {PITCH_DEFAULTS['yin_window'] // 2} samples back); latent: fft {LATENT_DEFAULTS['fft']}")
    for fam, d in (("pitch", r["onsets_a"]),):   # a noise-texture model has no attack to time
        if d:
            print(f"  onset delay ({fam:6})   median {statistics.median(d):.0f} samples beyond the interface "
                  f"(tone attack in -> model attack out, {len(d)} bursts; the analysis' rise included)")
    if r["switch_s"] is not None:
        print(f"  A/B switch             {r['switch_s']:.2f} s from the request to the new generation fully in "
              "(load, warm-up, 50 ms fade)")
    if r2:
        print(f"  with --lookahead 1     {r2['glitches']} glitches in {args.lookahead_seconds:.0f} s at a model latency of "
              f"{r2['latency']} samples ({r2['saved']} caught by the grace wait; JACK xruns {r2['xruns']})")
    report_configs(configs, interface, args)
    if b:
        print(f"baseline, model called in the PortAudio callback ({args.baseline_seconds:.0f} s): "
              f"{b['late']} late callbacks of {b['calls']}, {b['flags']} over/underflows, {b['xruns']} xruns "
              f"-> play process: {r['glitches']} glitches, {r['xruns']} xruns")


if __name__ == "__main__":
    main()
