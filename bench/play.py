"""Benchmark: live play through JACK with the machine loaded, and file-input play's clock.

    .venv/bin/python bench/play.py --seconds 600            # the headline: dry blocks per 10 minutes
    .venv/bin/python bench/play.py [--seconds 60] [--switch] [--no-realtime] [--file-clock-seconds 60]

Headline configuration (issue 15): 48 kHz, JACK dummy driver with real-time scheduling
(jackd -R; the play process and its model hosts ask for SCHED_FIFO, and say in words when
refused), blocks of --period (256) samples, the other core kept busy by a spinning process
and a busy Python thread in the app's own process, a pitch-family generation; a JACK
client plays a sung line with a tone burst every second into PortAudio's input and
another records PortAudio's output. --switch loads a latent generation half-way and fades
it in (an A/B comparison). --no-realtime runs the server without -R and the play process
without SCHED_FIFO (REHEARSAL_NO_REALTIME=1): the figure docs/play.md quotes.

Reports:
  dry blocks              blocks the model was not ready for (played dry): per 10 minutes for a
                          run of 10 minutes or more, else per minute; goal 0. Apart from them
                          the JACK server's own xruns (a client-side xrun callback).
  model time              per render block, as a share of the block's duration (p50, p99, max)
  latency                 end to end (JACK input port -> output port, clicks through the dry
                          path, which is delayed exactly as the model's output), and beyond the
                          interface's own (a bare PortAudio pass-through in the same run):
                          goal <= 512 samples at 48 kHz for the pitch and latent families
  analysis look-ahead     the window the model's descriptors read, and the onset delay
                          measured on the tone bursts (input attack -> model output attack)
  file clock              --input-file play into no output (a thread is the clock) for
                          --file-clock-seconds while a second Python process (importing numpy
                          and torch) starts every 5 s: dry blocks, goal 0
Figures go to bench/results/play-<date>-<configuration>.json and are printed against the
latest earlier file of the same configuration there. --baseline-seconds: the same model
called inside the PortAudio callback of one process (the design the play process avoids).

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
from tests.support.play_io import PlayIO as IO  # noqa: E402

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


def busy_thread(stop: threading.Event) -> threading.Thread:
    """A Python thread of the app that never waits (it holds the app's GIL half the time)."""
    def spin():
        while not stop.is_set():
            sum(range(10_000))
    t = threading.Thread(target=spin, name="busy", daemon=True)
    t.start()
    return t


def run_play(seconds: float, period: int, switch_at: float | None, gens: list, ws, interface: int, tmp: Path,
             lookahead: int = 0, busy: bool = True, coperform: dict | None = None, name: str = "",
             grace: float | None = None) -> dict:
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

    player = Player(PlayConfig(blocksize=period, mix=0.0, fade_ms=50, lookahead=lookahead, coperform=coperform,
                               **({} if grace is None else {"grace": grace}))).open()
    player.on_event(on)
    spinner = None
    stop_busy = threading.Event()
    try:
        player.start_take(tmp / f"in{lookahead}{name}.w64", tmp / f"out{lookahead}{name}.w64")
        a, b = gens[0][0], gens[1][0]
        player.load(a["id"], ws.resolve(checkpoint_for(db, a)["path"]), a["name"])
        wait("switched", a["id"])
        spinner = spin_other_core()
        if busy:
            busy_thread(stop_busy)
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
        glitches_before_switch = None
        if switch_at is not None:
            wait_until(lambda: time.monotonic() - t0 > switch_at, seconds + 30)
            glitches_before_switch = player.status().glitches - st0.glitches
            t_switch = time.monotonic()
            player.load(b["id"], ws.resolve(checkpoint_for(db, b)["path"]), b["name"])
        info, out = io.result()
        st1 = player.status()
        stats = player.stats()
        player.stop_take()
    finally:
        stop_busy.set()
        if spinner:
            spinner.kill()
        player.close()
    switched_b = [t for t, e in events if e[0] == "switched" and e[1].get("generation_id") == b["id"]]
    added = {e[1].get("generation_id"): int(e[1].get("latency_samples", 0)) for _, e in events if e[0] == "loaded"}
    if switch_at is None:
        switch_at = seconds + 10
    half = onsets < switch_at * SR
    return {"dry_lags": dry_lags, "glitches": st1.glitches - st0.glitches, "glitches_before_switch": glitches_before_switch,
            "switch_s": (switched_b[0] - t_switch) if switched_b else None, "stats": stats, "xruns": info["xruns"],
            "onsets_a": onset_delays(out, info["first"], info["started"], onsets[half], interface),
            "onsets_b": onset_delays(out, info["first"], info["started"], onsets[~half & (onsets > (switch_at + 2) * SR)],
                                     interface),
            "skipped": st1.skipped, "saved": st1.saved - st0.saved, "latency": player.latency,
            "added_latency": {"pitch": added.get(a["id"]), "latent": added.get(b["id"])},
            "realtime": player.realtime or "SCHED_FIFO"}


def run_file_clock(seconds: float, checkpoint, tmp: Path, every_s: float = 5.0) -> dict:
    """File-input play into no output (a thread is the clock) while a second Python process
    starts every `every_s` seconds: dry blocks, counted from the first model block heard."""
    import soundfile as sf

    from rehearsal.play import PlayConfig, Player
    from rehearsal.training import synthetic

    path = tmp / "clock-voice.wav"
    sf.write(path, 0.3 * synthetic.voice(20.0, seed=5), SR)
    switched = threading.Event()
    player = Player(PlayConfig(input_file=str(path), output_device="none", loop=True)).open()
    player.on_event(lambda ev: ev[0] == "switched" and switched.set())
    starts, children = 0, []
    try:
        player.load(None, checkpoint, "clock")
        switched.wait(60)
        st0 = player.status()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            children.append(subprocess.Popen([sys.executable, "-c", "import numpy, torch"]))
            starts += 1
            time.sleep(every_s)     # a load generator's pace, not a synchronisation
        st1 = player.status()
    finally:
        player.close()
        for c in children:
            try:
                c.wait(120)
            except subprocess.TimeoutExpired:    # a loaded machine: it is load, not a result
                c.kill()
                c.wait()
    return {"seconds": (st1.frames - st0.frames) / SR, "dry_blocks": st1.glitches - st0.glitches,
            "processes_started": starts, "saved": st1.saved - st0.saved, "realtime": player.realtime or "SCHED_FIFO"}


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


def previous(label: str, results: Path) -> tuple[Path, dict] | tuple[None, None]:
    """The latest earlier results file of this configuration."""
    files = sorted(results.glob(f"play-*-{label}.json"))
    return (files[-1], json.loads(files[-1].read_text())) if files else (None, None)


def versus(now, before, unit: str = "") -> str:
    if before is None or now is None:
        return ""
    return f" (before: {before}{unit})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="live play through JACK (0: none)")
    ap.add_argument("--baseline-seconds", type=float, default=0.0)
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--no-realtime", action="store_true")
    ap.add_argument("--switch", action="store_true", help="load a latent generation half-way (A/B)")
    ap.add_argument("--no-busy-thread", action="store_true")
    ap.add_argument("--file-clock-seconds", type=float, default=0.0)
    ap.add_argument("--lookahead", type=int, default=0,
                    help="extra render blocks of latency for the main run (each one a period more for the model)")
    ap.add_argument("--grace", type=float, default=None,
                    help="share of a period the callback may wait for a late block (PlayConfig.grace)")
    ap.add_argument("--lookahead-seconds", type=float, default=0.0,
                    help="also play this long with one extra render block of latency (--lookahead 1)")
    ap.add_argument("--results", type=Path, default=Path(__file__).with_name("results"))
    ap.add_argument("--configs", default="",
                    help=f"also play these, on the same terms ({', '.join(CONFIGS)}; comma-separated)")
    ap.add_argument("--corpus-minutes", type=float, default=10.0, help="the corpus generation's bank: minutes of audio")
    args = ap.parse_args()
    names = [c for c in args.configs.split(",") if c]
    if set(names) - set(CONFIGS):
        ap.error(f"--configs: {', '.join(sorted(set(names) - set(CONFIGS)))} is not one of {', '.join(CONFIGS)}")
    realtime = not args.no_realtime and realtime_allowed()
    if args.no_realtime:
        os.environ["REHEARSAL_NO_REALTIME"] = "1"     # the play process and its hosts, too
    load_before = os.getloadavg()
    server = JackServer(f"rehearsal-bench-play-{os.getpid()}", period=args.period, realtime=realtime).start()
    r = r2 = b = fc = None
    configs, interface = {}, 0
    try:
        from rehearsal.store import Workspace, open_db
        from rehearsal.training.generations import checkpoint_for
        from tests.support.playmodels import make_generation

        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace.at(Path(tmp) / "ws")
            db = open_db(ws.db_path)
            pitch = make_generation(ws, db, "pitch", seed=0, steps=10)
            latent = make_generation(ws, db, "latent", seed=1, steps=10)
            gens = [(pitch, db), (latent, db)]
            t = Path(tmp)
            if args.seconds > 0:
                interface = interface_latency(args.period)
                r = run_play(args.seconds, args.period, args.seconds / 2 if args.switch else None, gens, ws,
                             interface, t, lookahead=args.lookahead, busy=not args.no_busy_thread, grace=args.grace)
                r["interface"] = interface
            else:
                interface = 0
            if args.lookahead_seconds > 0:
                r2 = run_play(args.lookahead_seconds, args.period, args.lookahead_seconds / 2, gens, ws, interface,
                              t, lookahead=1)
            if names:
                interface = interface or interface_latency(args.period)
                configs = run_configs(names, args, ws, db, pitch, interface, t)
            if args.file_clock_seconds > 0:
                fc = run_file_clock(args.file_clock_seconds, ws.resolve(checkpoint_for(db, pitch)["path"]), t)
            if args.baseline_seconds > 0:
                b = run_naive(args.baseline_seconds, args.period, ws.resolve(checkpoint_for(db, pitch)["path"]), t)
    finally:
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
        server.stop()
    report(args, realtime, r, r2, b, fc, load_before, os.getloadavg())
    report_configs(configs, interface, args)


def late_causes(entries: list, model: dict) -> dict:
    """The engine's record of each late block (`late_blocks`: the callback completing its
    input late by, to the host starting on it, its render, finished past the wait by, the
    callback needing it late by; ms) sorted by what took the time beyond the usual: the
    callback that woke the host ran late (the server or the machine held it up), the host
    started late after the wake-up (not scheduled: the other core's load, a kernel path that
    cannot be preempted), the render took long, or the block was never rendered."""
    causes = {"callback late": 0, "host started late": 0, "slow render": 0, "never rendered": 0}
    cols: dict = {"callback_late": [], "host_start": [], "render": [], "past_wait": []}
    usual = model.get("median_ms", 0.0)
    for cb_late, start, render, past, _needed in entries:
        cols["callback_late"].append(cb_late)
        if start is None:
            causes["never rendered"] += 1
            continue
        cols["host_start"].append(start)
        cols["render"].append(render)
        cols["past_wait"].append(past)
        extra = {"callback late": cb_late, "host started late": start, "slow render": render - usual}
        causes[max(extra, key=extra.get)] += 1
    period = model.get("budget_ms", 0.0)
    past = cols["past_wait"]
    spread = {"under 1 ms": sum(p < 1.0 for p in past), "1 ms to a period": sum(1.0 <= p < period for p in past),
              "1 to 2 periods": sum(period <= p < 2 * period for p in past), "more": sum(p >= 2 * period for p in past)}
    return {"explained": len(entries), "causes": causes, "late_past_the_wait": spread,
            "median_ms": {k: round(statistics.median(v), 2) if v else None for k, v in cols.items()},
            "max_ms": {k: round(max(v), 2) if v else None for k, v in cols.items()}}


def report(args, realtime: bool, r, r2, b, fc, load_before, load_after) -> None:
    from rehearsal.training.families.defaults import LATENT_DEFAULTS, PITCH_DEFAULTS

    label = "-".join(["rt" if realtime else "nort", f"p{args.period}", f"{args.seconds:.0f}s"]
                     + ([f"la{args.lookahead}"] if args.lookahead else [])
                     + ([f"grace{args.grace:g}"] if args.grace is not None else [])
                     + (["switch"] if args.switch else []) + ([] if args.no_busy_thread else ["busy"])
                     + ([f"file{args.file_clock_seconds:.0f}s"] if args.file_clock_seconds else []))
    prev_path, prev = previous(label, args.results)
    prev = prev or {}
    figures: dict = {"configuration": label, "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                     "load_average_before": [round(x, 2) for x in load_before],
                     "load_average_after": [round(x, 2) for x in load_after], "cpus": os.cpu_count()}
    print(f"play bench ({label}); load average {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
          f"{os.cpu_count()} CPUs" + (f"; against {prev_path.name}" if prev_path else "; no earlier figures"))
    if r:
        m = r["stats"]["model"]
        per, unit = (600.0, "10 minutes") if args.seconds >= 600 else (60.0, "minute")
        lat = [x - r["interface"] for x in r["dry_lags"]]
        e2e = statistics.median(r["dry_lags"]) if r["dry_lags"] else None
        model_lat = statistics.median(lat) if lat else None
        dry = round(r["glitches"] * per / args.seconds, 2)
        key = f"dry_blocks_per_{unit.replace(' ', '_')}"
        figures.update({
            "seconds": args.seconds, "lookahead": args.lookahead, "grace": args.grace, "dry_blocks": r["glitches"], key: dry,
            "jack_xruns": r["xruns"], "caught_by_grace": r["saved"], "skipped": r["skipped"],
            "model_share_p50": round(m.get("median_share", 0), 4), "model_share_p99": round(m.get("p99_share", 0), 4),
            "model_share_max": round(m.get("max_ms", 0) / m["budget_ms"], 4) if m.get("budget_ms") else None,
            "model_blocks": m.get("blocks"), "end_to_end_latency_samples": e2e, "interface_latency_samples": r["interface"],
            "model_latency_samples": model_lat, "room_latency_samples": r["latency"],
            "added_latency_samples": r["added_latency"], "play_realtime": r["realtime"]})
        print(f"  live play              {args.seconds:.0f} s at 48 kHz, JACK period {args.period} "
              f"({'jackd -R' if realtime else 'jackd without -R'}; play process: {r['realtime']}), other core "
              f"spinning{'' if args.no_busy_thread else ', a busy Python thread in the app'}; pitch generation"
              + (f", A/B switch to a latent one at {args.seconds / 2:.0f} s" if args.switch else ""))
        print(f"  dry blocks             {r['glitches']} = {dry} per {unit} (goal 0)"
              f"{versus(dry, prev.get(key))}; "
              f"{r['saved']} late blocks caught by the grace wait, {r['skipped']} skipped")
        print(f"  JACK server xruns      {r['xruns']} (counted apart){versus(r['xruns'], prev.get('jack_xruns'))}")
        if m.get("blocks"):
            print(f"  model time per block   p50 {100 * m['median_share']:.1f}%  p99 {100 * m['p99_share']:.1f}%  "
                  f"max {100 * figures['model_share_max']:.1f}% of a {m['budget_ms']:.2f} ms block ({m['blocks']} "
                  f"blocks){versus(figures['model_share_p99'], prev.get('model_share_p99'), ' p99')}")
        figures.update({k: round(m[k], 3) for k in ("wait_median_ms", "wait_p99_ms", "wait_max_ms", "gc_ms", "gc_max_ms")
                        if k in m})
        figures["gc_runs"] = m.get("gc_runs")
        if m.get("wait_median_ms") is not None:
            print(f"  host wake-up           p50 {m['wait_median_ms']:.2f}  p99 {m['wait_p99_ms']:.2f}  max "
                  f"{m['wait_max_ms']:.1f} ms from the callback completing a block to its host starting on it; "
                  f"garbage collections in the hosts: {m['gc_runs']} ({m['gc_ms']:.1f} ms in all, the longest "
                  f"{m['gc_max_ms']:.2f} ms)")
        late = late_causes(r["stats"].get("late_blocks", []), m)
        figures["late_blocks"] = late
        if late["explained"]:
            print(f"  why blocks were late   of {late['explained']}: " + ", ".join(
                f"{k} {v}" for k, v in late["causes"].items() if v) + f" (medians, ms: callback completing the "
                f"input late by {late['median_ms']['callback_late']}, host start {late['median_ms']['host_start']}, "
                f"render {late['median_ms']['render']}, past the wait by {late['median_ms']['past_wait']}); finished "
                "past the wait by " + ", ".join(f"{k}: {v}" for k, v in late["late_past_the_wait"].items()))
        print(f"  latency                end to end {e2e} samples (input port -> output port, clicks through the "
              f"dry path){versus(e2e, prev.get('end_to_end_latency_samples'))}; interface alone {r['interface']}; "
              f"model {model_lat} beyond it (the room's {r['latency']} + the model's own: pitch "
              f"{r['added_latency']['pitch']}, latent {r['added_latency']['latent'] if args.switch else 'not loaded'}; "
              "goal <= 512)")
        print(f"  analysis look-ahead    pitch: yin window {PITCH_DEFAULTS['yin_window']} samples ending at the block "
              f"(centre {PITCH_DEFAULTS['yin_window'] // 2} samples back); latent: fft {LATENT_DEFAULTS['fft']}")
        if r["onsets_a"]:
            print(f"  onset delay (pitch)    median {statistics.median(r['onsets_a']):.0f} samples beyond the interface "
                  f"({len(r['onsets_a'])} bursts; the analysis' rise included)")
        if r["switch_s"] is not None:
            figures["switch_s"] = round(r["switch_s"], 3)
            print(f"  A/B switch             {r['switch_s']:.2f} s from the request to the new generation fully in")
    if r2:
        figures["lookahead"] = {"dry_blocks": r2["glitches"], "latency": r2["latency"], "jack_xruns": r2["xruns"]}
        print(f"  with --lookahead 1     {r2['glitches']} dry blocks in {args.lookahead_seconds:.0f} s at a model latency "
              f"of {r2['latency']} samples (JACK xruns {r2['xruns']})")
    if fc:
        figures["file_clock"] = fc
        before = (prev.get("file_clock") or {}).get("dry_blocks")
        print(f"  file clock             {fc['dry_blocks']} dry blocks in {fc['seconds']:.0f} s of --input-file play "
              f"into no output while {fc['processes_started']} Python processes started (one every 5 s; goal 0)"
              f"{versus(fc['dry_blocks'], before)}; {fc['saved']} caught by the grace wait; play process: "
              f"{fc['realtime']}")
    if b:
        figures["baseline"] = b
        print(f"baseline, model called in the PortAudio callback ({args.baseline_seconds:.0f} s): "
              f"{b['late']} late callbacks of {b['calls']}, {b['flags']} over/underflows, {b['xruns']} xruns")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"play-{time.strftime('%Y-%m-%d-%H%M', time.gmtime())}-{label}.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"  -> {out}")


if __name__ == "__main__":
    main()
