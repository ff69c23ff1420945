"""Each built-in step keeps and drops what it should, on real rendered audio in a real workspace."""

from __future__ import annotations

import pytest

from rehearsal.curation import StepFailed, decide, preview
from tests.support.curation_fixtures import PARTS, PLUCK_ONSETS, SR, CurationWorld, step


@pytest.fixture
def world(workspace, db):
    w = CurationWorld.create(workspace, db)
    w.take = w.add_take()
    return w


def run(world, *steps_toml):
    return preview(world.ws, world.db, world.pipeline("".join(steps_toml)), [world.session])


def regions(clips):
    return sorted((round(c.start_s, 3), round(c.end_s, 3), c.symbols, c.who) for c in clips)


def removed(run_, index=1):
    return {r.clip.marker_ids[0] if r.clip.marker_ids else None: r.reason for r in run_.removals(index)}


def test_select_symbols_keeps_and_drops(world):
    good = world.tag_part(world.take, "good", "a3")
    bad = world.tag_part(world.take, "bad", "noise")
    breath = world.tag_part(world.take, "breath", "a4")
    r = run(world, step("select-symbols", keep=["good", "breath"], drop=["bad"]))
    assert [c.marker_ids for c in r.clips] == [(good,), (breath,)]
    assert removed(r) == {bad: "tagged bad (drop)"}
    r = run(world, step("select-symbols", keep=["good"]))
    assert [c.marker_ids for c in r.clips] == [(good,)]
    assert set(removed(r)) == {bad, breath}
    assert "not one of good" in removed(r)[breath]


def test_select_symbols_refuses_a_symbol_no_notation_has(world):
    world.tag_part(world.take, "good", "a3")
    with pytest.raises(StepFailed, match=r"unknown symbol\(s\) god"):
        run(world, step("select-symbols", keep=["god"]))


def test_agreement_needs_k_people_and_merges_their_tags(world):
    ana = world.tag(world.take, "good", 4.1, 5.7, who="ana")
    bo = world.tag(world.take, "good", 4.3, 5.9, who="bo")
    solo = world.tag_part(world.take, "good", "a4", who="ana")
    other_symbol = world.tag(world.take, "breath", 4.2, 5.8, who="cy")
    r = run(world, step("agreement", min_people=2))
    assert regions(r.clips) == [(4.1, 5.9, ("good",), ("ana", "bo"))]
    merged = r.clips[0]
    assert set(merged.marker_ids) == {ana, bo} and merged.made_by == "agreement"
    reasons = removed(r)
    assert reasons[solo] == "tagged by 1 (ana); 2 needed"
    assert reasons[other_symbol] == "tagged by 1 (cy); 2 needed"
    assert reasons[ana] == reasons[bo] == "2 people agreed (ana, bo)"
    r = run(world, step("agreement", min_people=2, bounds="intersection"))
    assert regions(r.clips) == [(4.3, 5.7, ("good",), ("ana", "bo"))]
    r = run(world, step("agreement", min_people=2, symbols=["breath"]))   # only breath needs agreement
    assert {c.marker_ids for c in r.clips} == {(ana,), (bo,), (solo,)}


def test_region_from_taps_uses_the_notation_window_and_snaps_to_onsets(world):
    # a tap 0.8 s after a pluck's attack (14.5 + ...): the window starts 0.9 s before the tap
    pluck = world.tag(world.take, "good", 0, 0.1, tap_s=15.3)
    breath = world.tag(world.take, "breath", 0, 0.1, tap_s=9.0)   # breath: 1.0 s before, 1.0 s after
    r = run(world, step("region-from-taps", before_s=0.9, snap="start"))
    by_marker = {c.marker_ids[0]: c for c in r.clips}
    assert by_marker[pluck].start_s == pytest.approx(PLUCK_ONSETS[0], abs=0.011)   # 14.4 snapped to 14.5
    assert by_marker[pluck].end_s == pytest.approx(15.8, abs=1e-4)                  # notation: after 0.5 s
    assert by_marker[breath].start_s == pytest.approx(PARTS["a4"][0], abs=0.011)    # 8.0: the tone's attack
    assert by_marker[breath].end_s == pytest.approx(10.0, abs=1e-4)
    assert "start on the onset" in removed(r)[pluck]
    r = run(world, step("region-from-taps", before_s=0.9, snap="none"))
    assert {c.marker_ids[0]: round(c.start_s, 3) for c in r.clips}[pluck] == 14.4


