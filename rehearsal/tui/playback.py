"""Play a moment (its region of the take) through the output device.

Runs in a thread worker: opening a PortAudio stream and reading the file both block.
sounddevice is imported here, on first use, never at start-up. With no output device
(a machine with no sound card and no JACK server) it says so instead of failing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class PlaybackError(RuntimeError):
    pass


@dataclass(frozen=True)
class Output:
    index: int
    name: str
    channels: int


def default_output(device=None) -> Output:
    try:
        import sounddevice as sd
    except OSError as exc:   # PortAudio library missing
        raise PlaybackError(f"no audio output: PortAudio is not available ({exc})") from None
    try:
        info = sd.query_devices(device, kind="output") if device is not None else sd.query_devices(kind="output")
    except (ValueError, sd.PortAudioError):
        names = [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
        if names:
            raise PlaybackError(f"no output device {device!r}; outputs: {', '.join(names)}") from None
        raise PlaybackError("no output device: this machine has no sound card (or none that can be opened), "
                            "so there is nothing to play through") from None
    return Output(info["index"], info["name"], int(info["max_output_channels"]))


def read_region(path: Path, start: int, end: int) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            start = max(0, min(start, f.frames))
            end = max(start, min(end, f.frames))
            f.seek(start)
            return f.read(end - start, dtype="float32", always_2d=True), f.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise PlaybackError(f"cannot read {path}: {exc}") from None


def fit_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono to every output channel; more channels than the device has are mixed down."""
    have = audio.shape[1]
    if have == channels:
        return audio
    if have == 1:
        return np.repeat(audio, channels, axis=1)
    if channels == 1:
        return audio.mean(axis=1, keepdims=True)
    return audio[:, :channels] if have > channels else np.pad(audio, ((0, 0), (0, channels - have)))


class Player:
    """One region at a time; `stop()` from any thread ends it early."""

    def __init__(self):
        self._stop = threading.Event()
        self.position = 0      # frames played so far
        self.frames = 0

    def stop(self) -> None:
        self._stop.set()

    def play(self, audio: np.ndarray, samplerate: int, output: Output, on_progress=None,
             progress_every: float = 0.05) -> bool:
        """Blocks until the region has played (True) or `stop()` was called (False)."""
        import sounddevice as sd

        data = fit_channels(audio, min(max(output.channels, 1), 2))
        self.frames = len(data)
        done = threading.Event()

        def callback(outdata, frames, time_info, status):
            pos = self.position
            n = min(frames, len(data) - pos)
            outdata[:n] = data[pos:pos + n]
            outdata[n:] = 0
            self.position = pos + n
            if n < frames:
                raise sd.CallbackStop

        try:
            stream = sd.OutputStream(device=output.index, samplerate=samplerate, channels=data.shape[1],
                                     dtype="float32", callback=callback, finished_callback=done.set)
        except (sd.PortAudioError, ValueError) as exc:
            raise PlaybackError(f"cannot play through {output.name}: {exc}") from None
        with stream:
            while not done.wait(progress_every):
                if self._stop.is_set():
                    stream.abort()
                    break
                if on_progress:
                    on_progress(self.position)
        return not self._stop.is_set()


_click_lock = threading.Lock()


def click(output: Output, samplerate: int = 48_000) -> None:
    """A 10 ms click: the optional sound that confirms a tap."""
    import sounddevice as sd

    if not _click_lock.acquire(blocking=False):
        return   # clicks overlapping each other add nothing
    try:
        t = np.arange(int(samplerate * 0.01)) / samplerate
        burst = (0.3 * np.sin(2 * np.pi * 2000 * t) * np.exp(-t * 400)).astype(np.float32)
        sd.play(burst, samplerate, device=output.index, blocking=True)
    finally:
        _click_lock.release()
