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
from tests.test_training_corpus import material

torch.set_num_threads(1)
SR, BLOCK = 48000, 256


@pytest.fixture(scope="module")
def corpus_model():
    return model_of(analyse_corpus([material(11, 4.0), material(12, 4.0)]), {"pitch_match": True})


def run(model, audio, **settings):
    slot = Slot.from_model(model, None, "corpus", "corpus")
    slot.co_perform(settings, BLOCK)
    n = len(audio) // BLOCK * BLOCK
    return np.concatenate([slot.run(audio[i:i + BLOCK]) for i in range(0, n, BLOCK)])


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


def test_follow_one_mirrors_the_performers_loudness_and_follow_zero_ignores_it(corpus_model):
    rng = np.random.default_rng(5)
    x = material(15, 8.0)[: 8 * SR]
    steps = np.repeat(rng.choice([0.03, 1.0], 80), SR // 10)       # its level jumps every 0.1 s
    performer = (x * steps[:len(x)]).astype(np.float32)
    env = envelope_db(performer)
    r = {}
    for follow in (1.0, 0.0):
        out = run(corpus_model, performer, mode="accompany", follow=follow)
        lag = 2                                            # a grain's delay: compare with what it heard
        r[follow] = float(np.corrcoef(env[:-lag], envelope_db(out)[lag:])[0, 1])
    print(f"loudness envelope correlation with the performer: follow 1 r={r[1.0]:.2f}, follow 0 r={r[0.0]:.2f}")
    assert r[1.0] >= 0.7 and abs(r[0.0]) <= 0.2


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