def test_trim_silence_cuts_silent_ends_and_drops_silent_clips(world):
    long = world.tag(world.take, "good", 0.5, 5.5)        # 1.5 s of floor, then noise and tone
    silent = world.tag_part(world.take, "good", "quiet2")
    tone = world.tag_part(world.take, "good", "a3")
    r = run(world, step("trim-silence", threshold_db=-50, pad_s=0.05))
    by_marker = {c.marker_ids[0]: c for c in r.clips}
    assert by_marker[long].start_s == pytest.approx(2.0 - 0.05, abs=0.02)
    assert by_marker[long].end_s == pytest.approx(5.5, abs=1e-6)
    assert by_marker[tone].key == r.source_clips[[c.marker_ids[0] for c in r.source_clips].index(tone)].key
    assert removed(r)[silent].startswith("silent throughout")
    assert "trimmed 1.4" in removed(r)[long]


def test_loudness_gate_drops_quiet_clips(world):
    loud = world.tag_part(world.take, "good", "a3")
    soft = world.tag_part(world.take, "good", "soft_a3")
    floor = world.tag_part(world.take, "good", "quiet1")
    r = run(world, step("loudness-gate", min_db=-40))
    assert [c.marker_ids[0] for c in r.clips] == [loud]
    assert removed(r)[soft].startswith("loudness -54")
    assert set(removed(r)) == {soft, floor}
    r = run(world, step("loudness-gate", min_db=-60, max_db=-30))
    assert [c.marker_ids[0] for c in r.clips] == [soft]


def test_noise_filter_drops_noise_or_keeps_only_noise(world):
    noise = world.tag_part(world.take, "good", "noise")
    tone = world.tag_part(world.take, "good", "a3")
    r = run(world, step("noise-filter", max_flatness=0.3))
    assert [c.marker_ids[0] for c in r.clips] == [tone]
    assert removed(r)[noise].startswith("noise-like: flatness 0.5")
    r = run(world, step("noise-filter", max_flatness=0.3, keep="noisy"))
    assert [c.marker_ids[0] for c in r.clips] == [noise]


def test_pitch_range_keeps_one_register(world):
    a2, a3, a4 = (world.tag_part(world.take, "good", p) for p in ("a2", "a3", "a4"))
    noise = world.tag_part(world.take, "good", "noise")
    r = run(world, step("pitch-range", low="C3", high="C5"))
    assert sorted(c.marker_ids[0] for c in r.clips) == [a3, a4]
    assert removed(r)[a2] == "pitch A2-A2 (110-110 Hz) leaves C3-C5"
    assert removed(r)[noise].startswith("unpitched")
    r = run(world, step("pitch-range", low=100, high=300, unpitched="keep"))
    assert sorted(c.marker_ids[0] for c in r.clips) == sorted([a2, a3, noise])


def test_balance_caps_duration_per_symbol_and_per_person(world):
    ids = [world.tag(world.take, "good", t, t + 1.0, who="ana" if t < 6 else "bo") for t in (2, 4, 6, 8, 12)]
    breath = world.tag(world.take, "breath", 14, 15, who="bo")
    r = run(world, step("balance", max_s=2.0, by="symbol"))
    assert sorted(c.marker_ids[0] for c in r.clips) == sorted(ids[:2] + [breath])
    assert removed(r)[ids[2]] == "symbol good already has 2.0 s of its 2 s (earliest first)"
    r = run(world, step("balance", max_s=1.0, by="person", prefer="longest"))
    assert sorted(c.who for c in r.clips) == [("ana",), ("bo",)]
    r = run(world, step("balance", max_s=1.0, by="person", prefer="loudest"))
    kept = {c.who[0]: c.start_s for c in r.clips}
    assert kept == {"ana": 2.0, "bo": 8.0}   # noise (2-4 s) and the 440 Hz tone (8-10 s) are loudest


