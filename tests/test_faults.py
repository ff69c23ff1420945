"""Issue 12: no legitimate tag or second lost to floods, locks or name clashes (real parts).

Real UDP on 127.0.0.x, a real MarkerBus on a real SQLite file with a second connection
holding the write lock, real processes allocating take numbers on one session.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import unicodedata

import pytest

from rehearsal.markers.osc import OscSource
from rehearsal.store import db as store_db
from rehearsal.store import open_db
from rehearsal.store.sessions import get_or_create_session
from tests.support.markerbus import BusHarness
from tests.test_osc_source import NOTATION, bundle, message, udp_sender


@pytest.fixture
def harness(workspace):
    h = BusHarness(workspace, NOTATION)
    yield h
    h.close()


def hold_write_lock(db_path) -> sqlite3.Connection:
    other = sqlite3.connect(str(db_path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE takes SET device = device")
    return other


def a_new_bus_stores_the_journals(harness) -> None:
    """The harness's bus is replaced by a new one, which stores the journals it finds (as
    after a crash); the harness closes it."""
    from rehearsal.markers import MarkerBus

    harness.bus.close()
    harness.bus = MarkerBus(harness.db_path, harness.clock, harness.notation).start()
    assert harness.bus.flush()


async def test_flooders_under_their_own_limit_never_cost_a_legitimate_sender_a_tag(harness, caplog):
    """Finding 2: 8 senders each under the per-sender limit filled the one queue; 10 of 100
    legitimate tags were lost to "marker queue full", each rejection printed."""
    # the OSC bound across senders (TOTAL_RATE) is lifted here: this is the bus's own bound
    osc = await OscSource(harness.bus, harness.notation, host="0.0.0.0", port=0, total_rate=1e6,
                          allow=[f"127.0.0.{i}" for i in range(2, 11)]).start()
    lock = hold_write_lock(harness.db_path)   # the bus is stuck behind it: the queue fills
    try:
        flooders = [udp_sender(f"127.0.0.{i}") for i in range(3, 11)]
        legit = udp_sender("127.0.0.2")
        packet = bundle(0, *[message("/rehearsal/tag", "bad")] * 60)
        for round_ in range(34):              # 8 x 2,040 tags: each within its 2,000/s burst
            for f in flooders:
                f.sendto(packet, ("127.0.0.1", osc.port))
            sent = (round_ + 1) * len(flooders)
            while osc.counts["packets"] < sent:   # the loop has read them (no kernel drops)
                await asyncio.sleep(0)
        for _ in range(100):
            legit.sendto(message("/rehearsal/tag", "good", "legit"), ("127.0.0.1", osc.port))
        while osc.counts["packets"] < 34 * 8 + 100:
            await asyncio.sleep(0)
        assert osc.stats()["counts"]["tags"] > 10_000   # the bound was really reached
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert await asyncio.to_thread(harness.bus.flush, 30)
    good = [m for m in harness.markers() if m.symbol == "good"]
    assert len(good) == 100
    rejections = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejections) < 10, f"{len(rejections)} log lines for rejections"
    osc.close()


def test_a_lock_past_the_busy_timeout_journals_tags_and_stores_them_in_order(harness, monkeypatch):
    """Finding 4: a write lock held past the busy timeout made the bus reject whole batches."""
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 300)
    from rehearsal.markers import MarkerBus, TagEvent
    harness.bus.close()
    bus = harness.bus = MarkerBus(harness.db_path, harness.clock, harness.notation).start()
    seen = []
    bus.listen(seen.append)
    bus.begin_take(harness.take_id, start_frame=0, sample_rate=harness.rate)
    assert bus.flush()
    lock = hold_write_lock(harness.db_path)
    try:
        import time
        t0 = time.monotonic()
        for i in range(40):
            bus.submit(TagEvent(target="good", source="key", t=t0 - 5 + i * 0.01))
        assert bus.flush()
        journal = bus.journal_path(harness.take_id)
        assert journal.exists() and len(journal.read_text().splitlines()) == 40
        assert not [m for m in seen if type(m).__name__ == "Rejected"]
        assert [m for m in seen if type(m).__name__ == "Delayed" and m.journalled]
        for i in range(40, 60):
            bus.submit(TagEvent(target="good", source="key", t=t0 - 5 + i * 0.01))
        assert bus.flush()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert bus.flush()
    deadline = time.monotonic() + 10
    while bus.committed < 60 and time.monotonic() < deadline:
        bus.flush(1)
    taps = [m.tap_sample for m in harness.markers()]
    assert len(taps) == 60 and taps == sorted(taps)
    assert not journal.exists()
    assert len([m for m in seen if type(m).__name__ == "Delayed"]) == 2


def _allocate(home, kind, n, out, start):
    """One process numbering takes on session "shared": as recording does, or as play does
    (two takes and a play row a time)."""
    from rehearsal.store import Workspace
    from rehearsal.store.takes import create_next_take
    ws = Workspace.at(home)
    db = open_db(ws.db_path)
    sid = get_or_create_session(db, "shared")
    nid = db.execute("SELECT id FROM notations LIMIT 1").fetchone()[0]
    got = []
    start.wait(60)        # both processes number at the same time
    for _ in range(n):
        if kind == "record":
            _, number = create_next_take(db, session_id=sid, path_of=lambda k: f"audio/shared/take-{k:03d}.w64",
                                         format="W64", subtype="FLOAT", sample_rate=48000, channels=1,
                                         device="t", notation_id=nid)
            got.append(number)
        else:
            from rehearsal.play.room import create_play_takes
            from rehearsal.store.plays import play_takes
            play_id, _, _ = create_play_takes(
                ws, db, sid, nid, "W64", None, 48000, 1, "t", None,
                dict(latency_samples=0, block_samples=256, fade_ms=10.0, fade_curve="equal-power", dry_wet=1.0,
                     input_gain=1.0, device="t", engine_pid=None))
            got += [db.execute("SELECT number FROM takes WHERE id = ?", [i]).fetchone()[0]
                    for i in play_takes(db, play_id)]
    out.put((kind, got))


def test_record_and_play_on_one_session_get_distinct_take_numbers(harness, workspace):
    """Finding 5: take number read, then inserted, without a lock: IntegrityError. Record and
    play number takes with one mechanism (`take_numbering`): a recorder and a player on one
    session, each in its own process, get 1..80 between them; play's pairs stay consecutive."""
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_allocate, args=(workspace.home, kind, n, out, start))
             for kind, n in (("record", 40), ("play", 20))]
    for p in procs:
        p.start()
    got = dict([out.get(timeout=60), out.get(timeout=60)])
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sorted(got["record"] + got["play"]) == list(range(1, 81))
    pairs = got["play"]
    assert all(pairs[i + 1] == pairs[i] + 1 for i in range(0, len(pairs), 2))


