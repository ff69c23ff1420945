"""The shipped good-takes pipeline on truth takes: measured against the generator's truth
(tests/support/truth_take.py), never against the tags.

Required by issue 11: precision >= 0.95, recall >= 0.7, no sample under bad material, no
sample in two clips. Several seeds; the product owner re-measures on one not seen here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearsal.cli import main
from rehearsal.curation import load_pipeline, parse_pipeline, preview, start_run
from rehearsal.store.markers import list_markers, update_marker
from tests.support import truth_take as tt
from tests.support.curation_fixtures import CurationWorld

GOOD_TAKES = Path(__file__).resolve().parents[1] / "plugins" / "pipelines" / "good-takes.toml"
SEEDS = (3, 10, 11, 14)   # 3 and 11: the hardest of seeds 1-30; bench/curation.py measures all 30

pytestmark = pytest.mark.skipif(tt.tools_missing() is not None, reason=str(tt.tools_missing()))


@pytest.fixture
def truth_world(workspace, db):
    return CurationWorld.create(workspace, db, notation=tt.NOTATION)


def _good_takes(world, seed: int, noise: str = "made"):
    """The truth take of `seed` put in `world`, the shipped good-takes pipeline run on it
    (preview), and the dataset measured against the truth: (truth, run, measure)."""
    truth = tt.truth_take(seed, noise=noise)
    tt.add_to_world(world, truth)
    run = preview(world.ws, world.db, load_pipeline(GOOD_TAKES), [world.session])
    return truth, run, tt.measure(run.clips, truth)


@pytest.mark.parametrize("seed", SEEDS)
def test_good_takes_holds_what_was_meant_on_a_truth_take(truth_world, seed):
    truth, run, m = _good_takes(truth_world, seed)
    assert truth.boundaries_without_silence * 2 >= truth.good_bad_boundaries   # the generator's promise
    assert m["bad_samples"] == 0, m
    assert m["duplicated_samples"] == 0, m
    assert m["precision"] >= 0.95, m
    assert m["recall"] >= 0.7, m
    # every removal says why; the bad ones name who tagged them
    reasons = [r.reason for r in run.removals()]
    assert all(reasons)
    assert any("under a region tagged bad by" in r for r in reasons)


@pytest.mark.parametrize("seed", (1, 12, 17, 19, 31, 32, 47))
def test_a_recorded_noise_tagged_bad_is_dropped_whole(truth_world, seed):
    """Recorded noise (the soundfont's sampled sound effects) right after a bad phrase and
    before a good one. Seed 17: a change inside the noise looked like a clear end, and the
    dropped region stopped there, 0.7 s before the noise did; seed 19: two bad phrases in a
    row, and the second's region stopped at the other person's tap of the first. A covering
    region now reaches to its tap, and only each person's latest tap bounds it. Seeds 1 and
    12: knocks (silence between them) right after a good phrase; the dropped region started
    on the latest knock (every silence edge is as strong), and the first knocks stayed
    (11,696 and 28,785 samples). It now starts on the earliest change since the phrase
    before can have ended. Seeds 31, 32 and 47 were not looked at before (as the product
    owner's take is not) and leaked: 31, another person's tap of this same bad phrase lay
    just before the end found from a change, and was taken for a tap of the phrase before
    (the region started 0.7 s late); 32, the other person's slow tap of the phrase before
    ended the bad region before the bad phrase did (their tap of this phrase came after);
    47, the second of two bad phrases with no silence between started at a change inside
    it, after the first one's tap (the sound between is this phrase's)."""
    _, _, m = _good_takes(truth_world, seed, "recorded")
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0, m
    assert m["precision"] >= 0.95 and m["recall"] >= 0.7, m


@pytest.mark.parametrize("noise, seed", (("recorded", 102), ("recorded", 111), ("made", 110)))
def test_a_bad_phrase_that_starts_softly_or_goes_on_past_a_mates_tap_is_dropped_whole(truth_world, noise, seed):
    """Seeds not looked at while the rules before were made (61-120), each leaking. 102: a
    bad phrase opens softly after a good one, one frame below -50 dB between, or opens with
    0.23 s of quiet (a run too short to be a silence); novelty needs sound on both sides of
    its window, so the change was found 0.76 s late and the dropped region started 0.46 s
    inside the bad phrase (24,305 samples). A covering region now goes back to such a short
    quiet run found up to 1 s before its start. 110: the same with a dip to -47 dB (20 dB
    under the frames 0.05 s on each side) instead of a quiet run (6,752 samples). 111: two
    bad phrases in a row; the second's region, with no boundary showing its end, stopped
    at the other person's tap, which was theirs of the first (33,498 samples): a mate's tap
    bounds a covering region only after an end a boundary showed."""
    _, _, m = _good_takes(truth_world, seed, noise)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0, m
    assert m["precision"] >= 0.95, m


@pytest.mark.parametrize("noise, seed", (("made", 219), ("recorded", 239)))
def test_seeds_first_measured_after_the_rules_were_made_leak_nothing(truth_world, noise, seed):
    """Seeds 181-240 were measured only after the rules above were made, as the product
    owner's take is; two leaked. Made 219: a bad phrase opens 22 dB under the good one
    before it for one frame and rises over 64 ms; its change was found 0.43 s late, past the
    0.3 s margin (6,657 samples). Its first frame is a dip now that a dip is measured against
    the loudest frame 0.1 s on each side (was 0.05 s: the rise had not finished). Recorded
    239: one person tagged a bad phrase good; the tie was decided by the sound, rightly, for
    the good phrase before it, which their tag's region had found, and the bad tag's region
    stayed bad only beyond that good region's end, found from a change 0.17 s late (5,698
    samples). Where the veto's region goes on past a kept moment, the last 0.3 s of the kept
    moment next to it stays under the veto too (agreement's `tie_margin_s`)."""
    _, _, m = _good_takes(truth_world, seed, noise)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0, m
    assert m["precision"] >= 0.95 and m["recall"] >= 0.7, m


def test_a_mates_tap_does_not_end_a_dropped_phrase_bounded_only_by_ones_own_earlier_tap(truth_world):
    """Made seed 351, held out (seeds 301-360 were measured only after the rules were made):
    a short bad phrase, then another bad phrase with no silence between. No boundary showed
    the second's end, so bo's region of it ended at bo's own tap of the first; ana's tap of
    the first lay past that end and was taken for a tap after this phrase, and the region
    stopped there, 0.56 s before the bad phrase did (27,097 samples). A mate's tap bounds a
    covering region only after an end a boundary showed, and a person's own earlier tap is
    not such a boundary either."""
    _, _, m = _good_takes(truth_world, 351)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m


def test_a_persons_next_tap_takes_the_phrase_end_it_follows(truth_world):
    """Made seed 378, held out (seeds 361-420 were measured only after the rules were made):
    two bad phrases in a row, ana tapped the first 1.36 s late and the second 0.41 s after
    it ended, 0.3 s after her first tap. Both taps' regions found the second phrase's end,
    so nothing of hers covered the first, which bo had tagged good: no tie, and 2.47 s of
    bad material stayed (118,871 samples). A person taps phrases in their order: where the
    end a dropped region chose is also the clearest end before that person's next tap, it is
    that phrase's, and this one ended before it."""
    _, _, m = _good_takes(truth_world, 378)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m


@pytest.mark.parametrize("noise, seed, recall", (("made", 64, 0.85), ("made", 49, 0.7)))
def test_a_dropped_phrase_takes_no_more_good_material_than_the_sound_says(truth_world, noise, seed, recall):
    """Made 64: no boundary showed where a bad phrase began since the phrase before can have
    ended, and its region started 2 s before the tap of the phrase before, on good material
    (recall 0.769). It now starts at the earliest weaker change (novelty at 3/4 of the bar)
    after that point (0.861; 0.780 without it). Made 49: a bad phrase whose start was found
    on the first quiet frame after a good one took the 0.3 s margin a change of level or
    timbre needs, though a silence edge is placed to the frame: 0.1 s there (recall 0.651,
    now 0.723; 0.05 s leaked on recorded 315)."""
    _, _, m = _good_takes(truth_world, seed, noise)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m
    assert m["recall"] >= recall, m


def test_a_persons_own_earlier_tap_bounds_a_dropped_phrase_whose_end_no_boundary_showed(truth_world):
    """Made seed 82: a short bad phrase (1.55 s) right after a good one, no silence between;
    no boundary showed its end, so its covering region took the end 2 s before its tap, which
    lay before both people's taps of the good phrase: those were not taken for taps of the
    phrase before, and the region started at the earliest change since an older tap, 4 s of
    good material back (recall 0.654). A person taps each phrase once, so their own earlier
    taps all mark phrases before this one: such a tap now bounds the start (the phrase before
    ended at most 2 s before it) and, past the guessed end, the end (recall 0.816)."""
    _, _, m = _good_takes(truth_world, 82)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m
    assert m["recall"] >= 0.75, m


def test_a_tie_goes_to_a_symbol_the_moment_is_like_two_agreed_moments_of(truth_world):
    """Made seed 150: two good phrases one person tagged bad. The tie was decided only where
    the nearest agreed good moment was within 0.15 times the nearest bad one, and these were
    not (0.16-0.3 is usual for a tied good phrase; on the 162 tied bad phrases of seeds 1-180
    the lowest was 0.33): recall 0.665. The mean distance to the two nearest agreed moments
    of a symbol tells look-alikes apart better (tied bad phrases: 0.54 and more; within 1/3
    decides 72% of the tied good phrases, against 52%): recall 0.724."""
    _, run, m = _good_takes(truth_world, 150)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m
    assert m["recall"] >= 0.7, m
    by_sound = [r for r in run.removals() if "decided by the sound: like this take's moments agreed good" in r.reason]
    assert by_sound, [r.reason for r in run.removals() if "tie" in r.reason]


def test_a_tie_is_decided_by_the_sound_only_where_it_is_clear(truth_world):
    """Seed 29: two good phrases that one person tagged bad. A tie was bad, and they were
    lost (the largest loss of recall: 109 s of 1,633 s on recorded-noise seeds 1-30). With
    `tie = "sound"` a tie goes to the symbol the phrase clearly sounds like among this take's
    moments agreed without a tie; where it is not clear, bad still vetoes, and what the bad
    tag's covering region held beyond the kept phrase stays bad."""
    truth = tt.truth_take(29)
    tt.add_to_world(truth_world, truth)
    text = GOOD_TAKES.read_text()
    assert '\ntie = "sound"' in text
    run = preview(truth_world.ws, truth_world.db, parse_pipeline(text, str(GOOD_TAKES)), [truth_world.session])
    m = tt.measure(run.clips, truth)
    assert m["bad_samples"] == 0 and m["duplicated_samples"] == 0 and m["precision"] >= 0.95, m
    by_sound = [r for r in run.removals() if "decided by the sound" in r.reason]
    kept = {r.replaced_by[0] for r in by_sound}
    assert len(kept) == 2, [r.reason for r in by_sound]
    assert all("agreed on good" in r.reason and "like this take's moments agreed good" in r.reason for r in by_sound)
    for clip in kept:     # each is a good phrase
        on_good = sum(max(0, min(clip.end, e) - max(clip.start, s)) for s, e in truth.of("good"))
        assert clip.symbols == ("good",) and on_good >= 0.9 * (clip.end - clip.start), clip

    by_rule = parse_pipeline(text.replace('\ntie = "sound"', '\ntie = "rule"'), str(GOOD_TAKES))
    before = tt.measure(preview(truth_world.ws, truth_world.db, by_rule, [truth_world.session]).clips, truth)
    assert before["bad_samples"] == 0 and m["recall"] >= before["recall"] + 0.05, (m, before)


def test_phrase_regions_follow_the_music_and_a_corrected_region_is_kept(truth_world):
    truth = tt.truth_take(3)
    tid = tt.add_to_world(truth_world, truth)
    pipeline = truth_world.pipeline('[[steps]]\nuse = "region-from-taps"\nmode = "phrase"\n')
    # correct one region by hand: curation must never recompute it
    first = list_markers(truth_world.db, tid)[0]
    update_marker(truth_world.db, first.id, by="ana", start_sample=first.start_sample + 4800,
                  end_sample=first.end_sample - 4800)
    run = preview(truth_world.ws, truth_world.db, pipeline, [truth_world.session])
    by_marker = {c.marker_ids[0]: c for c in run.clips}
    assert (by_marker[first.id].start, by_marker[first.id].end) == (first.start_sample + 4800, first.end_sample - 4800)
    # the other regions end within 0.2 s of the phrase their tap followed, for most taps
    close = total = 0
    for c in run.clips:
        if c.marker_ids[0] == first.id:
            continue
        ended = max(e for s, e, _ in truth.segments if e < c.tap)
        total += 1
        close += abs(c.end - ended) <= 0.2 * tt.SR
    assert close >= 0.75 * total, (close, total)
    fixed = preview(truth_world.ws, truth_world.db,
                    truth_world.pipeline('[[steps]]\nuse = "region-from-taps"\nmode = "window"\n'), [truth_world.session])
    assert all(c.duration_s > 5 for c in fixed.clips if c.marker_ids[0] != first.id)   # the window option stays


def test_rehearsal_markers_shows_the_region_curation_will_use(truth_world):
    truth = tt.truth_take(2)
    tid = tt.add_to_world(truth_world, truth)
    home = ["--home", str(truth_world.ws.home)]
    plain = CliRunner().invoke(main, [*home, "markers", "monday", "--take", "1"])
    shown = CliRunner().invoke(main, [*home, "markers", "monday", "--take", "1", "--regions", "good-takes"])
    assert plain.exit_code == 0 and shown.exit_code == 0, shown.output
    first = start_run(truth_world.ws, truth_world.db, load_pipeline(GOOD_TAKES), [truth_world.session]).step()
    assert first.name == "region-from-taps"
    want = {c.marker_ids[0]: (c.start, c.end) for c in first.clips}
    rows = [json.loads(line) for line in shown.output.splitlines() if line.strip()]
    assert len(rows) == len(list_markers(truth_world.db, tid)) == len(want)
    assert all((r["start_sample"], r["end_sample"]) == want[r["id"]] for r in rows)
    assert plain.output != shown.output            # the markers' own windows differ from the phrases
