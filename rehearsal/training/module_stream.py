"""An imported nn~ module run on a stream of room-rate blocks (the play host, previews).

    room blocks (48 kHz, R samples) -> soxr -> model rate -> FIFO -> module call per buffer
                                                                     (B samples, batch 1)
    room blocks <- FIFO (primed with `latency` samples) <- soxr <- room rate <---/

A module at another rate than the room's is resampled both ways (soxr, HQ, streaming, so
no block edge is heard). A module that answers a buffer of B samples at once (RAVE: 2048)
is given B at a time. The output FIFO is primed with `latency` samples of silence so a
block can always be taken *before* the module is called on the input just received: the
call then has one buffer's duration to finish (the `allowance`) while the room goes on.
`latency` is found by running the two resamplers on silence (their chunking and delay are
exact to the sample) and adding the allowance; the output at room frame t answers the input
at t - latency.

When the module is slower than real time the output FIFO runs dry: the block is missing
(`pull` returns None: the play callback plays the dry input there and counts a glitch), the
stream is restarted at the next block (its input FIFO, resamplers and priming anew, so the
alignment stays exact; an answer still being computed is dropped) and `behind` counts it;
the model hears a jump. In the play host the calls run on a thread of their own, so taking
and giving blocks never waits for the module.
"""

from __future__ import annotations

import functools

import numpy as np

QUALITY = "HQ"
SIMULATED_S = 40
MIN_ALLOWANCE = 1024   # samples (21 ms at 48 kHz): 768 left a 512-sample module behind 7 times in 20 s at load 9


def _resampler(src: int, dst: int, quality: str = QUALITY):
    if src == dst:
        return None
    import soxr

    return soxr.ResampleStream(src, dst, 1, dtype="float32", quality=quality)


def _through(rs, x: np.ndarray) -> np.ndarray:
    return x if rs is None else rs.resample_chunk(x)


@functools.lru_cache(maxsize=32)
def buffering_latency(room_rate: int, model_rate: int, block: int, buffer: int, allowance: int,
                      quality: str = QUALITY) -> int:
    """Room samples of priming so that block k can be taken before block k is given: found
    by running the two resamplers on silence, plus `allowance` for the call itself."""
    rs_in, rs_out = _resampler(room_rate, model_rate, quality), _resampler(model_rate, room_rate, quality)
    zeros = np.zeros(block, np.float32)
    pending = produced = need = 0
    # soxr hands out its output in bursts (HQ: up to about 700 samples late at times, in a
    # pattern tens of seconds long): about 40 s of blocks find the worst case (0.15 s here),
    # one more block is the margin; past it a block plays dry and the stream restarts aligned
    blocks = SIMULATED_S * room_rate // block if rs_in is not None else 4 * (buffer // block + 2)
    for k in range(blocks):
        need = max(need, (k + 1) * block - produced)
        pending += len(_through(rs_in, zeros))
        calls, pending = divmod(pending, buffer)
        if calls:
            produced += len(_through(rs_out, np.zeros(calls * buffer, np.float32)))
    return int(need + allowance + (block if rs_in is not None else 0))


