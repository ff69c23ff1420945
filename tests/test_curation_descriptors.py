"""Descriptors on real rendered audio: values where the audio is known, and computed once per take."""

from __future__ import annotations

import numpy as np
import pytest

from rehearsal.curation import (DESCRIPTOR_STATS, AnalysisParams, analyse_array, analyse_file, clip_descriptors,
                                take_descriptors)
from tests.support.curation_fixtures import PARTS, PLUCK_ONSETS, SR, CurationWorld, render_take, step


@pytest.fixture(scope="module")
def take_audio():
    return render_take()


@pytest.fixture(scope="module")
def fd(take_audio):
    return analyse_array(take_audio, SR)


def part(fd, name, inset=0.2):
    a, b = PARTS[name]
    return clip_descriptors(fd, int((a + inset) * SR), int((b - inset) * SR))


def test_loudness_pitch_flatness_where_known(fd):
    quiet, noise, a3, a4, a2, soft = (part(fd, p) for p in ("quiet1", "noise", "a3", "a4", "a2", "soft_a3"))
    assert quiet["loudness_db"] < -75
    assert noise["loudness_db"] == pytest.approx(-12.0, abs=0.5)
    assert a3["loudness_db"] == pytest.approx(-14.9, abs=0.5)
    assert soft["loudness_db"] == pytest.approx(-54.0, abs=1.0)
    for d, f0 in ((a3, 220.0), (a4, 440.0), (a2, 110.0), (soft, 220.0)):
        assert d["pitch_hz"] == pytest.approx(f0, rel=0.005)
        assert d["pitched_fraction"] > 0.95
        assert d["pitch_confidence"] > 0.9
    assert noise["pitched_fraction"] < 0.2
    assert noise["flatness"] > 0.4          # white noise: ~0.56
    assert a3["flatness"] < 0.01            # three partials: far from flat
    assert 200 < a3["centroid_hz"] < 500
    assert noise["centroid_hz"] > 8000
    assert quiet["active_fraction"] == 0.0 and quiet["pitch_hz"] is None


def test_onsets_land_on_the_attacks(fd):
    plucks = fd.onsets_between(int(PARTS["plucks"][0] * SR), int(PARTS["plucks"][1] * SR))
    assert len(plucks) == len(PLUCK_ONSETS)
    errors = np.abs(plucks / SR - np.array(PLUCK_ONSETS))
    assert errors.max() <= fd.hop / SR     # within one frame (10.7 ms)
    # nothing fires inside steady tones or silence
    assert len(fd.onsets_between(int(4.3 * SR), int(5.8 * SR))) == 0
    assert len(fd.onsets_between(int(0.2 * SR), int(1.8 * SR))) == 0


def test_yinfast_gives_what_yin_gives(take_audio):
    fast = analyse_array(take_audio, SR, AnalysisParams(pitch_method="yinfast"))
    slow = analyse_array(take_audio, SR, AnalysisParams(pitch_method="yin"))
    for name in ("a3", "a4", "a2", "plucks"):
        f, s = part(fast, name), part(slow, name)
        assert f["pitch_hz"] == pytest.approx(s["pitch_hz"], rel=0.002)
        assert f["pitch_confidence"] == pytest.approx(s["pitch_confidence"], abs=0.02)


def test_centroid_matches_aubio_specdesc(take_audio, fd):
    import aubio

    pv, sd = aubio.pvoc(fd.win, fd.hop), aubio.specdesc("centroid", fd.win)
    x = np.ascontiguousarray(take_audio[: 600 * fd.hop])
    ours = fd.centroid_hz[:600]
    theirs = np.array([sd(pv(x[i * fd.hop:(i + 1) * fd.hop]))[0] for i in range(600)]) * SR / fd.win
    sounding = fd.loudness_db[:600] > -60
    assert sounding.sum() > 100
    np.testing.assert_allclose(ours[sounding], theirs[sounding], rtol=1e-3, atol=1.0)


