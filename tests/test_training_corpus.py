"""The corpus family's core: analysis into a unit bank, and concatenative resynthesis."""


import warnings

import numpy as np
import pytest
import torch

from rehearsal.training import dsp
from rehearsal.training.corpus import CorpusParams, UnitBank, analyse_corpus, model_of, random_units, resynthesise

SR = 48000
torch.set_num_threads(1)


def tone(f0, seconds, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    env = np.minimum(1, np.minimum(t, t[-1] - t) / 0.01)
    return (amp * env * x / 2).astype(np.float32)


def material(seed, seconds=8.0):
    """Notes at scattered pitches and levels, with noise bursts between some."""
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(x) for x in out) < seconds * SR:
        d = rng.uniform(0.15, 0.5)
        if rng.random() < 0.25:
            out.append((rng.standard_normal(int(d * SR)) * rng.uniform(0.02, 0.2)).astype(np.float32))
        else:
            out.append(tone(rng.choice([110, 165, 220, 330, 440, 660]), d, rng.uniform(0.05, 0.5)))
    return np.concatenate(out)


def msd(a, b):
    return float(dsp.multiscale_spectral_loss(torch.as_tensor(a)[None], torch.as_tensor(b)[None]))


def noise_like(x, seed=0, hop=256):
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(len(x)).astype(np.float32)
    for s in range(0, len(x), hop):
        n[s:s + hop] *= np.sqrt(np.mean(x[s:s + hop] ** 2) / (np.mean(n[s:s + hop] ** 2) + 1e-12))
    return n


def choices(model, audio):
    """The unit chosen at each choice point while the model renders `audio`."""
    picked = []
    choose = model.choose

    def spy(*args, **kw):
        out = choose(*args, **kw)
        picked.append(int(out[0]))
        return out

    model.choose = spy
    n = len(audio) // model.hop * model.hop
    with torch.no_grad():
        model.render(torch.as_tensor(audio[:n])[None], model.zero_state(1, torch.device("cpu")))
    return picked


def test_resynthesis_beats_noise_and_random_units(tmp_path):
    bank = analyse_corpus([material(1, 4.0), material(2, 4.0)], CorpusParams(grain_ms=40))
    bank.save(tmp_path / "bank.npz")
    bank = UnitBank.load(tmp_path / "bank.npz")
    held_out = material(3, seconds=2.0)
    params = {"pitch_match": True}
    ours = msd(resynthesise(bank, held_out, params), held_out)
    rand = msd(random_units(bank, held_out, params), held_out)
    noise = msd(noise_like(held_out), held_out)
    print(f"corpus {ours:.3f} random units {rand:.3f} noise {noise:.3f}")
    assert ours <= 0.9 * rand and ours <= 0.9 * noise


def test_a_220_hz_input_selects_units_within_a_semitone():
    bank = analyse_corpus([tone(f, 1.0) for f in (110, 150, 220, 300, 440)], CorpusParams(grain_ms=40))
    chosen = choices(model_of(bank, {"avoid": 4}), tone(220, 1.0, amp=0.1))
    pitches = bank.descriptors[chosen[3:], 1]   # once the input's pitch window is full
    assert np.all(np.abs(pitches - 57.0) <= 1.0), pitches  # 220 Hz = MIDI 57


def test_sequence_one_reproduces_a_clips_unit_order():
    bank = analyse_corpus([material(4, 2.0), material(5, 2.0)], CorpusParams(grain_ms=50))
    chosen = choices(model_of(bank, {"sequence": 1.0}), np.zeros(SR, np.float32))   # silence: it plays itself
    assert chosen == list(range(len(chosen)))


def test_units_by_onsets_lie_between_20_and_250_ms():
    bank = analyse_corpus([material(6, 3.0)], CorpusParams(units="onsets"))
    assert bank.size > 3
    assert bank.lengths.min() >= 0.020 * SR and bank.lengths.max() <= 0.250 * SR


def test_a_bank_that_is_not_one_is_refused_in_plain_words(tmp_path):
    bad = tmp_path / "bank.npz"
    np.savez(bad, audio=np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="not a readable unit bank"):
        UnitBank.load(bad)
    with pytest.raises(ValueError, match="grain_ms"):
        CorpusParams(grain_ms=5)