class ModuleStream:
    """`threaded`: the module's calls run on a thread of their own (TorchScript releases the
    GIL while it computes), so `pull`/`push` never wait for them: the play host hands on
    every block on time while a 2048-sample RAVE call is under way. Without it (offline
    renders) `work()` makes the calls."""

    def __init__(self, module, info, room_rate: int = 48000, block: int = 256, allowance: int | None = None,
                 threaded: bool = False, quality: str = QUALITY):
        import threading

        self.module, self.info = module, info
        self.room_rate, self.model_rate, self.block = int(room_rate), int(info.sample_rate), int(block)
        self.buffer = int(info.play_buffer or info.buffer)
        self.encode_decode = info.play == "encode-decode"
        self.in_channels = info.audio_method.in_channels
        if allowance is None:   # one buffer's duration at the room's rate, in whole blocks, at least
            # MIN_ALLOWANCE: a small buffer's call is short, but its thread can be kept waiting
            allowance = max(MIN_ALLOWANCE, -(-self.buffer * self.room_rate // self.model_rate // self.block)
                            * self.block)
        self.allowance = int(allowance)
        self.quality = quality      # soxr's: HQ (the default) holds back ~1,000-2,000 samples, QQ none
        self.latency = buffering_latency(self.room_rate, self.model_rate, self.block, self.buffer, self.allowance,
                                         quality)
        self.behind = 0               # times it could not keep up (restarts)
        self.calls = 0
        self.call_s = 0.0             # seconds spent in the module
        self.controls: np.ndarray | None = None   # the latent of the last call's last frame
        self.override: np.ndarray | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._epoch = 0
        self._closed = False
        self.restart()
        self._thread = threading.Thread(target=self._run, name="module-calls", daemon=True) if threaded else None

    def restart(self, skip: int = 0) -> None:
        """Start anew from the next block given (`skip`: samples of output already due)."""
        with self._lock:
            self._epoch += 1
            self.rs_in = _resampler(self.room_rate, self.model_rate, self.quality)
            self.rs_out = _resampler(self.model_rate, self.room_rate, self.quality)
            self.fifo_in = np.zeros(0, np.float32)
            self.fifo_out = np.zeros(self.latency - skip, np.float32)

    def pull(self) -> np.ndarray | None:
        """The next room block of output, or None when the module fell behind (the stream
        restarts: the next blocks are its priming, silent, until the module answers again)."""
        with self._lock:
            if len(self.fifo_out) >= self.block:
                y, self.fifo_out = self.fifo_out[:self.block], self.fifo_out[self.block:]
                return y
        self.behind += 1
        self.restart(skip=self.block)   # the fresh stream's first block is this one: dry
        return None

    def push(self, x: np.ndarray) -> None:
        """One room block of input (cheap: resampled into the input FIFO). The calls' thread
        starts with the first block, from the caller's thread, whose scheduling it inherits
        (the play host's is real-time)."""
        if self._thread is not None and self._thread.ident is None:
            self._thread.start()
        with self._lock:
            got = _through(self.rs_in, np.ascontiguousarray(x, np.float32))
            if len(got):
                self.fifo_in = np.concatenate([self.fifo_in, got])
                if len(self.fifo_in) >= self.buffer:
                    self._wake.notify()

    def _take(self):
        """(epoch, a whole buffer of input) or None (caller holds the lock)."""
        if len(self.fifo_in) < self.buffer:
            return None
        chunk, self.fifo_in = self.fifo_in[:self.buffer], self.fifo_in[self.buffer:]
        return self._epoch, chunk

    def _give(self, epoch: int, y: np.ndarray) -> None:
        """The module's answer for a buffer, into the output FIFO (caller holds the lock);
        dropped when the stream restarted meanwhile."""
        if epoch == self._epoch:
            out = _through(self.rs_out, y)
            if len(out):
                self.fifo_out = np.concatenate([self.fifo_out, out])

    def work(self) -> None:
        """Threaded: raise what the calls raised. Else every whole buffer waiting in the
        input FIFO through the module (the slow part)."""
        if self._thread is not None:
            if self.error is not None:
                raise self.error
            return
        while True:
            with self._lock:
                job = self._take()
            if job is None:
                return
            y = self.call(job[1])
            if not np.isfinite(y).all():
                raise FloatingPointError("NaN or infinite samples")
            with self._lock:
                self._give(job[0], y)

    def _run(self) -> None:
        import time

        while True:
            with self._lock:
                job = self._take()
                while job is None and not self._closed:
                    self._wake.wait()
                    job = self._take()
                if self._closed:
                    return
            try:
                t0 = time.perf_counter()
                y = self.call(job[1])
                self.call_s += time.perf_counter() - t0
                if not np.isfinite(y).all():
                    raise FloatingPointError("NaN or infinite samples")
            except BaseException as exc:
                self.error = exc
                return
            with self._lock:
                self._give(job[0], y)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(5.0)
        with self._lock:   # soxr objects alive at interpreter exit make nanobind print leak reports
            self.rs_in = self.rs_out = None

    def call(self, chunk: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(chunk)).view(1, 1, -1)
        if self.in_channels > 1:
            x = x.expand(1, self.in_channels, -1).contiguous()
        with torch.inference_mode():
            if self.encode_decode:
                z = self.module.encode(x)
                self.controls = z[0, :, -1].numpy().copy()
                z = apply_override(z, self.override)
                y = self.module.decode(z)
            else:
                y = self.module(x)
        self.calls += 1
        y = y[0].mean(0) if y.shape[1] > 1 else y.reshape(-1)
        return y.numpy().astype(np.float32, copy=False)


def apply_override(z, override):
    """Latent channels held from outside (NaN, or past the end: the model's own)."""
    if override is None:
        return z
    import torch

    held = override[:z.shape[1]]
    free = np.isnan(held)
    if free.all():
        return z
    z = z.clone()
    idx = torch.from_numpy(np.flatnonzero(~free))
    z[0, idx, :] = torch.from_numpy(held[~free].astype(np.float32)).unsqueeze(-1)
    return z


def render_offline(module, info, audio: np.ndarray, room_rate: int = 48000, block: int = 256) -> np.ndarray:
    """`audio` (mono, room rate) through the module (or the file it is in) as the host
    streams it, latency removed: the output has the input's length and frame t answers
    input frame t."""
    from pathlib import Path

    from .imported import load_module

    if isinstance(module, (str, Path)):
        module = load_module(Path(module))
    stream = ModuleStream(module, info, room_rate, block, allowance=0)
    n = len(audio)
    total = -(-(n + stream.latency) // block) * block
    x = np.zeros(total, np.float32)
    x[:n] = audio
    out = np.zeros(total, np.float32)
    for k in range(total // block):
        y = stream.pull()
        if y is not None:
            out[k * block:(k + 1) * block] = y
        stream.push(x[k * block:(k + 1) * block])
        stream.work()
    return out[stream.latency:stream.latency + n]