def test_file_analysis_equals_array_analysis(workspace, db, take_audio):
    world = CurationWorld.create(workspace, db)
    tid = world.add_take(take_audio, subtype="FLOAT")
    from_file = analyse_file(workspace.resolve(db["takes"].get(tid)["path"]))
    from_array = analyse_array(take_audio, SR)
    np.testing.assert_array_equal(from_file.onsets, from_array.onsets)
    np.testing.assert_allclose(from_file.loudness_db, from_array.loudness_db, atol=1e-3)
    np.testing.assert_allclose(from_file.pitch_hz, from_array.pitch_hz, atol=1e-2)


def test_descriptors_are_computed_once_per_take_and_parameters(workspace, db):
    world = CurationWorld.create(workspace, db)
    tid = world.add_take()
    take = db["takes"].get(tid)
    before = DESCRIPTOR_STATS["computed"]
    first = take_descriptors(workspace, db, take)
    assert DESCRIPTOR_STATS["computed"] == before + 1
    loaded = DESCRIPTOR_STATS["loaded"]
    second = take_descriptors(workspace, db, take)
    assert DESCRIPTOR_STATS["computed"] == before + 1          # not analysed again
    assert DESCRIPTOR_STATS["loaded"] == loaded + 1
    np.testing.assert_array_equal(first.pitch_hz, second.pitch_hz)
    rows = list(db.query("SELECT take_id, params_key, path FROM take_descriptors"))
    assert len(rows) == 1 and rows[0]["take_id"] == tid
    assert workspace.resolve(rows[0]["path"]).exists()
    # other parameters: another analysis, another row
    take_descriptors(workspace, db, take, AnalysisParams(hop=256, win=1024))
    assert DESCRIPTOR_STATS["computed"] == before + 2
    assert db.execute("SELECT COUNT(*) FROM take_descriptors").fetchone()[0] == 2
    # the audio file changes: analysed again
    import soundfile as sf
    sf.write(str(workspace.resolve(take["path"])), render_take(seed=5) * 0.5, SR, subtype="PCM_24")
    take_descriptors(workspace, db, take)
    assert DESCRIPTOR_STATS["computed"] == before + 3
    # a damaged cache file is not trusted: analysed again
    path = workspace.resolve(db.execute("SELECT path FROM take_descriptors WHERE params_key = ?",
                                        [AnalysisParams().key()]).fetchone()[0])
    path.write_bytes(b"not an npz")
    take_descriptors(workspace, db, take)
    assert DESCRIPTOR_STATS["computed"] == before + 4


def test_second_curation_run_reads_the_cache(workspace, db):
    from rehearsal.curation import preview

    world = CurationWorld.create(workspace, db)
    tid = world.add_take()
    world.add_take()
    world.tag_part(tid, "good", "a3")
    pipeline = world.pipeline(step("loudness-gate", min_db=-40))
    before = DESCRIPTOR_STATS["computed"]
    preview(workspace, db, pipeline, ["monday"])
    assert DESCRIPTOR_STATS["computed"] == before + 1        # only the take with a clip is analysed
    preview(workspace, db, pipeline, ["monday"])
    assert DESCRIPTOR_STATS["computed"] == before + 1


def test_bad_analysis_parameters_are_refused():
    with pytest.raises(ValueError, match="hop must be a power of two"):
        AnalysisParams(hop=500)
    with pytest.raises(ValueError, match="pitch_method"):
        AnalysisParams(pitch_method="yinfft")


def test_stereo_takes_are_analysed_as_their_mono_mix_and_exported_in_stereo(workspace, db):
    from rehearsal.curation import commit, materialise_dataset, preview, read_metadata
    import soundfile as sf

    mono = render_take()
    stereo = np.stack([mono, 0.5 * mono], axis=1)
    world = CurationWorld.create(workspace, db)
    tid = world.add_take(stereo, subtype="FLOAT")
    fd = take_descriptors(workspace, db, db["takes"].get(tid))
    np.testing.assert_allclose(fd.pitch_hz, analyse_array(0.75 * mono, SR).pitch_hz, atol=0.05)
    world.tag_part(tid, "good", "a3")
    commit(preview(workspace, db, world.pipeline(step("loudness-gate")), ["monday"]), "st")
    folder = materialise_dataset(workspace, db, "st")
    (record,) = read_metadata(folder)
    data, _ = sf.read(folder / record["path"])
    assert record["channels"] == 2 and data.shape[1] == 2