def test_dedupe_drops_the_same_moment_tagged_twice(world):
    first = world.tag(world.take, "good", 4.1, 5.9, who="ana")
    again = world.tag(world.take, "breath", 4.15, 5.9, who="bo")
    other = world.tag_part(world.take, "good", "a4")
    r = run(world, step("dedupe", min_overlap=0.8))
    assert len(r.clips) == 2
    merged = next(c for c in r.clips if c.start_s == pytest.approx(4.1))
    assert merged.symbols == ("good", "breath") and merged.who == ("ana", "bo")
    assert set(merged.marker_ids) == {first, again}
    assert removed(r)[again].startswith("near-identical to take#")
    r = run(world, step("dedupe", min_overlap=0.8, merge_labels=False))
    assert {c.marker_ids for c in r.clips} == {(first,), (other,)}


def test_dedupe_by_descriptors_finds_repeated_material_across_takes(world):
    take2 = world.add_take()            # the same rendering: identical audio
    world.tag_part(world.take, "good", "a3")
    dup = world.tag_part(take2, "good", "a3")
    world.tag_part(world.take, "good", "noise")
    r = run(world, step("dedupe", max_distance=0.05, merge_labels=False))
    assert len(r.clips) == 2
    assert removed(r)[dup].endswith("(descriptor distance 0.000)")


def test_segment_cuts_long_regions_at_onsets(world):
    plucks = world.tag(world.take, "good", 14.2, 21.9)
    short = world.tag_part(world.take, "good", "a3")
    r = run(world, step("segment", max_s=2.7, min_s=0.8))
    chunks = [c for c in r.clips if c.marker_ids == (plucks,)]
    assert len(chunks) == 4
    cuts = [c.start_s for c in chunks[1:]]
    assert cuts == pytest.approx([16.5, 18.5, 20.5], abs=0.011)          # on the attacks
    assert chunks[0].start_s == pytest.approx(14.2) and chunks[-1].end_s == pytest.approx(21.9)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))   # nothing lost, nothing doubled
    assert all(c.made_by == "segment" for c in chunks)
    assert "cut into 4 chunks (3 cuts on onsets)" in removed(r)[plucks]
    assert any(c.marker_ids == (short,) for c in r.clips)              # short clips pass untouched
    r = run(world, step("segment", max_s=3.0, min_s=2.5, tail="drop"))
    assert "dropped" in removed(r)[plucks]


def test_manual_decisions_apply(world, db):
    a3 = world.tag_part(world.take, "good", "a3")
    a4 = world.tag_part(world.take, "good", "a4")
    noise = world.tag_part(world.take, "good", "noise")
    decide(db, take_id=world.take, start=int(4.1 * SR), end=int(5.9 * SR), decision="drop", who="bo",
           note="bleed from the drums")
    decide(db, take_id=world.take, start=int(8.0 * SR), end=int(10.0 * SR), decision="keep", who="ana")
    r = run(world, step("manual"))
    assert sorted(c.marker_ids[0] for c in r.clips) == sorted([a4, noise])
    assert removed(r)[a3].startswith("dropped by bo while reviewing (decision #1): bleed from the drums")
    r = run(world, step("manual", default="drop"))
    assert [c.marker_ids[0] for c in r.clips] == [a4]
    # the latest decision wins
    decide(db, take_id=world.take, start=int(4.0 * SR), end=int(6.0 * SR), decision="keep", who="ana")
    r = run(world, step("manual"))
    assert a3 in [c.marker_ids[0] for c in r.clips]