def test_session_names_that_sanitise_alike_get_their_own_folders(workspace):
    """Finding 5: `x/y` and `x_y`, `a.` and `a`, NFC and NFD, `CON` shared one folder."""
    from rehearsal.store.sessions import session_folder
    db = open_db(workspace.db_path)
    names = ["x/y", "x_y", "a.", "a", unicodedata.normalize("NFC", "café"),
             unicodedata.normalize("NFD", "café"), "CON", "_CON", "Take", "take"]
    folders = [session_folder(db, get_or_create_session(db, n)) for n in names]
    assert len({f.casefold() for f in folders}) == len(names), folders
    assert folders[0] == "x_y" and folders[2] == "a"          # the first keeps the plain name
    assert session_folder(db, get_or_create_session(db, "x_y")) == folders[1]   # kept, stable


JOURNALLING_BUS = """
import os, signal, sys, time
from pathlib import Path
from rehearsal.markers import MarkerBus, TagEvent
from rehearsal.notation import parse_notation
from rehearsal.store import db as store_db
db_path, take_id, notation, step = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
store_db.BUSY_TIMEOUT_MS = 300

class Clock:
    t0 = time.monotonic() - 10
    def frame_at(self, t):
        return round((t - self.t0) * 48000)

if step == "store":   # killed (by itself) between storing a journal and removing it
    unlink = Path.unlink
    def crash(path, *a, **k):
        if path.name.endswith(".markers.journal"):
            os.kill(os.getpid(), signal.SIGKILL)
        return unlink(path, *a, **k)
    Path.unlink = crash
bus = MarkerBus(db_path, Clock(), parse_notation(notation, "<test>")).start()
bus.begin_take(take_id, start_frame=0, sample_rate=48000)
if step == "journal":  # the database is locked: 30 tags go to the journal, then kill -9 from outside
    for i in range(30):
        bus.submit(TagEvent(target="good", source="key", t=time.monotonic() - 5 + i * 0.01))
    bus.flush(30)
    print("journalled", bus.journal_path(take_id).exists(), flush=True)
bus.flush(30)
time.sleep(60)
"""


