"""End to end on real parts: JACK dummy server -> PortAudio -> recorder process -> W64 on disk."""

from __future__ import annotations

import time

import numpy as np
import soundfile as sf

from rehearsal.audio import Recorder, RecorderConfig
from tests.support.jackplayer import JackPlayer
from tests.support.signals import find_offset as _find_offset, holds


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_seeded_noise_lands_on_disk_sample_for_sample(jack_server, tmp_path):
    sr = jack_server.rate
    noise = (np.random.default_rng(1234).standard_normal((sr * 10, 2)) * 0.25).astype(np.float32)
    rec = Recorder(RecorderConfig(channels=2, preroll_s=1.0)).open()
    player = JackPlayer("noise-player", channels=2)
    try:
        assert rec.samplerate == sr and rec.channels == 2
        assert len(player.connect_to("PortAudio")) == 2
        path = tmp_path / "take.w64"
        rec.start_take(path)
        player.play(noise)
        assert player.done.wait(60), "player did not finish"
        end_frame = rec.status().frames
        _wait_until(lambda: rec.status().frames > end_frame + 2 * jack_server.period, 10, "two more periods")
        stopped = rec.stop_take()
    finally:
        player.close()
        rec.close()

    recorded, file_sr = sf.read(path, dtype="float32", always_2d=True)
    assert file_sr == sr
    assert stopped.frames == len(recorded) == sf.info(path).frames
    offset = _find_offset(recorded, noise[:256])
    # after one global offset, every sample is equal: nothing dropped, nothing duplicated, and
    # only the counted silence of a dropout (a stall of the server, if any) in between
    assert holds(recorded, noise, offset) <= stopped.gap_frames
