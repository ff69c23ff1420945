"""Shared fixtures. A real JACK dummy server starts before any test imports sounddevice."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.jackserver import JackServer, realtime_allowed

_server: JackServer | None = None


def _is_xdist_controller(config) -> bool:
    """With pytest-xdist the controller only hands out tests: each worker starts its own server."""
    if hasattr(config, "workerinput"):
        return False
    return bool(getattr(config.option, "numprocesses", None)) and config.option.dist != "no"


def pytest_configure(config):
    global _server
    if _is_xdist_controller(config):
        return
    if shutil.which("jackd") and not os.environ.get("REHEARSAL_TEST_NO_JACK"):
        # not real-time: then the server waits for late clients instead of dropping their
        # cycle, so what the tests compare (the audio itself) is deterministic on a busy
        # machine. Overflow and xrun figures under load belong to bench/record.py (realtime).
        # The tests judged against real time (marked `serial`, run alone by scripts/test) ask
        # for REHEARSAL_TEST_REALTIME=1: then the server runs as a rehearsal room's does, with
        # its clock on SCHED_FIFO where this machine allows it, still synchronous. A busy CI
        # machine made the non-realtime driver late every few cycles (12 to 89 overflows in
        # each of five 9 s takes), and no take could be judged to 256 samples.
        realtime = os.environ.get("REHEARSAL_TEST_REALTIME") == "1" and realtime_allowed()
        server = JackServer(f"rehearsal-test-{os.getpid()}", realtime=realtime, synchronous=True)
        try:
            _server = server.start()
        except RuntimeError:
            if not realtime:
                raise
            # SCHED_FIFO was allowed to chrt but not to jackd (a container's limits): as before
            server.stop()
            _server = JackServer(f"rehearsal-test-{os.getpid()}", synchronous=True).start()
        _portaudio_sees(_server)


def _portaudio_sees(server: JackServer, tries: int = 5) -> None:
    """PortAudio looks for JACK once, when it initialises: on a busy machine the server can be
    slow to answer that one call (seen with two test processes at load 14), and then PortAudio
    has no JACK for the whole run. Ask again until it is there (each try waits on JACK itself)."""
    import sounddevice as sd

    for _ in range(tries):
        if any("JACK" in api["name"] for api in sd.query_hostapis()):
            return
        sd._terminate()
        sd._initialize()


# With two processes (scripts/test), each takes the next whole file as it finishes one: the
# longest files go first, so that no long file starts last and leaves one process idle.
# Measured with --durations on the whole suite (the RAVE module alone is about a fifth of it).
LONGEST_FIRST = (
    "test_training_rave.py", "test_training_runs.py", "test_training_models.py",
    "test_training_autoregressive.py", "test_tui_curation_models.py", "test_imported_models.py",
    "test_clip_map_umap.py", "test_first_hour.py", "test_tui_play.py", "test_training_resume.py",
    "test_tui_notation.py", "test_play_jack.py", "test_training_corpus.py",
)


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):
        return          # one process: files in their usual order
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))


def pytest_unconfigure(config):
    import sys

    if "sounddevice" in sys.modules:  # PortAudio must let go of JACK before the server stops
        sys.modules["sounddevice"]._terminate()
    if _server is not None:
        _server.stop()


@pytest.fixture(scope="session")
def jack_server() -> JackServer:
    if _server is None:
        pytest.fail("JACK is required for this test: install jackd2 (scripts/setup --test does)")
    return _server


@pytest.fixture
def workspace(tmp_path):
    from rehearsal.store import Workspace

    return Workspace.at(tmp_path / "ws")


@pytest.fixture
def db(workspace):
    from rehearsal.store import open_db

    d = open_db(workspace.db_path)
    yield d
    d.conn.close()