def test_a_journal_left_by_a_crash_is_stored_once_however_often_the_bus_is_killed(harness):
    """Finding 4: tags journalled while the database was locked, then kill -9: the next bus
    stores them; killed itself between storing them and removing the journal, the bus
    after it stores nothing twice (each journalled tag has a unique id)."""
    import subprocess
    import sys
    from tests.test_osc_source import NOTATION as notation

    journal = harness.bus.journal_path(harness.take_id)
    args = [sys.executable, "-c", JOURNALLING_BUS, str(harness.db_path), str(harness.take_id), notation]
    lock = hold_write_lock(harness.db_path)
    try:
        first = subprocess.Popen(args + ["journal"], stdout=subprocess.PIPE, text=True)
        assert first.stdout.readline().split() == ["journalled", "True"]
        first.kill()                      # kill -9 while the tags wait in the journal
        first.wait(10)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert len(journal.read_text().splitlines()) == 30 and not harness.markers()
    second = subprocess.run(args + ["store"], timeout=60)
    assert second.returncode == -9        # it stored the journal, then died before removing it
    assert journal.exists() and len(harness.markers()) == 30
    a_new_bus_stores_the_journals(harness)      # the third bus
    assert not journal.exists()
    taps = [m.tap_sample for m in harness.markers()]
    assert len(taps) == 30 and taps == sorted(taps)      # once each, in order


def test_undo_and_redo_during_a_lock_wait_in_the_journal_behind_the_tags_they_refer_to(harness, monkeypatch):
    """Finding 4, edits: undo/redo pressed while tags waited in the journal were applied at
    once, on their own (an error behind the lock, or, the lock gone, the undo of an older
    tag before the journal was stored). They are journalled in order with the tags: tag,
    tag, undo, undo, redo undoes exactly the second tag, once, even when the journal is
    stored again (a crash between storing it and removing it)."""
    import time

    from rehearsal.markers import Delayed, MarkerBus, Rejected, TagEvent

    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 300)
    harness.bus.close()
    bus = harness.bus = MarkerBus(harness.db_path, harness.clock, harness.notation).start()
    bus.listen(harness._on_message)
    bus.begin_take(harness.take_id, start_frame=0, sample_rate=harness.rate)
    t0 = time.monotonic() - 5
    bus.submit(TagEvent(target="good", source="key", t=t0))
    assert harness.wait_committed(1)
    first = harness.markers()[0]
    lock = hold_write_lock(harness.db_path)
    try:
        for i, target in enumerate(["good", "bad", "undo", "undo", "redo"], start=1):
            bus.submit(TagEvent(target=target, source="key", t=t0 + i * 0.1, action=target in ("undo", "redo")))
            assert bus.flush()
        journal = bus.journal_path(harness.take_id)
        entries = journal.read_text().splitlines()
        assert len(entries) == 5 and not harness.undone and not harness.rejected
        assert harness.markers() == [first]             # nothing applied behind the lock
        saved = journal.read_text()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert harness.wait_for(lambda ms: any(isinstance(m, Delayed) and m.stored == 5 for m in ms), 10)
    live = harness.markers()
    every = harness.markers(include_deleted=True)
    assert [m.symbol for m in live] == ["good", "good"] and live[0] == first
    undone = [m for m in every if m.deleted_at is not None]
    assert [m.symbol for m in undone] == ["bad"]         # the second tag of the lock, not the first before it
    assert [u.marker.symbol for u in harness.undone] == ["bad", "good"] and len(harness.redone) == 1
    assert not [m for m in harness.messages if isinstance(m, Rejected)]
    assert not journal.exists()

    journal.write_text(saved)                           # the journal again, as after a crash
    a_new_bus_stores_the_journals(harness)
    assert not journal.exists()
    assert harness.markers(include_deleted=True) == every  # nothing stored or undone twice