def test_duration_and_people(world):
    short = world.tag(world.take, "good", 4.0, 4.5, who="ana")
    long = world.tag(world.take, "good", 8.0, 10.0, who="bo")
    r = run(world, step("duration", min_s=1.0))
    assert [c.marker_ids[0] for c in r.clips] == [long]
    assert removed(r)[short] == "0.50 s is shorter than 1 s"
    r = run(world, step("select-people", drop=["bo"]))
    assert [c.marker_ids[0] for c in r.clips] == [short]


def test_steps_chain_and_each_reports_its_own_removals(world):
    world.tag_part(world.take, "bad", "a3")
    world.tag_part(world.take, "good", "quiet1")
    world.tag_part(world.take, "good", "noise")
    kept = world.tag_part(world.take, "good", "a4")
    r = run(world, step("select-symbols", drop=["bad"]), step("loudness-gate", min_db=-40),
            step("noise-filter"))
    assert [c.marker_ids[0] for c in r.clips] == [kept]
    assert [(rep.index, rep.name, rep.clips_in, rep.clips_out) for rep in r.reports] == [
        (1, "select-symbols", 4, 3), (2, "loudness-gate", 3, 2), (3, "noise-filter", 2, 1)]
    assert [len(r.removals(i)) for i in (1, 2, 3)] == [1, 1, 1]
    rem = r.removals(2)[0]
    assert rem.audio_range == (world.take, int(0.1 * SR), int(1.9 * SR))   # what to play to hear the cut


def test_select_symbols_is_set_arithmetic_drop_is_absolute_and_no_sample_twice(world):
    from rehearsal.curation.regions import subtract, union

    assert union([(0, 10), (5, 20), (30, 40)]) == [(0, 20), (30, 40)]
    assert subtract([(0, 20), (30, 40)], [(5, 8), (18, 32)]) == [(0, 5), (8, 18), (32, 40)]
    g1 = world.tag(world.take, "good", 4.0, 10.0, who="ana")
    g2 = world.tag(world.take, "good", 8.0, 12.0, who="bo")      # overlaps g1
    bad = world.tag(world.take, "bad", 9.0, 10.0, who="ana")     # inside both good regions
    r = run(world, step("select-symbols", keep=["good"], drop=["bad"]))
    assert regions(r.clips) == [(4.0, 9.0, ("good",), ("ana", "bo")), (10.0, 12.0, ("good",), ("bo",))]
    assert sorted(r.clips[0].marker_ids) == [g1, g2]
    why = removed(r)
    assert why[bad] == "tagged bad (drop)"
    assert "1.00 s under a region tagged bad by ana" in why[g1]
    assert "merged with 1 overlapping kept region(s)" in why[g2]
    starts = sorted((c.start, c.end) for c in r.clips)
    assert all(a[1] <= b[0] for a, b in zip(starts, starts[1:]))   # no sample in two clips


def test_agreement_rules_decide_each_moment_then_drop_is_absolute(world):
    a1 = world.tag(world.take, "good", 4.0, 6.0, who="ana")
    b1 = world.tag(world.take, "good", 4.2, 6.0, who="bo")
    c1 = world.tag(world.take, "bad", 4.1, 5.9, who="cy")       # cy disagrees on one moment
    a2 = world.tag(world.take, "good", 8.0, 9.0, who="ana")
    c2 = world.tag(world.take, "bad", 8.1, 9.0, who="cy")       # a tie on another
    r = run(world, step("agreement", rule="majority"))
    assert regions(r.clips) == [(4.0, 6.0, ("good",), ("ana", "bo"))]
    why = removed(r)
    assert why[c1] == "ana, bo agreed on good (majority, 2 of 3); cy said bad"
    assert why[a2] == why[c2] == "no agreement (a tie between bad, good)"
    r = run(world, step("agreement", rule="veto", veto="bad"), step("select-symbols", keep=["good"], drop=["bad"]))
    assert r.clips == []                                          # cy's bad vetoes both moments
    assert removed(r)[a1] == "cy agreed on bad (cy's bad vetoes); ana, bo said good"
    r = run(world, step("agreement", rule="person", person="cy"), step("select-symbols", keep=["good"], drop=["bad"]))
    assert r.clips == []
    r = run(world, step("agreement", rule="person", person="ana"), step("select-symbols", keep=["good"], drop=["bad"]))
    assert regions(r.clips) == [(4.0, 6.0, ("good",), ("ana", "bo")), (8.0, 9.0, ("good",), ("ana",))]
    assert {b1, a1} <= set(r.clips[0].marker_ids)
    with pytest.raises(Exception, match="veto"):
        run(world, step("agreement", rule="veto"))


