"""The model as a co-performer (issue 16): call and response, accompaniment with `follow`.

The decisions run in the model host around the scripted stream module; here the very slot
the host uses, block by block, then through JACK in the play process (test_play_jack.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rehearsal.play.slots import Slot
from rehearsal.training.corpus import analyse_corpus, model_of
from tests.test_training_corpus import material, tone

torch.set_num_threads(1)
SR, BLOCK = 48000, 256


def steady(seed, seconds):
    """Notes at scattered pitches, all at one level: a corpus whose own loudness envelope
    changes unit by unit, not phrase by phrase."""
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(x) for x in out) < seconds * SR:
        out.append(tone(rng.choice([110, 165, 220, 330, 440, 660]), rng.uniform(0.15, 0.5)))
    return np.concatenate(out)


def stepped(seed, seconds):
    """The performer: notes whose level jumps 30 dB at random every 0.1 s."""
    rng = np.random.default_rng(seed)
    x = material(100 + seed, seconds)[: int(seconds * SR)]
    steps = np.repeat(rng.choice([0.03, 1.0], int(seconds * 10) + 1), SR // 10)
    return (x * steps[:len(x)]).astype(np.float32)


@pytest.fixture(scope="module")
def corpus_model():
    return model_of(analyse_corpus([steady(11, 4.0), steady(12, 4.0)]), {"pitch_match": True})


def run(model, audio, follow_at=None, **settings):
    """The slot's co-performer block by block; `follow_at` (block, value): a live change."""
    slot = Slot.from_model(model, None, "corpus", "corpus")
    slot.co_perform(settings, BLOCK)
    n = len(audio) // BLOCK * BLOCK
    out = []
    for i in range(0, n, BLOCK):
        if follow_at is not None and i // BLOCK == follow_at[0]:
            slot.co.set_follow(follow_at[1])
        out.append(slot.run(audio[i:i + BLOCK]))
    return np.concatenate(out)


def follow_r(performer, model_part, lag=2):
    """Correlation of the loudness envelopes, the model's `lag` hops later (a grain's delay:
    it answers what it heard)."""
    env, out = envelope_db(performer), envelope_db(model_part)
    n = min(len(env), len(out))
    return float(np.corrcoef(env[:n - lag], out[lag:n])[0, 1])


