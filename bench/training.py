"""Benchmark: training throughput, time to a playable model, quality at equal budget,
rendering speed and latency (issue 5).

    .venv/bin/python bench/training.py                      # the short parts (about 3 minutes)
    .venv/bin/python bench/training.py --quality 1,3,10     # + val loss after 1, 3, 10 min per family
    .venv/bin/python bench/training.py --convergent         # + 3-minute fine-tune of a parent on 5 min
    .venv/bin/python bench/training.py --parts render       # one part only
    .venv/bin/python bench/training.py --against bench/results/training-2026-11-24.json
                                                            # + each figure as a ratio to that run's

Material is synthesised (rehearsal.training.synthetic) so every run trains on the same
audio: 5 minutes of a plucked instrument for the pitch family, 5 minutes of noise textures
and hits for the latent family, 10-second clips, the validation split that training uses.

Each figure comes with its baseline measured in the same run:
  throughput      seconds of audio trained on per wall second (real time = 1)
  playable        a model's validation loss against the untrained model's and against
                  loudness-matched filtered noise (what knowing only loudness and colour gives)
  quality         validation multi-scale spectral loss after N minutes, same held-out clips,
                  as a ratio to the noise baseline (compare ratios across versions)
  render          seconds of audio per wall second on one core (goal >= 50), whole-clip and
                  streamed through the nn~ export in 8192-sample buffers
  latency         the block size: output block k needs input up to the end of block k
  corpus          analysis time of 10 minutes (goal <= 5 s); 20 held-out seconds resynthesised,
                  its distance against random units from the same bank and against noise
  autoregressive  next-frame MSE against "repeat the last frame"; a generated minute's sum of
                  1-D Wasserstein distances (dataset z-scores: loudness, centroid, flatness)
                  against the noise baseline's; variety per temperature; generation speed
Training runs in the worker process, as `rehearsal train` runs it (evaluations and previews
included in the time). Keep other work off the machine for stable figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal import training as T  # noqa: E402
from rehearsal.store import Workspace, open_db  # noqa: E402
from rehearsal.training import synthetic  # noqa: E402

SR = 48000
MATERIAL = {"pitch": synthetic.plucked, "latent": synthetic.noise_texture, "autoregressive": synthetic.noise_texture}


def make_dataset(folder: Path, family: str, minutes: float, seed0: int = 0) -> Path:
    n = max(1, int(minutes * 6))
    make = MATERIAL[family]
    return synthetic.write_dataset(folder, [(f"{family}{i}", make(10.0, seed=seed0 + i), [family])
                                            for i in range(n)])


def run_generation(ws, db, dataset: Path, strategy: str, *, family: str, threads: int, budget_s=None,
                   max_steps=None, parent=None, params=None, seed=1) -> tuple[dict, float]:
    ds = T.resolve_dataset(ws, db, str(dataset))
    request = T.make_request(db, ds, strategy, family=family, parent_ref=parent, scratch=parent is None,
                             budget_s=budget_s, max_steps=max_steps, seed=seed, params=params or {})
    (gid,) = T.plan_generations(ws, db, request)
    t0 = time.perf_counter()
    run = T.start_run(ws, gid, threads=threads)
    for _ in run.events():
        pass
    run.wait()
    wall = time.perf_counter() - t0
    g = T.get_generation(db, gid)
    if g["status"] != "complete":
        raise RuntimeError(f"{g['name']} {g['status']}: {g['error']}")
    return g, wall


def untrained_loss(family: str, dataset: Path) -> float:
    """Validation loss of a freshly initialised (normalisation fitted) model, same split."""
    import torch

    from rehearsal.training.data import prepare
    from rehearsal.training.dataset import open_folder
    from rehearsal.training.descriptors import DescriptorCache
    from rehearsal.training.evaluation import validation_loss
    from rehearsal.training.family import get_family

    torch.manual_seed(0)
    model = get_family(family).build()
    info = open_folder(dataset)
    data = prepare(info, list(info.clips), hop=model.hop, conditioning=tuple(model.conditioning), val_fraction=0.15,
                   probe_count=0, probe_seconds=0, cache=DescriptorCache(None))
    audio = np.concatenate([c.audio for c in data.train])[: 120 * SR]
    n = len(audio) // model.hop * model.hop
    x = torch.zeros(1, model.context + n)
    x[0, model.context:] = torch.as_tensor(audio[:n])
    model.fit_normalisation(x)
    return validation_loss(model, data.val)


# -- parts ----------------------------------------------------------------------------------

def part_throughput(args, tmp: Path) -> dict:
    import torch

    from rehearsal.training.data import ClipAudio, WindowSampler
    from rehearsal.training.descriptors import pitch_track
    from rehearsal.training.family import get_family
    from rehearsal.training.loop import batch_loss
    from rehearsal.training.spec import RunSpec

    out = {}
    spec = RunSpec(family="x", strategy="x", label="x", seed=1, max_steps=1)   # default batch and window
    for family in ("pitch", "latent"):
        clips = [ClipAudio(f"c{i}", MATERIAL[family](10.0, seed=i)) for i in range(3)]
        for c in clips:
            c.f0, c.confidence = pitch_track(c.audio, SR, 256, 2048)
        for threads in (1, args.threads):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            model = get_family(family).build()
            opt = torch.optim.Adam(model.parameters(), 1e-3)
            sampler = WindowSampler(clips, spec.frames, model.hop, model.context, tuple(model.conditioning))
            steps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.throughput_seconds:
                loss = batch_loss(model, sampler.batch(1, steps, spec.batch_size))
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
            wall = time.perf_counter() - t0
            audio_s = steps * spec.batch_size * spec.frames * model.hop / SR
            out[f"{family}_{threads}thread"] = {"steps": steps, "audio_s_per_wall_s": round(audio_s / wall, 2),
                                                "step_s": round(wall / steps, 3)}
            print(f"throughput {family:6} {threads} thread(s): {audio_s / wall:6.1f} s of audio per s "
                  f"({wall / steps:.3f} s/step, batch {spec.batch_size} x {spec.frames * model.hop / SR:.2f} s)",
                  flush=True)
    return out


def part_render(args, tmp: Path) -> dict:
    import torch

    from rehearsal.training.export import script
    from rehearsal.training.family import get_family
    from rehearsal.training.render import render_array

    torch.set_num_threads(1)
    seconds = 20.0
    voice = synthetic.voice(seconds, seed=1)
    out = {}
    for family in ("pitch", "latent"):
        model = get_family(family).build().eval()
        render_array(model, voice[:SR])
        t0 = time.perf_counter()
        render_array(model, voice)
        whole = seconds / (time.perf_counter() - t0)
        stream = script(model.stream_module().eval())
        x = torch.as_tensor(voice[: len(voice) // 8192 * 8192]).view(1, 1, -1)
        with torch.inference_mode():
            stream(x[..., :8192])
            t0 = time.perf_counter()
            for i in range(8192, x.shape[-1], 8192):
                stream(x[..., i:i + 8192])
            streamed = (x.shape[-1] - 8192) / SR / (time.perf_counter() - t0)
        latency = latency_samples(model)
        out[family] = {"render_x_realtime": round(whole, 1), "nn_tilde_forward_x_realtime": round(streamed, 1),
                       "algorithmic_latency_samples": model.hop, "measured_latency_samples": latency}
        print(f"render {family:6} 1 thread: whole clip {whole:6.1f}x real time (analysis included), "
              f"nn~ forward in 8192 buffers {streamed:6.1f}x; latency {model.hop} samples "
              f"({model.hop / SR * 1000:.1f} ms), measured {latency}", flush=True)
    return out


def latency_samples(model) -> int:
    """Feed silence then a burst at a block boundary through the streamed forward in blocks of
    one hop: the first output block that changes is the one produced when the burst's first
    block has arrived, i.e. one block after the burst began."""
    import torch

    hop = model.hop
    onset_block = 40
    x = torch.zeros(1, 1, hop * 80)
    x[..., onset_block * hop:] = torch.as_tensor(synthetic.voice(40 * hop / SR, seed=2)[: 40 * hop]) * 3
    ref = torch.zeros_like(x)
    outs = []
    for signal in (ref, x):
        s = model.stream_module().eval()
        with torch.inference_mode():
            outs.append(torch.cat([s(signal[..., i:i + hop]) for i in range(0, signal.shape[-1], hop)], -1))
    changed = (outs[0] - outs[1]).abs()[0, 0] > 1e-6
    first = int(torch.nonzero(changed)[0]) if changed.any() else -1
    # output sample `first` is emitted when the block holding it is complete
    emitted_at = (first // hop + 1) * hop
    return emitted_at - onset_block * hop


def part_oneshot(args, tmp: Path) -> dict:
    ws = Workspace.at(tmp / "oneshot")
    db = open_db(ws.db_path)
    dataset = make_dataset(tmp / "oneshot-data", "pitch", 1.0)
    g, wall = run_generation(ws, db, dataset, "one-shot", family="pitch", threads=args.run_threads)
    m = g["metrics"]
    # judge the waste on the same held-out split a convergent run would use
    from rehearsal.training.evaluation import validation_loss, baseline_loss
    from rehearsal.training.data import prepare
    from rehearsal.training.dataset import open_folder
    from rehearsal.training.descriptors import DescriptorCache
    from rehearsal.training.render import load_generation_model

    model, _, _ = load_generation_model(ws, db, g["id"])
    info = open_folder(dataset)
    data = prepare(info, list(info.clips), hop=model.hop, conditioning=tuple(model.conditioning), val_fraction=0.15,
                   probe_count=0, probe_seconds=0, cache=DescriptorCache(None))
    val = validation_loss(model, data.val)
    untrained = untrained_loss("pitch", dataset)
    base = baseline_loss(data.train, data.val)
    print(f"one-shot (pitch, default budget: {m['steps']} steps): playable in {wall:.1f} s wall "
          f"(goal 60 s) - val loss {val:.3f}, untrained {untrained:.3f}, noise baseline {base:.3f}", flush=True)
    return {"wall_s": round(wall, 1), "steps": m["steps"], "val_loss": val, "untrained": untrained, "baseline": base}


def part_quality(args, tmp: Path) -> dict:
    out = {}
    for family in ("pitch", "latent"):
        dataset = make_dataset(tmp / f"quality-{family}", family, 5.0)
        untrained = untrained_loss(family, dataset)
        for minutes in args.quality:
            ws = Workspace.at(tmp / f"quality-{family}-{minutes}")
            db = open_db(ws.db_path)
            g, wall = run_generation(ws, db, dataset, "convergent", family=family, threads=args.run_threads,
                                     budget_s=minutes * 60, params={"patience": "0"})
            m = g["metrics"]
            out[f"{family}_{minutes}min"] = {"val_loss": m["val_loss"], "baseline": m["baseline_val_loss"],
                                             "untrained": untrained, "steps": m["steps"],
                                             "ratio_to_baseline": m["val_loss"] / m["baseline_val_loss"]}
            print(f"quality {family:6} {minutes:>4} min: val MSS {m['val_loss']:.3f} "
                  f"({m['val_loss'] / m['baseline_val_loss']:.3f} x noise baseline {m['baseline_val_loss']:.3f}; "
                  f"untrained {untrained:.3f}; {m['steps']} steps)", flush=True)
    return out


def part_convergent(args, tmp: Path) -> dict:
    """A parent trained on other takes of the instrument, fine-tuned on 5 new minutes."""
    ws = Workspace.at(tmp / "convergent")
    db = open_db(ws.db_path)
    old = make_dataset(tmp / "conv-old", "pitch", 2.0, seed0=100)
    new = make_dataset(tmp / "conv-new", "pitch", 5.0, seed0=200)
    parent, _ = run_generation(ws, db, old, "convergent", family="pitch", threads=args.run_threads,
                               budget_s=args.parent_minutes * 60)
    child, wall = run_generation(ws, db, new, "convergent", family="pitch", threads=args.run_threads,
                                 budget_s=180, parent=parent["name"], params={"patience": "0"})
    untrained = untrained_loss("pitch", new)
    out = {"parent_minutes": args.parent_minutes, "finetune_wall_s": round(wall, 1),
           "val_loss": child["metrics"]["val_loss"], "baseline": child["metrics"]["baseline_val_loss"],
           "untrained": untrained}
    line = (f"convergent fine-tune of {parent['name']} ({args.parent_minutes} min on other audio) on 5 min: "
            f"val {out['val_loss']:.3f} after 3 min (noise baseline {out['baseline']:.3f}, untrained {untrained:.3f})")
    if args.long_minutes:
        ws2 = Workspace.at(tmp / "convergent-long")
        db2 = open_db(ws2.db_path)
        long, _ = run_generation(ws2, db2, new, "convergent", family="pitch", threads=args.run_threads,
                                 budget_s=args.long_minutes * 60, params={"patience": "0"})
        out["long_run_val_loss"] = long["metrics"]["val_loss"]
        out["ratio_to_long_run"] = out["val_loss"] / long["metrics"]["val_loss"]
        line += f"; {args.long_minutes}-min run from scratch {long['metrics']['val_loss']:.3f} " \
                f"(ratio {out['ratio_to_long_run']:.3f}, goal <= 1.10)"
    print(line, flush=True)
    return out


def part_autoregressive(args, tmp: Path) -> dict:
    """The autoregressive family (issue 17): trained in the worker on 5 minutes of noise
    textures; then, on one thread, its next-frame loss against "repeat the last frame", a
    generated minute's descriptor distance to the dataset against the noise baseline's,
    variety at two temperatures, and how fast it generates (eager, and nn~ `generate` /
    `forward` streamed in 8192-sample buffers)."""
    import torch

    from rehearsal.training.data import prepare
    from rehearsal.training.dataset import open_folder
    from rehearsal.training.descriptors import DescriptorCache
    from rehearsal.training.evaluation import descriptor_distance, noise_baseline_audio, spectral_loss
    from rehearsal.training.export import script
    from rehearsal.training.family import get_family
    from rehearsal.training.render import load_generation_model

    ws = Workspace.at(tmp / "autoregressive")
    db = open_db(ws.db_path)
    dataset = make_dataset(tmp / "ar-data", "autoregressive", args.ar_data_minutes)
    g, wall = run_generation(ws, db, dataset, "convergent", family="autoregressive", threads=args.run_threads,
                             budget_s=args.ar_minutes * 60, params={"patience": "0"})
    torch.set_num_threads(1)
    model, _, _ = load_generation_model(ws, db, g["id"])
    info = open_folder(dataset)
    data = prepare(info, list(info.clips), hop=model.hop, conditioning=(), val_fraction=0.15, probe_count=0,
                   probe_seconds=0, cache=DescriptorCache(None))

    def ctx(audio):
        n = len(audio) // model.hop * model.hop
        x = torch.zeros(1, model.context + n)
        x[0, model.context:] = torch.as_tensor(audio[:n])
        return x

    val_audio = np.concatenate([c.audio for c in data.val])
    losses = model.frame_losses(ctx(val_audio))
    torch.manual_seed(0)
    untrained = get_family("autoregressive").build().eval()
    untrained.fit_normalisation(ctx(np.concatenate([c.audio for c in data.train])[: 120 * SR]))
    losses_untrained = untrained.frame_losses(ctx(val_audio))
    reference = [c.audio for c in data.train]
    out = {"train_minutes": args.ar_minutes, "steps": g["metrics"]["steps"], "val_mss": g["metrics"]["val_loss"],
           "noise_baseline_mss": g["metrics"]["baseline_val_loss"], "next_frame": losses,
           "next_frame_untrained": losses_untrained}
    blocks = int(60 * SR / model.hop)
    with torch.no_grad():
        for temperature in (0.5, 1.0):
            t0 = time.perf_counter()
            minute = model.generate(blocks, temperature=temperature, seed=1)[0].numpy()
            out[f"generate_x_realtime_t{temperature}"] = round(60.0 / (time.perf_counter() - t0), 1)
            out[f"descriptor_distance_t{temperature}"] = descriptor_distance(minute, reference)
        noise = noise_baseline_audio(data.train, data.val + data.train, 60.0)
        out["descriptor_distance_noise_baseline"] = descriptor_distance(noise, reference)
        for temperature in (0.1, 0.5, 1.0):
            a = model.generate(int(10 * SR / model.hop), temperature=temperature, seed=1)[0].numpy()
            b = model.generate(int(10 * SR / model.hop), temperature=temperature, seed=2)[0].numpy()
            out[f"variety_t{temperature}"] = spectral_loss(a, b)
    stream = script(model.stream_module().eval())
    x = torch.as_tensor(synthetic.noise_texture(20.0, seed=99)).view(1, 1, -1)[..., : 20 * SR // 8192 * 8192]
    with torch.inference_mode():
        for name in ("generate", "forward"):
            method = getattr(stream, name)
            method(x[..., :8192])
            t0 = time.perf_counter()
            for i in range(8192, x.shape[-1], 8192):
                method(x[..., i:i + 8192])
            out[f"nn_tilde_{name}_x_realtime"] = round((x.shape[-1] - 8192) / SR / (time.perf_counter() - t0), 1)
    d, n = out["descriptor_distance_t1.0"], out["descriptor_distance_noise_baseline"]
    print(f"autoregressive, {args.ar_minutes} min on {args.ar_data_minutes} min of noise textures "
          f"({out['steps']} steps): next-frame MSE {losses['mse']:.4f} (repeat the last frame "
          f"{losses['repeat_last_mse']:.4f}, untrained {losses_untrained['mse']:.4f}); a generated minute's "
          f"descriptor distance {d['total']:.3f} at temperature 1 ({out['descriptor_distance_t0.5']['total']:.3f} "
          f"at 0.5), noise baseline {n['total']:.3f}; variety (MSS between two seeds) "
          f"{out['variety_t0.1']:.2f} / {out['variety_t0.5']:.2f} / {out['variety_t1.0']:.2f} at temperature "
          f"0.1 / 0.5 / 1; generate {out['generate_x_realtime_t1.0']}x real time on 1 thread, nn~ generate "
          f"{out['nn_tilde_generate_x_realtime']}x, forward {out['nn_tilde_forward_x_realtime']}x", flush=True)
    return out


def part_corpus(args, tmp: Path) -> dict:
    """The corpus family (issue 16): analysis time of N minutes of plucked material (goal:
    10 minutes in <= 5 s), then 20 held-out seconds resynthesised from the bank, its
    multi-scale spectral distance against random units from the same bank and
    loudness-matched noise, and the render speed."""
    import torch

    from rehearsal.training import corpus
    from rehearsal.training.evaluation import spectral_loss

    torch.set_num_threads(1)
    clips = [synthetic.plucked(10.0, seed=i) for i in range(int(args.corpus_minutes * 6))]
    held_out = synthetic.plucked(20.0, seed=10_000)
    corpus.analyse_corpus(clips[:1])   # imports and first-call set-up off the clock
    t0 = time.perf_counter()
    bank = corpus.analyse_corpus(clips)
    analysis_s = time.perf_counter() - t0
    params = {"pitch_match": True}
    t0 = time.perf_counter()
    ours = corpus.resynthesise(bank, held_out, params)
    render_x = len(held_out) / SR / (time.perf_counter() - t0)
    # as the model host and nn~ run it: the scripted stream module, 256 samples a call
    from rehearsal.play.slots import prepare_module

    module = prepare_module(corpus.model_of(bank, params))
    x = torch.as_tensor(held_out[: len(held_out) // 256 * 256]).view(1, 1, -1)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, x.shape[-1], 256):
            module(x[..., i:i + 256])
    stream_x = x.shape[-1] / SR / (time.perf_counter() - t0)
    d_ours = spectral_loss(ours, held_out)
    d_random = spectral_loss(corpus.random_units(bank, held_out, params), held_out)
    from rehearsal.training.data import ClipAudio
    from rehearsal.training.evaluation import average_spectrum, noise_baseline

    spectrum = average_spectrum([ClipAudio(f"c{i}", c) for i, c in enumerate(clips[:6])])
    d_noise = spectral_loss(noise_baseline(ClipAudio("held", held_out), spectrum), held_out)
    out = {"minutes": args.corpus_minutes, "units": bank.size, "analysis_s": round(analysis_s, 2),
           "msd": round(d_ours, 3), "msd_random_units": round(d_random, 3), "msd_noise": round(d_noise, 3),
           "render_x_realtime": round(render_x, 1), "stream_256_x_realtime": round(stream_x, 1)}
    print(f"corpus: {args.corpus_minutes:g} min analysed in {analysis_s:.2f} s ({bank.size} units); held-out "
          f"distance {d_ours:.3f} vs random units {d_random:.3f}, noise {d_noise:.3f}; render {render_x:.1f}x "
          f"real time, 1 thread; scripted stream (host, nn~) in 256-sample calls {stream_x:.1f}x", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="throughput,render,oneshot,corpus",
                   help="comma-separated: throughput, render, oneshot, quality, convergent, autoregressive, "
                        "corpus")
    p.add_argument("--ar-minutes", type=float, default=3.0, help="autoregressive: training budget")
    p.add_argument("--ar-data-minutes", type=float, default=5.0, help="autoregressive: minutes of material")
    p.add_argument("--threads", type=int, default=2, help="throughput: threads measured beside 1 (2 cores)")
    p.add_argument("--run-threads", type=int, help="threads of the training runs (default: the worker's, "
                                                   "every core)")
    p.add_argument("--throughput-seconds", type=float, default=12.0)
    p.add_argument("--quality", default="", help="minutes, e.g. 1,3,10 (adds the quality part)")
    p.add_argument("--convergent", action="store_true", help="add the 3-minute fine-tune part")
    p.add_argument("--parent-minutes", type=float, default=1.0)
    p.add_argument("--long-minutes", type=float, default=0.0, help="reference long run for the fine-tune")
    p.add_argument("--corpus-minutes", type=float, default=10.0, help="corpus: minutes of material analysed")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--against", type=Path, action="append", default=[],
                   help="a previous run's --json (repeatable, e.g. bench/results/training-*.json): "
                        "print each figure both runs have, with the ratio now / then")
    args = p.parse_args()
    parts = [x for x in args.parts.split(",") if x]
    args.quality = [float(m) for m in args.quality.split(",") if m]
    if args.quality and "quality" not in parts:
        parts.append("quality")
    if args.convergent and "convergent" not in parts:
        parts.append("convergent")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        for part in parts:
            results[part] = globals()[f"part_{part}"](args, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    for path in args.against:
        compare(results, json.loads(path.read_text()), path)


def compare(now: dict, then: dict, label) -> None:
    """Every number both runs have, now against then (losses: lower is better; speeds and
    audio seconds per second: higher is better; the ratio is printed as it is)."""
    rows = []

    def walk(a, b, path):
        for key, value in a.items():
            other = b.get(key) if isinstance(b, dict) else None
            if isinstance(value, dict):
                walk(value, other, path + [key])
            elif isinstance(value, (int, float)) and isinstance(other, (int, float)) and other:
                rows.append((".".join(path + [key]), value, other))

    walk(now, then, [])
    print(f"against {label}: {len(rows)} figures in both runs", flush=True)
    for name, value, other in rows:
        print(f"  {name:48} now {value:10.3f}  then {other:10.3f}  ratio {value / other:6.3f}", flush=True)


if __name__ == "__main__":
    main()
