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
alignment stays exact) and `behind` counts it; the model hears a jump. Nothing here ever
waits for the module: the caller runs `work()` (the calls) after it has handed on the block.
"""

from __future__ import annotations

import numpy as np

QUALITY = "HQ"


def _resampler(src: int, dst: int):
    if src == dst:
        return None
    import soxr

    return soxr.ResampleStream(src, dst, 1, dtype="float32", quality=QUALITY)


def _through(rs, x: np.ndarray) -> np.ndarray:
    return x if rs is None else rs.resample_chunk(x)


def buffering_latency(room_rate: int, model_rate: int, block: int, buffer: int, allowance: int) -> int:
    """Room samples of priming so that block k can be taken before block k is given: found
    by running the two resamplers on silence, plus `allowance` for the call itself."""
    rs_in, rs_out = _resampler(room_rate, model_rate), _resampler(model_rate, room_rate)
    zeros = np.zeros(block, np.float32)
    pending = produced = need = 0
    blocks = -(-(buffer * room_rate // model_rate + 4 * block) // block) * 4 + 32
    for k in range(blocks):
        need = max(need, (k + 1) * block - produced)
        pending += len(_through(rs_in, zeros))
        calls, pending = divmod(pending, buffer)
        if calls:
            produced += len(_through(rs_out, np.zeros(calls * buffer, np.float32)))
    return int(need + allowance)


class ModuleStream:
    def __init__(self, module, info, room_rate: int = 48000, block: int = 256, allowance: int | None = None):
        self.module, self.info = module, info
        self.room_rate, self.model_rate, self.block = int(room_rate), int(info.sample_rate), int(block)
        self.buffer = int(info.buffer)
        self.encode_decode = info.play == "encode-decode"
        self.in_channels = info.audio_method.in_channels
        if allowance is None:   # one buffer's duration at the room's rate, in whole blocks
            allowance = -(-self.buffer * self.room_rate // self.model_rate // self.block) * self.block
        self.allowance = int(allowance)
        self.latency = buffering_latency(self.room_rate, self.model_rate, self.block, self.buffer, self.allowance)
        self.behind = 0               # times it could not keep up (restarts)
        self.calls = 0
        self.controls: np.ndarray | None = None   # the latent of the last call's last frame
        self.override: np.ndarray | None = None
        self._restart()

    def _restart(self) -> None:
        self.rs_in = _resampler(self.room_rate, self.model_rate)
        self.rs_out = _resampler(self.model_rate, self.room_rate)
        self.fifo_in = np.zeros(0, np.float32)
        self.fifo_out = np.zeros(self.latency, np.float32)
        self.priming = False

    def pull(self) -> np.ndarray | None:
        """The next room block of output, or None when the module fell behind (the stream
        restarts: the next blocks are its priming, silent, until the module answers again)."""
        if len(self.fifo_out) < self.block:
            self.behind += 1
            self._restart()
            self.priming = True
            return None
        y, self.fifo_out = self.fifo_out[:self.block], self.fifo_out[self.block:]
        return y

    def push(self, x: np.ndarray) -> None:
        """One room block of input (cheap: resampled into the input FIFO)."""
        got = _through(self.rs_in, np.ascontiguousarray(x, np.float32))
        if len(got):
            self.fifo_in = np.concatenate([self.fifo_in, got])

    def work(self) -> None:
        """Every whole buffer waiting in the input FIFO through the module (the slow part)."""
        while len(self.fifo_in) >= self.buffer:
            chunk, self.fifo_in = self.fifo_in[:self.buffer], self.fifo_in[self.buffer:]
            y = self.call(chunk)
            out = _through(self.rs_out, y)
            if len(out):
                self.fifo_out = np.concatenate([self.fifo_out, out])

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


def render_offline(path, info, audio: np.ndarray, room_rate: int = 48000, block: int = 256) -> np.ndarray:
    """`audio` (mono, room rate) through the module as the host streams it, latency removed:
    the output has the input's length and frame t answers input frame t."""
    from .imported import load_module

    stream = ModuleStream(load_module(path), info, room_rate, block, allowance=0)
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