def block_db(x):
    b = x[: len(x) // BLOCK * BLOCK].reshape(-1, BLOCK).astype(np.float64)
    return 10 * np.log10((b ** 2).mean(1) + 1e-12)


def envelope_db(x, hop=1024):
    b = x[: len(x) // hop * hop].reshape(-1, hop).astype(np.float64)
    return 10 * np.log10((b ** 2).mean(1) + 1e-8)


def test_a_pause_is_answered_within_the_pause_plus_a_block_and_the_model_yields_within_a_block(corpus_model):
    loud = [material(13, 1.0), np.zeros(SR * 3 // 2, np.float32), material(14, 1.0)]
    performer = np.concatenate(loud)
    out = run(corpus_model, performer, mode="call-response", pause_s=0.5, answer_s=0.75, gate_db=-45.0)
    heard = block_db(performer) > -45.0
    said = block_db(out) > -70.0
    quiet_from = int(np.flatnonzero(heard[:len(loud[0]) // BLOCK + 1])[-1]) + 1   # the first silent block
    answer = int(np.flatnonzero(said[quiet_from:])[0]) + quiet_from
    pause = round(0.5 * SR / BLOCK)
    print(f"silence from block {quiet_from}, answer from block {answer}: {answer - quiet_from} blocks "
          f"(pause {pause} blocks + 1)")
    assert not said[:quiet_from].any()                     # while the performer plays, it listens
    assert answer - quiet_from <= pause + 1
    length = int(np.flatnonzero(said)[-1]) - answer + 1
    assert length <= int(np.ceil(0.75 * SR / BLOCK)) + 1   # it answers for answer_s at most
    resume = len(loud[0]) // BLOCK + len(loud[1]) // BLOCK
    resumed = resume + int(np.flatnonzero(heard[resume:])[0])
    assert not said[resumed:].any()                        # it yields the very block it hears them


def test_follow_one_mirrors_the_performers_loudness_and_follow_zero_never_hears_them(corpus_model):
    """Follow 1: the model's loudness envelope is the performer's. Follow 0: the corpus plays
    its own order and never hears the input, so its part is the same sample for sample
    whoever plays (a live change to 0 joins that very part after one block of glide), and
    its envelope correlates with none of eight performers beyond chance: with a corpus
    whose level changes unit by unit the chance r of two independent envelopes over N
    hops spreads as 1/sqrt(N), 0.07 here."""
    seconds, half = 4.0, int(2.0 * SR / BLOCK)
    a, b = stepped(5, seconds), stepped(6, seconds)
    mirror = run(corpus_model, a, mode="accompany", follow=1.0)
    own = run(corpus_model, b, mode="accompany", follow=0.0)
    turned = run(corpus_model, a, follow_at=(half, 0.0), mode="accompany", follow=1.0)
    cut = half * BLOCK
    assert np.array_equal(turned[:cut], mirror[:cut])             # follow 1 until the change
    assert np.array_equal(turned[cut + BLOCK:], own[cut + BLOCK:])  # then a's part is b's: it hears neither
    glide = turned[cut:cut + BLOCK]
    w = np.arange(1, BLOCK + 1) / BLOCK
    np.testing.assert_allclose(glide, mirror[cut:cut + BLOCK] * (1 - w) + own[cut:cut + BLOCK] * w, atol=1e-6)
    r1 = follow_r(a, mirror)
    r0 = [follow_r(stepped(seed, seconds), own) for seed in range(8)]
    print(f"loudness envelope correlation with the performer: follow 1 r={r1:.2f}, "
          f"follow 0 r={' '.join(f'{r:.2f}' for r in r0)} (eight performers)")
    assert r1 >= 0.7
    assert max(abs(r) for r in r0) <= 0.2


def test_a_family_that_cannot_generate_is_refused_in_words():
    from rehearsal.play.coperformer import CoPerform, CoPerformer

    class TransformOnly:            # what the pitch and latent families' nn~ modules offer
        def get_methods(self):
            return ["forward"]

    with pytest.raises(ValueError, match="cannot generate without input"):
        CoPerformer(TransformOnly(), CoPerform(), BLOCK)
    with pytest.raises(ValueError, match="follow must be"):
        CoPerform(mode="accompany", follow=2)
    with pytest.raises(ValueError, match="mode must be"):
        CoPerform(mode="duet")


@pytest.fixture(scope="module")
def autoregressive_model():
    """An autoregressive model as built, its normalisation fitted on noise textures (no
    training steps: co-performing is about when it speaks, not how well)."""
    from rehearsal.training import synthetic
    from rehearsal.training.family import get_family

    torch.manual_seed(0)
    model = get_family("autoregressive").build()
    audio = np.concatenate([synthetic.noise_texture(1.0, seed=i) for i in range(2)])
    n = len(audio) // model.hop * model.hop
    x = torch.zeros(1, model.context + n)
    x[0, model.context:] = torch.as_tensor(audio[:n])
    model.fit_normalisation(x)
    return model.eval()


def call_response(model, family, performer, **settings):
    slot = Slot.from_model(model, None, family, family)
    slot.co_perform({"mode": "call-response", "gate_db": -45.0, **settings}, BLOCK)
    n = len(performer) // BLOCK * BLOCK
    return np.concatenate([slot.run(performer[i:i + BLOCK]) for i in range(0, n, BLOCK)])


def test_an_autoregressive_model_answers_a_pause_and_yields_within_a_block(autoregressive_model):
    """Any family that generates without input co-performs: the autoregressive one answers
    a pause within the pause time plus one block, non-silent, and yields the first block it
    hears the performer again; its answer goes on from what it heard (two performers, two
    answers), not from a stream that never listened."""
    rng = np.random.default_rng(7)
    first, gap = (0.1 * rng.standard_normal(SR // 2)).astype(np.float32), np.zeros(SR * 3 // 4, np.float32)
    again = (0.1 * rng.standard_normal(SR // 4)).astype(np.float32)
    performer = np.concatenate([first, gap, again])
    out = call_response(autoregressive_model, "autoregressive", performer, pause_s=0.25, answer_s=2.0)
    heard, said = block_db(performer) > -45.0, block_db(out) > -70.0
    quiet_from = int(np.flatnonzero(heard[:len(first) // BLOCK + 1])[-1]) + 1
    assert heard[:quiet_from].all() and not said[:quiet_from].any()       # it listens while they play
    answer = int(np.flatnonzero(said[quiet_from:])[0]) + quiet_from
    pause = round(0.25 * SR / BLOCK)
    resumed = (len(first) + len(gap)) // BLOCK
    resumed += int(np.flatnonzero(heard[resumed:])[0])
    print(f"autoregressive: silence from block {quiet_from}, answer from block {answer} "
          f"(pause {pause} blocks + 1), {block_db(out)[answer:resumed].mean():.1f} dB, performer back at {resumed}")
    assert answer - quiet_from <= pause + 1
    assert said[answer:resumed].all()                                       # answer_s outlasts the gap
    assert not said[resumed:].any()                                         # it yields at once
    other = np.concatenate([tone(220, 0.5), gap, again])
    out2 = call_response(autoregressive_model, "autoregressive", other, pause_s=0.25, answer_s=2.0)
    assert not np.allclose(out[answer * BLOCK:resumed * BLOCK], out2[answer * BLOCK:resumed * BLOCK])


def test_the_pitch_and_latent_families_refuse_to_co_perform_in_words():
    from rehearsal.training.family import get_family

    for family in ("pitch", "latent"):
        slot = Slot.from_model(get_family(family).build().eval(), None, family, family)
        with pytest.raises(ValueError, match="cannot generate without input.*not co-perform"):
            slot.co_perform({"mode": "call-response"}, BLOCK)
