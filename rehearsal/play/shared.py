"""Shared memory between the play process and its model hosts.

    play process (callback)                       model host (one per generation)
    InputRing: the model's input channel -------> reads block k once written >= (k+1)*R
    Latent: values held from outside (seqlock) -> applied to every block
    Symbol: the current symbol (seqlock) -------> steers a model steered by symbols
    HostRing <----------------------------------- block k's output, its status, then its tag

Each side has one writer per field. A host writes a block's samples and status first and
its tag last; the callback reads the tag first and again after copying, so it never plays
a half-written or overwritten block.
"""

from __future__ import annotations

import time
from multiprocessing import shared_memory

import numpy as np

OK, MODEL_ERROR, NON_FINITE = 0, 1, 2
KINDS = {MODEL_ERROR: "model-error", NON_FINITE: "non-finite"}
MAX_LATENT = 64
SYMBOL_BYTES = 256     # a symbol id, UTF-8 (OSC takes at most 64 characters)
ERROR_BYTES = 512
STAMPS = 4096          # render blocks whose completion time the input ring keeps


def _attach(name: str) -> shared_memory.SharedMemory:
    shm = shared_memory.SharedMemory(name=name)
    try:  # attached segments are the creator's to unlink (Python < 3.13 registers them too)
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")
    except Exception:
        pass
    return shm


class _Shared:
    """Named numpy views into one shared-memory segment."""

    LAYOUT: list = []   # (name, dtype, shape-from-params)

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool, **params):
        self.shm, self.owner, self.params = shm, owner, params
        offset = 0
        for name, dtype, shape in self._layout(**params):
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            offset = (offset + 63) // 64 * 64
            setattr(self, name, np.ndarray(shape, dtype=dtype, buffer=shm.buf, offset=offset))
            offset += n

    @classmethod
    def _size(cls, **params) -> int:
        size = 0
        for _, dtype, shape in cls._layout(**params):
            size = (size + 63) // 64 * 64 + int(np.prod(shape)) * np.dtype(dtype).itemsize
        return size

    @classmethod
    def create(cls, **params):
        shm = shared_memory.SharedMemory(create=True, size=cls._size(**params))
        obj = cls(shm, True, **params)
        np.ndarray((shm.size,), np.uint8, shm.buf)[:] = 0
        obj.init()
        return obj

    @classmethod
    def attach(cls, name: str, **params):
        return cls(_attach(name), False, **params)

    def init(self) -> None:
        pass

    @property
    def name(self) -> str:
        return self.shm.name

    def close(self) -> None:
        for name, _, _ in self._layout(**self.params):
            setattr(self, name, None)
        self.shm.close()
        if self.owner:
            try:
                self.shm.unlink()
            except FileNotFoundError:
                pass


class InputRing(_Shared):
    """The model's input channel, raw (hosts apply the gain), and the settings hosts read."""

    @staticmethod
    def _layout(capacity: int):
        return [("data", np.float32, (capacity,)), ("head", np.int64, (2,)), ("gain", np.float64, (1,)),
                ("latent", np.float32, (MAX_LATENT,)), ("latent_seq", np.int64, (1,)),
                ("latent_n", np.int64, (1,)), ("follow", np.float64, (1,)),
                ("symbol", np.uint8, (SYMBOL_BYTES,)), ("symbol_seq", np.int64, (1,)), ("symbol_n", np.int64, (1,)),
                ("stamps", np.float64, (STAMPS,))]

    def init(self) -> None:
        self.gain[0] = 1.0
        self.follow[0] = np.nan      # a co-performer's follow, live (NaN: as the play began)

    @property
    def capacity(self) -> int:
        return self.params["capacity"]

    @property
    def written(self) -> int:
        return int(self.head[0])

    def write(self, block: np.ndarray) -> None:
        """Callback: copy, then publish the count."""
        n, cap = len(block), self.capacity
        w = int(self.head[0])
        i = w % cap
        first = min(n, cap - i)
        self.data[i:i + first] = block[:first]
        if first < n:
            self.data[:n - first] = block[first:]
        self.head[0] = w + n

    def read(self, start: int, out: np.ndarray) -> bool:
        """Host: frames [start, start + len(out)); False if they were overwritten meanwhile."""
        n, cap = len(out), self.capacity
        i = start % cap
        first = min(n, cap - i)
        out[:first] = self.data[i:i + first]
        if first < n:
            out[first:] = self.data[:n - first]
        return int(self.head[0]) - start <= cap

    def stamp(self, k: int, t: float) -> None:
        """Callback: render block k was complete at monotonic time t (when its host was woken)."""
        self.stamps[k % STAMPS] = t

    def stamped(self, k: int) -> float:
        """Host: when block k was complete (a block STAMPS or more back reads a later one's time)."""
        return float(self.stamps[k % STAMPS])

    def set_latent(self, values) -> None:
        """Engine: NaN (or past the end) leaves a channel to the model; None releases all."""
        self.latent_seq[0] += 1
        if values is None:
            self.latent_n[0] = 0
        else:
            v = np.asarray(values, np.float32)[:MAX_LATENT]
            self.latent[:len(v)] = v
            self.latent_n[0] = len(v)
        self.latent_seq[0] += 1

    def set_symbol(self, symbol: str | None) -> None:
        """Engine: the symbol a model steered by symbols follows (None: no symbol)."""
        raw = (symbol or "").encode("utf-8")[:SYMBOL_BYTES]
        self.symbol_seq[0] += 1
        self.symbol[:len(raw)] = np.frombuffer(raw, np.uint8)
        self.symbol_n[0] = len(raw)
        self.symbol_seq[0] += 1

    def get_symbol(self, seen: int) -> tuple[int, str | None]:
        """Host: (sequence, symbol) when it changed since sequence `seen`, else (seen, None);
        "" is no symbol."""
        for _ in range(100):
            s = int(self.symbol_seq[0])
            if s == seen:
                return seen, None
            if s % 2:
                continue
            raw = bytes(self.symbol[:int(self.symbol_n[0])])
            if int(self.symbol_seq[0]) == s:
                return s, raw.decode("utf-8", "replace")
        return seen, None

    def get_latent(self) -> np.ndarray | None:
        for _ in range(100):
            s = int(self.latent_seq[0])
            if s % 2:
                continue
            n = int(self.latent_n[0])
            values = self.latent[:n].copy()
            if int(self.latent_seq[0]) == s:
                return values if n else None
        return None


