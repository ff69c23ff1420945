"""The rehearsal room: recorder, marker bus and store wired together.

Both the headless `rehearsal record` and the TUI drive a Room. It owns the order of
things that keeps data safe: recover orphaned takes before anything else, write the take
row before audio starts, tell the bus the take's first frame so taps land on its clock,
flush the bus before a take is finished.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import soundfile as sf

from .audio import Recorder, RecorderConfig, RecorderError
from .audio.recover import recover_takes
from .audio.writer import take_suffix
from .markers import MarkerBus, TagEvent
from .notation import Notation
from .store import Workspace, open_db
from .store.notations import store_notation
from .store.sessions import get_or_create_session, session_folder
from .store.takes import create_next_take, finish_take, get_take

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TakeFinished:
    take: dict


@dataclass(frozen=True)
class TakeFailed:
    take: dict
    error: str


class RoomError(RuntimeError):
    """The room cannot start (a full disk, say): the message says why in words."""


@dataclass(frozen=True)
class InputEnded:
    nonfinite: int = 0    # NaN/inf samples in the input file, recorded as 0


class RoomBase:
    """What the recording room and the play room share: the order that keeps data safe.

    A subclass passes its engine (the child process that writes takes: a Recorder, or a
    play engine's Player) and says how to stop what is running (`_stop_running`).
    Construction frees a disk ballast, opens the store, recovers what a crash left before
    anything else runs and stores the notation; `open` starts the engine, then the marker
    bus on the engine's clock; `close` stops what is running before the bus and engine go.
    """

    def __init__(self, ws: Workspace, session: str, notation: Notation, engine):
        self.ws, self.session_name, self.notation = ws, session, notation
        ws.reserve_space()
        self.engine = engine
        self.db = open_db(ws.db_path)
        try:
            self.recovered = recover_takes(ws, self.db)
            self.notation_id = store_notation(self.db, notation)
            self.session_id = get_or_create_session(self.db, session, self.notation_id)
        except sqlite3.OperationalError as exc:   # a full disk before we start: refuse, keep nothing half-made
            self.db.conn.close()
            ws.release_reserve()
            free = shutil.disk_usage(ws.home).free
            raise RoomError(f"cannot record into {ws.home}: the disk is full or read-only ({free} bytes free;"
                            f" sqlite: {exc}). Free some space and start again; nothing was written.") from None
        self.bus: MarkerBus | None = None
        self._listeners: list[Callable] = []
        self._ended: list = []          # InputEnded once emitted: told to listeners that come later
        self._listen_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def open(self):
        # Sources timestamp taps when their thread gets the GIL; with Python's default 5 ms
        # switch interval a busy UI thread delays that by up to 240 samples. 0.5 ms keeps
        # the error small (measured in bench/record.py).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self.engine.on_event(self._engine_event)
        self.engine.open()
        self.bus = MarkerBus(self.ws.db_path, self.engine, self.notation)
        for cb in self._listeners:
            self.bus.listen(cb)
        self.bus.start()
        return self

    def close(self) -> None:
        try:
            self._stop_running()
        finally:
            if self.bus:
                self.bus.close()
            self.engine.close()
            self._closed()
            self.db.conn.close()

    def listen(self, callback: Callable) -> None:
        """Bus messages (Committed, Undone, Rejected...) and the room's own events. The end of
        the input is a state, not a moment: a listener added after it (a very short input
        file ends while `rehearsal record` is still starting) is told at once."""
        with self._listen_lock:
            self._listeners.append(callback)
            ended = list(self._ended)
        if self.bus:
            self.bus.listen(callback)
        for event in ended:
            callback(event)

    def submit(self, event: TagEvent) -> bool:
        return self.bus.submit(event)

    # -- for subclasses -----------------------------------------------------------------------
    def _stop_running(self) -> None:
        """Finish the take (or play) that is running, if any: called by close."""

    def _closed(self) -> None:
        """The bus and engine are closed; the store is still open."""

    def _engine_event(self, msg) -> None:
        """An event from the engine's process (on its reader thread)."""

    def _end_bus_take(self) -> None:
        """Every tap that arrived is stored before the take's end is written."""
        self.bus.flush()
        self.bus.end_take()

    def _emit(self, event) -> None:
        with self._listen_lock:
            if isinstance(event, InputEnded):
                self._ended.append(event)
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(event)
            except Exception:
                log.exception("%s listener failed", type(self).__name__)


class Room(RoomBase):
    """The recording room: takes from the capture process, taps on its clock."""

    def __init__(self, ws: Workspace, session: str, notation: Notation, recorder_config: RecorderConfig | None = None):
        self.recorder = Recorder(recorder_config or RecorderConfig())
        super().__init__(ws, session, notation, self.recorder)
        self.take: dict | None = None
        self.last_take: dict | None = None   # the take stopped last (labelled from its score, say)
        self._failed: dict | None = None     # the take that failed on its own, until stop_take
        # stop_take (the app's thread) and _fail_take (the capture reader's) each claim the
        # running take under this lock, so a take that fails while it is being stopped is
        # closed once, as failed (the full disk found in CI: both took it)
        self._take_lock = threading.Lock()

    def _stop_running(self) -> None:
        if self.take is not None:
            self.stop_take()

    # -- between takes ----------------------------------------------------------------------
    def set_session(self, name: str) -> int:
        """The session the next takes go to (created if new)."""
        if self.take is not None:
            raise RuntimeError("stop the take first: a take belongs to the session it started in")
        self.session_id = get_or_create_session(self.db, name, self.notation_id)
        self.session_name = name
        return self.session_id

    def rename_session(self, name: str) -> None:
        """The session was renamed: new takes' audio folder follows the new name."""
        self.session_name = name

    def set_notation(self, notation: Notation) -> None:
        """Use `notation` from now on: for taps before record (pre-roll) and the next take."""
        if self.take is not None:
            raise RuntimeError("a take keeps the notation it started with: stop it first")
        self.notation = notation
        self.notation_id = store_notation(self.db, notation)
        if self.bus:
            self.bus.set_notation(notation)

    # -- takes ----------------------------------------------------------------------------
    def start_take(self, notation: Notation | None = None) -> dict:
        if self.take is not None:
            raise RuntimeError("a take is already recording")
        self._failed = None
        if notation is not None:
            self.set_notation(notation)
        folder = self.ws.session_audio_dir(session_folder(self.db, self.session_id))
        suffix = take_suffix(self.recorder.config.format)
        rec = self.recorder
        take_id, number = create_next_take(
            self.db, session_id=self.session_id,
            path_of=lambda n: self.ws.relative(folder / f"take-{n:03d}{suffix}"),
            format=rec.config.format, subtype=rec.config.subtype or "default", sample_rate=rec.samplerate,
            channels=rec.channels, device=rec.device, notation_id=self.notation_id, recorder_pid=rec.pid,
        )
        path = folder / f"take-{number:03d}{suffix}"
        try:
            started = rec.start_take(path)
        except RecorderError as exc:
            finish_take(self.db, take_id, frames=0, overflows=0, status="failed", error=str(exc))
            raise
        # sample 0 is the start of the pre-roll, which began before "record" was pressed
        t0 = datetime.now(timezone.utc) - timedelta(seconds=started.preroll_frames / rec.samplerate)
        self.db.execute("UPDATE takes SET started_at = ?, preroll_frames = ? WHERE id = ?",
                        [t0.isoformat(timespec="milliseconds").replace("+00:00", "Z"), started.preroll_frames, take_id])
        self.take = get_take(self.db, take_id)
        self.take_start_frame = started.start_frame
        self.bus.begin_take(take_id, started.start_frame, rec.samplerate, self.notation)
        return self.take

    def stop_take(self) -> dict:
        with self._take_lock:
            running = self.take
            if running is None and self._failed is not None:
                failed, self._failed = self._failed, None   # it ended on its own: already closed
                return failed
            if running is None:
                raise RuntimeError("no take is recording")
        stopped = self.recorder.stop_take()
        with self._take_lock:
            # the capture process says "take-failed" before it answers "stop", and the reader
            # thread closes the take before it reads the answer: if it failed, it is closed
            claimed = self.take is running
            if claimed:
                self.take = None
            else:
                failed, self._failed = self._failed, None
        take_id = running["id"]
        if not claimed:
            return failed if failed is not None else get_take(self.db, take_id)
        self._end_bus_take()
        finish_take(self.db, take_id, frames=stopped.frames, overflows=stopped.overflows, gap_frames=stopped.gap_frames)
        finished = self.last_take = get_take(self.db, take_id)
        self._emit(TakeFinished(finished))
        return finished

    def take_seconds(self) -> float:
        return self.recorder.status().take_frames / self.recorder.samplerate if self.take else 0.0

    # -- events from the capture process (its reader thread) --------------------------------
    def _engine_event(self, msg) -> None:
        if msg[0] == "gone" and self.take is not None:
            # the capture process died (kill -9, crash): close the take with what reached
            # disk now; the bus refuses every tap after its last frame (Recorder.ended)
            self.recorder.wait_gone()
            ended = self.recorder.ended()
            self._fail_take(ended[1] if ended else "the capture process ended unexpectedly", msg[1].get("frames", 0))
        elif msg[0] == "take-failed" and self.take is not None:
            self._fail_take(msg[1]["error"], msg[1]["frames"])
        elif msg[0] == "input-ended":
            self._emit(InputEnded(msg[1] if len(msg) > 1 else 0))

    def _fail_take(self, error: str, frames_said: int) -> None:
        """Close the running take as failed, with the frames its file holds."""
        with self._take_lock:
            running, self.take = self.take, None
            if running is None:
                return
            take_id = running["id"]
            self._end_bus_take()
            self.ws.release_reserve()  # likely a full disk: give SQLite room to say so
            take = {"id": take_id}
            try:
                db = open_db(self.ws.db_path)  # this thread's own connection
                try:
                    path = self.ws.resolve(get_take(db, take_id)["path"])
                    try:
                        frames = sf.info(str(path)).frames
                    except Exception:
                        frames = frames_said
                    status = self.recorder.status()
                    finish_take(db, take_id, frames=frames, overflows=status.overflows if status else 0,
                                status="failed", error=f"recording stopped: {error}; {frames} frames kept")
                    take = self._failed = get_take(db, take_id)
                finally:
                    db.conn.close()
            except Exception as exc:  # the take stays 'recording'; `rehearsal recover` finishes it later
                error += f" (and the database could not be updated: {exc}; run `rehearsal recover`)"
        self._emit(TakeFailed(take, error))