def test_avoidance_bars_recent_units_and_jitter_widens_the_choice():
    bank = analyse_corpus([material(7, 3.0)], CorpusParams(grain_ms=40))
    x = tone(220, 1.0)
    strict = choices(model_of(bank, {"avoid": 6}), x)
    chosen = choices(model_of(bank, {"avoid": 6}), x)
    assert all(chosen[k] not in chosen[max(0, k - 6):k] for k in range(len(chosen)))
    wide = choices(model_of(bank, {"avoid": 0, "jitter": 1.0, "seed": 3}), x)
    narrow = choices(model_of(bank, {"avoid": 0, "jitter": 0.0}), x)
    assert len(set(wide)) > len(set(narrow))
    assert strict == chosen   # deterministic without jitter


# -- the family: worker, dataset versions, lineage, host, nn~ ---------------------------------------

def test_trains_from_a_dataset_version_reusing_the_curation_cache_and_a_child_merges_the_bank(workspace, db):
    """`rehearsal train -f corpus` on a curated dataset version, in its worker process:
    onsets come from the descriptors the curation step cached (no new analysis row). A child
    (`--from`) merges the parent's bank: planned as the CLI plans it and run by the worker's
    own `work`, in this process (one worker start-up, torch's import, is the test's cost)."""
    from click.testing import CliRunner

    from rehearsal import training as T
    from rehearsal.cli import main
    from rehearsal.training import worker
    from tests.support.curation_fixtures import CurationWorld, step

    world = CurationWorld.create(workspace, db)
    take = world.add_take()
    for part in ("noise", "a3", "a4", "plucks"):
        world.tag_part(take, "good", part)

    def cli(*args):
        result = CliRunner().invoke(main, ["--home", str(workspace.home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    gate = world.write_pipeline(step("select-symbols", keep=["good"]) + step("loudness-gate", min_db=-40), "gate")
    cli("curate", "-s", "monday", "-p", str(gate), "-n", "voice")
    analysed = db.execute("SELECT COUNT(*), MAX(computed_at) FROM take_descriptors").fetchone()
    assert analysed[0] == 1
    out = cli("train", "-d", "voice@1", "-f", "corpus", "-s", "convergent", "--threads", "1",
              "-p", "units=onsets", "-p", "probe_count=1", "-p", "probe_seconds=1")
    assert "g1 complete" in out and "[analysed]" in out, out
    assert db.execute("SELECT COUNT(*), MAX(computed_at) FROM take_descriptors").fetchone() == analysed
    g1 = T.get_generation(db, "g1")
    m = g1["metrics"]
    print(f"g1: {m['units']} units from {m['train_audio_s']} s in {m['analysis_s']} s, onsets of "
          f"{m['curation_cache_clips']} clips from the curation cache; val {m['val_loss']:.3f} "
          f"vs noise baseline {m['baseline_val_loss']:.3f}")
    assert m["curation_cache_clips"] >= 1 and m["units"] > 10
    assert np.isfinite(m["val_loss"]) and m["stop_reason"] == "analysed" and m["steps"] == 0
    assert T.previews(workspace, db, "g1")["best"]
    request = T.make_request(db, T.resolve_dataset(workspace, db, "voice@1"), "convergent", parent_ref="g1",
                             params={"jitter": "0.3"})
    [child] = T.plan_generations(workspace, db, request)
    args = worker.parse_args(["--home", str(workspace.home), "--generation", str(child), "--threads", "1"])
    assert worker.work(args, handle_signals=False) == 0
    g2 = T.get_generation(db, child)
    assert g2["status"] == "complete" and g2["parent_id"] == g1["id"] and g2["family"] == "corpus"
    assert g2["metrics"]["units"] == 2 * m["units"] and g2["metrics"]["parent_bank"]


def as_nn_tilde(path, clip):
    """What nn~ does with an export: load it (a fresh CompilationUnit: TorchScript only, no
    Python class of ours; torch.jit.save refuses a module that would call back into Python),
    set its rate, call every method in nn~'s buffers (batch 1, 4, 1); then `forward` of a
    fresh load streamed in buffers of 256..8192, and `descriptors` driven by a 220 Hz target."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        m, fresh, driving = (torch.jit.load(str(path)) for _ in range(3))
    r = {"methods": list(m.get_methods()), "attributes": list(m.get_attributes()), "calls": [], "params": {}}
    r["rate"] = m.set_sample_rate(44100)            # nn~'s first call after loading
    for name in r["methods"]:
        p = [int(v) for v in getattr(m, name + "_params").tolist()]
        r["params"][name] = p
        for batch in (1, 4, 1):
            with torch.inference_mode():
                y = getattr(m, name)(torch.zeros(batch, p[0], 8192 // p[1]))
            r["calls"].append([name, batch, list(y.shape), str(y.dtype), bool(torch.isfinite(y).all())])
    r["set"] = [m.set_jitter(0.5), m.get_jitter(), m.set_sequence(2.0)]
    pieces, i, k = [], 0, 0
    sizes = [256, 512, 8192, 1024, 2048, 256, 4096]
    with torch.inference_mode():
        while i < clip.shape[-1]:
            n = sizes[k % len(sizes)]
            pieces.append(fresh(clip[..., i:i + n]))
            i, k = i + n, k + 1
        ctl = torch.tensor([[-20.0], [57.0], [600.0], [0.01]]).expand(4, 64).unsqueeze(0).contiguous()
        r["forward"], r["descriptors"] = torch.cat(pieces, -1), driving.descriptors(ctl)
    return r


def test_nn_tilde_export_streams_like_the_whole_clip_render_and_the_host_plays_it(tmp_path):
    from rehearsal.play.slots import Slot
    from rehearsal.training.export import export_nn_tilde

    bank = analyse_corpus([tone(f, 0.5) for f in (110, 220, 330, 440)] + [material(8, 2.0)])
    model = model_of(bank, {"jitter": 0.2, "sequence": 0.1, "pitch_match": True})
    path = export_nn_tilde(model, "corpus", tmp_path / "corpus.ts", {"generation": "test"})[0]
    audio = np.concatenate([material(9, 0.5), np.zeros(SR // 4, np.float32), tone(220, 0.5)])
    n = -(-len(audio) // 8192) * 8192
    clip = torch.zeros(1, 1, n)
    clip[0, 0, :len(audio)] = torch.as_tensor(audio)
    r = as_nn_tilde(path, clip)
    assert r["methods"] == ["forward", "descriptors", "generate"] and r["attributes"] == ["jitter", "sequence"]
    assert r["params"] == {"forward": [1, 1, 1, 1], "descriptors": [4, 256, 1, 1], "generate": [1, 1, 1, 1]} and r["rate"] == 0
    for name, batch, shape, dtype, finite in r["calls"]:
        assert shape == [batch, 1, 8192] and dtype == "torch.float32" and finite, (name, batch)
    assert r["set"] == [0, 0.5, -1]
    streamed = r
    with torch.no_grad():
        whole = model(clip[0])
    diff = float((streamed["forward"][0] - whole).abs().max())
    print(f"nn~ forward streamed in buffers of 256..8192 vs the whole-clip render: max difference {diff:.2e}")
    assert diff < 1e-5 and float(whole.abs().max()) > 1e-3
    # a 220 Hz target through the descriptors method: the 220 Hz tone's units, levelled to -20 dB
    driven = streamed["descriptors"][0, 0, 4096:].numpy()
    assert abs(10 * np.log10(np.mean(driven ** 2)) + 20) < 6
    # the model host's slot: the very TorchScript, block by block, after its warm-up on silence
    from rehearsal.play.slots import WARM_CALLS

    slot = Slot.from_model(model, None, "corpus", "corpus")
    out = np.concatenate([slot.run(audio[i:i + 256]) for i in range(0, len(audio) // 256 * 256, 256)])
    warm = WARM_CALLS * 256
    with torch.no_grad():
        ref = model(torch.cat([torch.zeros(1, warm), clip[0]], 1))[0, warm:warm + len(out)].numpy()
    assert np.allclose(out, ref, atol=1e-5) and np.abs(out).max() > 1e-3


# -- convergent merge / replace, specialise: in this process, through the worker's `work` ----------

def run_corpus(workspace, db, folder, strategy="convergent", parent_ref=None, scratch=False, **params):
    """Generations planned as `rehearsal train -f corpus` plans them, each analysed by the
    worker's own `work` in this process; returns them with the bank each one holds."""
    from rehearsal import training as T
    from rehearsal.training import worker
    from rehearsal.training.checkpoints import load_checkpoint
    from rehearsal.training.corpus import bank_of

    request = T.make_request(db, T.resolve_dataset(workspace, db, str(folder)), strategy, family="corpus",
                             parent_ref=parent_ref, scratch=scratch,
                             params={"probe_count": "1", "probe_seconds": "0.5", **params})
    out = []
    for gid in T.plan_generations(workspace, db, request):
        args = worker.parse_args(["--home", str(workspace.home), "--generation", str(gid), "--threads", "1"])
        assert worker.work(args, handle_signals=False) == 0
        g = T.get_generation(db, gid)
        assert g["status"] == "complete" and g["family"] == "corpus", g
        model, _ = load_checkpoint(workspace.resolve(T.checkpoint_for(db, g)["path"]))
        out.append((g, bank_of(model)))
    return out


def clips_in(bank, folder):
    """The dataset clips (file stems) whose audio the bank's clips are (each the front of one:
    validation holds out clips' tails), matched sample by sample."""
    import soundfile as sf

    files = {p.stem.split("-", 1)[1]: sf.read(str(p), dtype="float32")[0] for p in sorted((folder / "clips").glob("*.wav"))}
    firsts = [int(bank.starts[bank.clip == c].min()) for c in np.unique(bank.clip)] + [len(bank.audio)]
    found = []
    for lo, hi in zip(firsts, firsts[1:]):
        seg = bank.audio[lo:hi]
        names = [n for n, x in files.items() if len(x) >= len(seg) and np.allclose(x[:len(seg)], seg, atol=2e-3)]
        assert len(names) == 1, (lo, hi, names)
        found += names
    return found


def test_a_convergent_child_merges_the_new_datasets_units_with_its_parents_bank_or_replaces_them(workspace, db, tmp_path):
    from rehearsal.training import synthetic

    plucks = synthetic.write_dataset(tmp_path / "plucks", [(f"pluck{i}", synthetic.plucked(0.5, seed=i), ["pluck"])
                                                           for i in range(3)])
    noise = synthetic.write_dataset(tmp_path / "noise", [(f"noise{i}", synthetic.noise_texture(0.5, seed=i), ["noise"])
                                                         for i in range(3)])
    [(g1, parent)] = run_corpus(workspace, db, plucks)
    [(merged_g, merged)] = run_corpus(workspace, db, noise, parent_ref="g1")
    [(replaced_g, replaced)] = run_corpus(workspace, db, noise, parent_ref="g1", bank="replace")
    print(f"parent {parent.size} units, merged {merged.size}, replaced {replaced.size}")
    assert g1["parent_id"] is None and clips_in(parent, plucks) == ["pluck0", "pluck1", "pluck2"]
    for g in (merged_g, replaced_g):
        assert g["parent_id"] == g1["id"] and g["metrics"]["parent_bank"]
    from rehearsal.training.generations import spec_of

    assert spec_of(replaced_g).family_params["bank"] == "replace" and "bank" not in spec_of(merged_g).family_params
    # replace: only the new dataset's units
    assert clips_in(replaced, noise) == ["noise0", "noise1", "noise2"] and replaced.size == replaced_g["metrics"]["units"]
    # merge: the parent's units, then the new ones, unit for unit
    assert merged.size == parent.size + replaced.size == merged_g["metrics"]["units"]
    np.testing.assert_array_equal(merged.audio, np.concatenate([parent.audio, replaced.audio]))
    np.testing.assert_array_equal(merged.starts, np.concatenate([parent.starts, replaced.starts + len(parent.audio)]))
    np.testing.assert_array_equal(merged.descriptors, np.concatenate([parent.descriptors, replaced.descriptors]))


def test_specialise_makes_one_corpus_per_symbol_group_holding_only_its_clips(workspace, db, tmp_path):
    from tests.support.training import mixed_dataset

    folder = mixed_dataset(tmp_path / "mixed")
    gens = run_corpus(workspace, db, folder, strategy="specialise")
    assert [(g["label"], g["symbols"]) for g, _ in gens] == [("specialise pluck", ["pluck"]),
                                                             ("specialise noise", ["noise"])]
    for g, bank in gens:
        symbol = g["symbols"][0]
        assert clips_in(bank, folder) == [f"{symbol}{i}" for i in range(3)], g["label"]
