"""The store (real SQLite files) and the marker bus that writes to it."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from rehearsal.markers import Committed, MarkerBus, Rejected, TagEvent
from rehearsal.naming import safe_filename
from rehearsal.notation import find_notation, load_notation
from rehearsal.store import open_db
from rehearsal.store.markers import delete_marker, insert_marker, list_markers, redo, undo, update_marker
from rehearsal.store.notations import load_stored_notation, store_notation
from rehearsal.store.people import map_source
from rehearsal.store.sessions import get_or_create_session, list_sessions
from rehearsal.store.takes import create_take
from tests.support.markerbus import LinearClock


@pytest.fixture
def pedal():
    return load_notation(find_notation("good-bad-pedal"))


def _take(db, notation, name="s"):
    nid = store_notation(db, notation)
    sid = get_or_create_session(db, name, nid)
    return create_take(db, session_id=sid, number=1, path="audio/s/take-001.w64", format="W64", subtype="FLOAT",
                       sample_rate=48000, channels=2, device="test", notation_id=nid)


def test_database_is_wal_with_busy_timeout_and_foreign_keys(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO markers (take_id, symbol, glyph, tap_sample, start_sample, end_sample, who, "
                   "source, created_at) VALUES (999, 'x', 'x', 0, 0, 0, 'a', 'key', 'now')")
    assert {"takes_readable", "markers_readable"} <= set(db.view_names())


def test_migrations_apply_once_even_from_two_connections(workspace):
    a, b = open_db(workspace.db_path), open_db(workspace.db_path)
    names = [r[0] for r in a.execute("SELECT name FROM migrations")]
    assert names.count("001_initial") == 1
    assert b.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(names)


def test_a_notation_copy_is_kept_per_content(db, pedal, tmp_path):
    nid = store_notation(db, pedal)
    assert store_notation(db, pedal) == nid
    edited = tmp_path / "pedal.toml"
    edited.write_text(pedal.text.replace('label = "Good"', 'label = "Great"'), encoding="utf-8")
    nid2 = store_notation(db, load_notation(edited))
    assert nid2 != nid
    assert load_stored_notation(db, nid).symbol("good").label == "Good"  # history unchanged


def test_delete_keeps_a_tombstone_and_undo_redo_walk_the_edit_log(db, pedal):
    take = _take(db, pedal)
    m = insert_marker(db, take_id=take, symbol="good", glyph="✓", tap_sample=480000, start_sample=96000,
                      end_sample=576000, who="anna", source="key")
    update_marker(db, m, symbol="bad", glyph="✗", by="anna")
    delete_marker(db, m, by="anna")
    assert list_markers(db, take) == []
    assert list_markers(db, take, include_deleted=True)[0].deleted_at is not None  # tombstone
    assert undo(db, take).deleted_at is None          # undelete
    assert undo(db, take).symbol == "good"            # un-retag
    assert redo(db, take).symbol == "bad"
    assert redo(db, take).deleted_at is not None
    assert redo(db, take) is None
    undo(db, take)
    insert_marker(db, take_id=take, symbol="good", glyph="✓", tap_sample=1, start_sample=0, end_sample=2,
                  who="anna", source="key")
    assert redo(db, take) is None                    # a new edit ends the redo history
    with pytest.raises(ValueError):
        update_marker(db, m, start_sample=10, end_sample=5)


def test_bus_acknowledges_only_committed_markers_and_names_people(workspace, pedal):
    db = open_db(workspace.db_path)
    take = _take(db, pedal)
    map_source(db, "midi:FS-1", "Bea")
    clock = LinearClock(t0=time.monotonic() - 20)  # the stream opened 20 s ago
    bus = MarkerBus(workspace.db_path, clock, pedal)
    acks: list = []
    done = threading.Event()
    bus.listen(lambda m: (acks.append(m), done.set() if len(acks) == 4 else None))
    bus.start()
    bus.begin_take(take, start_frame=0, sample_rate=48000)
    t = clock.time_of(10 * 48000)
    bus.submit(TagEvent("good", "midi:FS-1", t=t))
    bus.submit(TagEvent("good", "osc:10.0.0.5", t=t, who="Cas"))
    bus.submit(TagEvent("good", "osc:10.0.0.6", t=t))
    bus.submit(TagEvent("fortissimo", "key", t=t))
    assert done.wait(10)
    bus.close()
    committed = [m.marker for m in acks if isinstance(m, Committed)]
    rejected = [m for m in acks if isinstance(m, Rejected)]
    assert [m.who for m in committed] == ["Bea", "Cas", "osc:10.0.0.6"]   # unmapped: named by device
    assert "unknown symbol 'fortissimo'" in rejected[0].reason
    stored = list_markers(db, take)
    assert {m.id for m in stored} == {m.id for m in committed}
    m = stored[0]
    assert (m.tap_sample, m.start_sample, m.end_sample) == (480000, 480000 - 8 * 48000, 480000 + 2 * 48000)


def test_taps_before_record_land_in_the_preroll(workspace, pedal):
    db = open_db(workspace.db_path)
    take = _take(db, pedal)
    clock = LinearClock(t0=time.monotonic() - 20)  # the stream opened 20 s ago
    bus = MarkerBus(workspace.db_path, clock, pedal).start()
    acks: list = []
    bus.listen(acks.append)
    bus.submit(TagEvent("good", "key", t=clock.time_of(100_000)))   # no take yet: held, not acknowledged
    bus.submit(TagEvent("bad", "key", t=clock.time_of(10)))         # before the pre-roll began
    assert bus.flush()
    assert acks == []
    bus.begin_take(take, start_frame=50_000, sample_rate=48000)     # pre-roll began at stream frame 50,000
    assert bus.flush()
    bus.close()
    committed = [m.marker for m in acks if isinstance(m, Committed)]
    assert [(m.symbol, m.tap_sample) for m in committed] == [("good", 50_000)]
    assert any(isinstance(m, Rejected) and "before the pre-roll" in m.reason for m in acks)


class _NotStartedClock:
    """A take has begun but its stream has counted no frame yet (a held input file starts with
    the take; on a busy machine its first block comes late): `frame_at` has nothing to say."""

    def frame_at(self, t):
        return None


def test_a_tap_as_the_take_starts_before_its_first_frame_lands_on_the_first_sample(workspace, pedal):
    db = open_db(workspace.db_path)
    take = _take(db, pedal)
    bus = MarkerBus(workspace.db_path, _NotStartedClock(), pedal).start()
    acks: list = []
    bus.listen(acks.append)
    bus.begin_take(take, start_frame=0, sample_rate=48000)
    bus.submit(TagEvent("good", "key"))
    assert bus.flush()
    bus.close()
    assert [type(m) for m in acks] == [Committed]          # was: Rejected, "audio stream has not started"
    assert [(m.symbol, m.tap_sample) for m in list_markers(db, take)] == [("good", 0)]


def test_sessions_list_counts_live_markers(db, pedal):
    take = _take(db, pedal, "tuesday")
    insert_marker(db, take_id=take, symbol="good", glyph="✓", tap_sample=0, start_sample=0, end_sample=1,
                  who="a", source="key")
    gone = insert_marker(db, take_id=take, symbol="good", glyph="✓", tap_sample=0, start_sample=0, end_sample=1,
                         who="a", source="key")
    delete_marker(db, gone)
    (row,) = list_sessions(db)
    assert (row["name"], row["takes"], row["markers"]) == ("tuesday", 1, 1)


@pytest.mark.parametrize("name, expected", [
    ("good", "good"), ("ʃ-fricative", "ʃ-fricative"), ("😂 laugh", "😂 laugh"), ("a/b\\c:d", "a_b_c_d"),
    ("..", "untitled"), ("CON", "_CON"), ("x" * 300, "x" * 120), ("tab\there", "tab_here"),
])
def test_safe_filename_keeps_unicode_and_removes_what_breaks_paths(name, expected):
    assert safe_filename(name) == expected