def test_a_withdrawn_person_s_tags_leave_future_datasets_and_undo_brings_them_back(world):
    from rehearsal.store.people import undo_withdraw, withdraw

    ana = world.tag_part(world.take, "good", "a3", who="ana")
    bo = world.tag_part(world.take, "good", "a4", who="bo")
    withdraw(world.db, "bo", by="ana")
    r = run(world, step("select-symbols", keep=["good"]))
    assert [c.marker_ids for c in r.clips] == [(ana,)]
    gone = [x for x in r.removals(0) if x.clip.marker_ids == (bo,)]
    assert gone and gone[0].reason.startswith("bo withdrew their material (")
    row = world.db.execute("SELECT withdrawn_by, withdrawn_at FROM person_withdrawals").fetchone()
    assert row[0] == "ana" and row[1]
    with pytest.raises(ValueError, match="already withdrawn"):
        withdraw(world.db, "bo", by="bo")
    undo_withdraw(world.db, "bo", by="bo")
    assert sorted(c.marker_ids for c in run(world, step("select-symbols", keep=["good"])).clips) == [(ana,), (bo,)]


def test_a_notation_can_ask_for_the_fixed_window_whatever_the_step_says(workspace, db):
    from rehearsal.notation import NotationError, parse_notation
    from tests.support.curation_fixtures import NOTATION

    # breath keeps its fixed window (per symbol); good follows the step (phrase)
    notation = NOTATION.replace('before = 1.0\nafter = 1.0', 'before = 1.0\nafter = 1.0\nregion = "window"')
    w = CurationWorld.create(workspace, db, notation=notation)
    take = w.add_take()
    breath = w.tag(take, "breath", 0, 0.1, tap_s=10.4)      # just after the 440 Hz tone ends
    good = w.tag(take, "good", 0, 0.1, tap_s=6.4)           # just after the 220 Hz tone ends
    r = preview(w.ws, w.db, w.pipeline(step("region-from-taps", mode="phrase", snap="none")), [w.session])
    by_marker = {c.marker_ids[0]: c for c in r.clips}
    assert (by_marker[breath].start_s, by_marker[breath].end_s) == pytest.approx((9.4, 11.4), abs=1e-4)
    assert "the notation's 'breath' asks for its window" in removed(r)[breath]
    assert by_marker[good].end_s == pytest.approx(PARTS["a3"][1], abs=0.06)      # the phrase's end
    everything = parse_notation(NOTATION.replace("[defaults]\n", '[defaults]\nregion = "window"\n'))
    assert {s.region for s in everything.symbols} == {"window"}
    with pytest.raises(NotationError, match=r'symbols\[2\]\.region.*must be "phrase".*got \'windows\''):
        parse_notation(notation.replace('region = "window"', 'region = "windows"'))


