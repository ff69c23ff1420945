"""A preallocated ring of frames: the callback writes, the writer reads, nobody allocates.

Single producer (the audio callback), single consumer (the writer). `written` is the
absolute number of frames ever written; it is updated after the copy, so a reader that
reads `written` first never sees a half-written block. A reader that falls more than
`capacity` frames behind has lost audio: `read` says so instead of returning garbage.
"""

from __future__ import annotations

import numpy as np


class Ring:
    def __init__(self, capacity: int, channels: int, dtype=np.float32):
        self.buf = np.zeros((capacity, channels), dtype=dtype)
        self.capacity, self.channels = capacity, channels
        self.written = 0

    def write(self, block: np.ndarray) -> None:
        """Called from the audio callback: at most two slice copies, no allocation of data."""
        n = len(block)
        i = self.written % self.capacity
        first = min(n, self.capacity - i)
        self.buf[i:i + first] = block[:first]
        if first < n:
            self.buf[:n - first] = block[first:]
        self.written += n

    def write_silence(self, n: int) -> None:
        """From the callback: a gap in the stream (frames the client never got) as n frames
        of silence, so `written` keeps counting the stream's frames. No allocation."""
        z = min(n, self.capacity)
        i = (self.written + n - z) % self.capacity
        first = min(z, self.capacity - i)
        self.buf[i:i + first] = 0.0
        if first < z:
            self.buf[:z - first] = 0.0
        self.written += n

    def oldest(self) -> int:
        """The oldest absolute frame still held."""
        return max(0, self.written - self.capacity)

    def views(self, start: int, stop: int) -> list[np.ndarray]:
        """Views of frames [start, stop) in order (one or two). Raises if they were overwritten."""
        if start < self.oldest():
            raise OverflowError(f"frames {start}..{self.oldest()} were overwritten before being written to disk")
        if stop > self.written or start > stop:
            raise ValueError(f"frames [{start}, {stop}) not available (written {self.written})")
        i, j = start % self.capacity, stop % self.capacity
        if stop - start == 0:
            return []
        if i < j:
            return [self.buf[i:j]]
        return [self.buf[i:], self.buf[:j]] if j else [self.buf[i:]]