# host header fields
(STATE, FIRST_BLOCK, HOP, CONTEXT, LATENT_CHANNELS, ACTIVE, RENDERED, SKIPPED, TIMES_COUNT,
 FAIL_STATUS, BEHIND, GC_RUNS, GC_US, GC_MAX_US) = range(14)
LOADING, READY, FAILED, DONE = 0, 1, 2, 3
TIMES = 1 << 15


class HostRing(_Shared):
    """One host's output: blocks of R samples with tags and statuses, its render times, and
    what each block waited for: `waits` (parallel to `times`) is from the callback that
    completed the block's input to the host starting on it; `trace` holds when the host
    started and finished the block in each slot (monotonic, as the callback's stamps)."""

    @staticmethod
    def _layout(blocks: int, block: int):
        return [("out", np.float32, (blocks, block)), ("tags", np.int64, (blocks,)),
                ("status", np.int64, (blocks,)), ("header", np.int64, (16,)), ("times", np.float64, (TIMES,)),
                ("waits", np.float64, (TIMES,)), ("trace", np.float64, (blocks, 2)), ("error", np.uint8, (ERROR_BYTES,))]

    def init(self) -> None:
        self.tags[:] = -1
        self.header[FIRST_BLOCK] = -1

    @property
    def blocks(self) -> int:
        return self.params["blocks"]

    def put(self, k: int, y: np.ndarray, status: int = OK, started: float = 0.0) -> None:
        """Block k's samples and status, then its tag; `started`: when the host began it."""
        i = k % self.blocks
        self.tags[i] = -1
        self.out[i] = y
        self.status[i] = status
        self.trace[i, 0], self.trace[i, 1] = started, time.monotonic()
        self.tags[i] = k

    def block(self, k: int):
        """(status, samples view) of block k, or None if it is not there."""
        i = k % self.blocks
        if self.tags[i] != k:
            return None
        return int(self.status[i]), self.out[i]

    def still(self, k: int) -> bool:
        return self.tags[k % self.blocks] == k

    def fail(self, k: int, status: int, text: str) -> None:
        """Block k failed (`status`, why): written before the block itself, so a callback that
        finds the block late, or never, still learns why the host stopped (`failure`)."""
        self.set_error(text)
        self.header[FAIL_STATUS] = status
        self.header[STATE] = FAILED
        self.put(k, np.zeros(self.out.shape[1], np.float32), status)

    def failure(self) -> int | None:
        """The status of the block this host failed on, once it has; else None."""
        return int(self.header[FAIL_STATUS]) or None     # only `fail` sets it, never to OK

    def set_error(self, text: str) -> None:
        raw = text.encode("utf-8", "replace")[:ERROR_BYTES - 1]
        self.error[:len(raw)] = np.frombuffer(raw, np.uint8)
        self.error[len(raw)] = 0

    def get_error(self) -> str:
        raw = bytes(self.error)
        return raw[:raw.find(b"\0") if b"\0" in raw else len(raw)].decode("utf-8", "replace")

    def add_time(self, seconds: float, waited: float = 0.0) -> None:
        n = int(self.header[TIMES_COUNT])
        self.times[n % TIMES] = seconds
        self.waits[n % TIMES] = waited
        self.header[TIMES_COUNT] = n + 1

    def recent_times(self) -> np.ndarray:
        n = int(self.header[TIMES_COUNT])
        return self.times[:min(n, TIMES)].copy()

    def recent_waits(self) -> np.ndarray:
        n = int(self.header[TIMES_COUNT])
        return self.waits[:min(n, TIMES)].copy()

    def traced(self, k: int) -> tuple[float, float] | None:
        """(started, finished) of block k while its slot still holds it."""
        i = k % self.blocks
        if self.tags[i] != k:
            return None
        started, finished = float(self.trace[i, 0]), float(self.trace[i, 1])
        return (started, finished) if self.tags[i] == k else None