def test_agreement_can_weigh_overlap_against_the_longer_region_and_count_each_person_once(world):
    long_good = world.tag(world.take, "good", 4.0, 8.0, who="ana")
    inside_bad = world.tag(world.take, "bad", 5.0, 6.0, who="bo")   # a neighbour's region, inside
    ana = world.tag(world.take, "good", 14.0, 16.0, who="ana")
    bo = world.tag(world.take, "good", 14.0, 16.0, who="bo")
    ana_again = world.tag(world.take, "bad", 14.5, 16.5, who="ana")  # ana's tag of the next moment
    kept = lambda r: sorted(c.marker_ids for c in r.clips)            # noqa: E731
    r = run(world, step("agreement", rule="majority", veto="bad"))
    assert kept(r) == [(inside_bad,), (ana, bo)]          # one moment each: bad vetoes, good wins 2:1
    assert "ana said bad" in removed(r)[ana_again]
    r = run(world, step("agreement", rule="majority", veto="bad", overlap_of="longer", once_each=True))
    assert kept(r) == [(long_good,), (inside_bad,), (ana, bo), (ana_again,)]
    merged = [c for c in r.clips if c.marker_ids == (ana, bo)][0]
    assert merged.who == ("ana", "bo") and (merged.start_s, merged.end_s) == pytest.approx((14.0, 16.0), abs=1e-4)


def test_a_withdrawn_performer_s_take_and_input_channel_leave_future_datasets(world):
    """Mapped as sources are: audio:<device>/ch<N> and take:<session>/<N>; recorded, undoable;
    the generations trained on what they played are listed."""
    import numpy as np

    from rehearsal.curation import commit, materialise_dataset
    from rehearsal.curation.materialise import read_metadata
    from rehearsal.store.people import map_source, trained_on, undo_withdraw, withdraw, withdrawal_text

    n = int(24 * SR)    # channel 1 silent, channel 2 (bo's) a tone
    stereo = world.add_take(np.stack([np.zeros(n), 0.5 * np.sin(np.arange(n) * 0.03)], axis=1).astype(np.float32))
    mono_good = world.tag_part(world.take, "good", "a3", who="ana")
    stereo_good = world.tag(stereo, "good", 4.0, 6.0, who="ana")
    map_source(world.db, "audio:test render/ch2", "bo")          # bo plays the second input
    map_source(world.db, f"take:{world.session}/1", "cy")         # cy played all of take 1
    pipeline = step("select-symbols", keep=["good"])
    v1 = commit(run(world, pipeline), "voice")
    world.db.execute("INSERT INTO generations (label, family, strategy, spec_json, seed, dataset_ref, dataset_version_id, "
                     "dataset_folder, dataset_hash, folder, created_at) VALUES ('convergent', 'f', 's', '{}', 0, "
                     "'voice@1', ?, '', '', '', '2026-12-02T00:00:00Z')", [v1.id])
    world.db.conn.commit()
    withdraw(world.db, "bo", by="ana")
    withdraw(world.db, "cy", by="cy")
    assert [r[0] for r in world.db.execute("SELECT withdrawn_by FROM person_withdrawals ORDER BY id")] == ["ana", "cy"]
    assert trained_on(world.db, "bo") == trained_on(world.db, "cy") == [(1, "convergent", "voice@1")]
    assert "already trained on material bo tagged or played (1):\n  g0001 convergent" in withdrawal_text(world.db, "bo", False)
    r = run(world, pipeline)
    assert [(c.marker_ids, c.channels) for c in r.clips] == [((stereo_good,), (0,))]
    why = {x.clip.marker_ids[0]: x.reason for x in r.removals(0)}
    assert why[mono_good].startswith("the take was played by cy, who withdrew (")
    assert why[stereo_good].startswith("left out channel 2 (bo played it; withdrew ")
    v2 = commit(r, "voice")
    meta = read_metadata(materialise_dataset(world.ws, world.db, v2.ref))
    assert [(m["channels"], m["input_channels"], m["augmentation"]) for m in meta] == [(1, [1], None)]
    import soundfile as sf

    data, _ = sf.read(str(materialise_dataset(world.ws, world.db, v2.ref) / meta[0]["path"]), always_2d=True)
    assert data.shape[1] == 1 and np.abs(data).max() == 0.0     # what bo played is not in it
    assert trained_on(world.db, "bo") == [(1, "convergent", "voice@1")]   # v2 holds nothing of bo's
    undo_withdraw(world.db, "bo", by="ana")
    undo_withdraw(world.db, "cy", by="ana")
    assert sorted((c.marker_ids, c.channels) for c in run(world, pipeline).clips) == [((mono_good,), None),
                                                                                    ((stereo_good,), None)]


def test_augment_names_every_clip_it_makes_and_is_in_no_shipped_pipeline(world):
    import json

    import numpy as np
    import soundfile as sf

    from rehearsal.curation import commit, load_pipeline, materialise_dataset, shipped_pipelines
    from rehearsal.curation.materialise import read_metadata

    shipped = {name: [s.use for s in load_pipeline(path).steps] for name, path in shipped_pipelines().items()}
    assert shipped and not any("augment" in uses for uses in shipped.values()), shipped     # never on by default
    for part in ("a3", "a4", "plucks"):
        world.tag_part(world.take, "good", part)
    world.tag(world.take, "good", 4.5, 9.5, who="bo")           # overlaps a3 and a4: merged, not doubled
    r = run(world, step("select-symbols", keep=["good"]), step("segment", max_s=2.0, min_s=0.5),
            step("augment", copies=2, noise_db=-70.0, seed=3))
    plain = [c for c in r.clips if not c.augment]
    made = [c for c in r.clips if c.augment]
    assert len(made) == 2 * len(plain) and plain
    held = np.zeros(int(24 * SR), np.int32)
    for c in plain:
        held[c.start:c.end] += 1
    assert held.max() == 1                                       # recorded samples: none in two clips
    for c in made:
        p = dict(c.augment)
        assert c.made_by == "augment" and "augmented: copy=" in c.describe()
        assert -6 <= p["gain_db"] <= 3 and abs(p["pitch_semitones"]) <= 0.5 and 0.95 <= p["stretch"] <= 1.05
        assert p["noise_db"] == -70.0
    info = commit(r, "small")
    folder = materialise_dataset(world.ws, world.db, info.ref)
    meta = read_metadata(folder)
    assert [m["augmentation"] is None for m in meta] == [not c.augment for c in r.clips]
    audio, checked = {}, 0
    for m, c in zip(meta, r.clips):
        data, _ = sf.read(str(folder / m["path"]), always_2d=True)
        if not c.augment:
            audio[(c.take_id, c.start, c.end)] = data
        if c.augment:
            assert m["augmentation"] == {"step": "augment", **dict(c.augment)} and m["path"].endswith("-aug.wav")
            want = (c.end - c.start) * dict(c.augment)["stretch"]
            assert abs(len(data) - want) < 0.02 * SR, (len(data), want)     # sox's stretch, to 20 ms
            source = audio[(c.take_id, c.start, c.end)]
            level = 20 * np.log10(np.sqrt(np.mean(data ** 2)) / np.sqrt(np.mean(source ** 2)))
            if np.sqrt(np.mean(source ** 2)) > 0.01:              # above -40 dBFS: the -70 dB noise is nothing
                checked += 1
                assert abs(level - dict(c.augment)["gain_db"]) < 0.5, (level, c.augment)   # the gain, and only it
        else:
            assert len(data) == c.end - c.start
    assert checked >= 2
    stored = json.loads(world.db.execute("SELECT augment_json FROM dataset_clips WHERE augment_json IS NOT NULL "
                                         "LIMIT 1").fetchone()[0])
    assert set(stored) == {"copy", "gain_db", "pitch_semitones", "stretch", "noise_db", "seed"}
    with pytest.raises(Exception, match="augmentation is for small datasets"):
        run(world, step("select-symbols", keep=["good"]), step("augment", max_dataset_s=1.0))
    with pytest.raises(Exception, match="not a small change"):
        run(world, step("augment", pitch_semitones=[-7.0, 7.0]))


def test_review_leaves_out_a_take_whose_audio_is_gone_and_says_so(world):
    from rehearsal.curation.review import review

    other = world.add_take()
    kept = world.tag_part(world.take, "good", "a3")
    world.tag_part(other, "good", "a4")
    (world.ws.session_audio_dir(world.session) / "take-2.wav").unlink()
    seen = review(world.ws, world.db, world.session)
    assert seen.unreadable == [2] and list(seen.regions) == [kept]
    assert not world.db.execute("SELECT COUNT(*) FROM plugin_problems").fetchone()[0]   # not a plugin's fault


def test_a_tie_goes_to_what_the_moment_clearly_sounds_like_else_the_veto(world):
    t = world.take
    for who in ("ana", "bo"):                                     # agreed: two tones good, two noises bad
        world.tag(t, "good", 4.1, 5.9, who=who)
        world.tag(t, "good", 10.1, 11.9, who=who)
        world.tag(t, "bad", 2.05, 2.6, who=who)
        world.tag(t, "bad", 2.75, 3.3, who=who)
    tone_good = world.tag(t, "good", 8.1, 9.9, who="ana")         # ties: a tone...
    tone_bad = world.tag(t, "bad", 8.0, 9.95, who="cy")
    noise_good = world.tag(t, "good", 3.45, 3.95, who="ana")      # ...and a noise
    noise_bad = world.tag(t, "bad", 3.4, 3.98, who="cy")
    # the tied tone (440 Hz) is like the two agreed tones (220 and 110 Hz) by 1.25 on average
    agreement = step("agreement", rule="majority", veto="bad", tie="sound", sound_distance=1.5, sound_ratio=0.5)
    r = run(world, agreement, step("select-symbols", keep=["good"], drop=["bad"]))
    why = removed(r)
    assert tone_good not in why                                   # it goes on as it was
    assert why[tone_bad].startswith("ana agreed on good (a tie between bad, good, decided by the sound: like "
                                    "this take's moments agreed good ("), why[tone_bad]
    assert why[tone_bad].endswith("cy said bad; what cy's bad covered beyond it stays bad"), why[tone_bad]
    assert "decided by the sound: like this take's moments agreed bad" in why[noise_good], why[noise_good]
    kept = regions(r.clips)
    assert (8.1, 9.9, ("good",), ("ana",)) in kept                 # the tied tone is kept, ...
    assert not any(s < 3.98 and e > 3.4 for s, e, _, _ in kept)   # ... the tied noise is not
    # what cy's bad held beyond the kept tone stays bad: it is not in the dataset
    assert not any(s < 8.1 and e > 8.0 for s, e, _, _ in kept) and not any(s < 9.95 and e > 9.9 for s, e, _, _ in kept)
    replaced = next(x for x in r.removals(1) if x.clip.marker_ids == (tone_bad,))
    assert sorted((k.start / SR, k.end / SR, k.symbols) for k in replaced.replaced_by) == [
        (8.0, 8.1, ("bad",)), (8.1, 9.9, ("good",)), (9.9, 9.95, ("bad",))]
    with pytest.raises(Exception, match=r"test.toml:\d+: steps\[1\].tie: expected one of 'rule', 'sound', got 'coin'"):
        run(world, step("agreement", rule="majority", tie="coin"))


def test_a_tie_with_too_few_agreed_moments_to_compare_with_is_vetoed(world):
    t = world.take
    for who in ("ana", "bo"):                                     # one agreed good moment, two bad
        world.tag(t, "good", 4.1, 5.9, who=who)
        world.tag(t, "bad", 2.05, 2.6, who=who)
        world.tag(t, "bad", 2.75, 3.3, who=who)
    tied = world.tag(t, "good", 8.1, 9.9, who="ana")
    world.tag(t, "bad", 8.0, 9.95, who="cy")
    r = run(world, step("agreement", rule="majority", veto="bad", tie="sound", sound_distance=1.0, sound_ratio=0.5))
    assert removed(r)[tied] == "cy agreed on bad (a tie between bad, good; bad vetoes); ana said good"
