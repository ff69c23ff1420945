"""Signal building blocks for the model families, written so TorchScript can compile them.

Everything runs on *blocks* of `hop` samples (256 at 48 kHz). Frame k is analysed from the
`window` samples that END at the end of block k: no look-ahead, so block k can be rendered as
soon as its input has arrived and the algorithmic latency is one block. Training, whole-clip
rendering and the streamed nn~ export all call these same functions, which is why a streamed
render matches a whole-clip render.

Imports torch at module level: only training, rendering and export import this module.
"""


import functools
import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

TWO_PI = 2.0 * math.pi


def frames_of(signal: Tensor, window: int, hop: int) -> Tensor:
    """(B, window - hop + n*hop) -> (B, n, window): frame k ends where block k ends."""
    return signal.unfold(-1, window, hop)


def loudness_db(frames: Tensor, length: int) -> Tensor:
    """Level of the last `length` samples of each frame, in dB (the definition of aubio's
    `db_spl`: 10 log10 of the mean square), floored at -100 dB."""
    tail = frames[..., frames.shape[-1] - length:]
    return 10.0 * torch.log10(tail.pow(2).mean(-1) + 1e-10)


def db_to_rms(db: Tensor) -> Tensor:
    return torch.pow(10.0, db / 20.0)


# --------------------------------------------------------------------------------------
# YIN, as aubio computes it (aubio/src/pitch/pitchyin.c, pitch.c), vectorised over frames.
# Training reads pitch from aubio itself; the exported model cannot call aubio, so it runs
# this copy. tests/test_training_dsp.py checks that both agree.
# --------------------------------------------------------------------------------------

def yin(frames: Tensor, sample_rate: int, tolerance: float = 0.15,
        silence_db: float = -50.0) -> Tuple[Tensor, Tensor]:
    """Pitch (Hz, 0 when silent) and confidence (1 - the YIN dip) per frame.

    frames: (B, n, W) with W even; periods up to W/2 samples are searched. Each window is
    read backwards (newest sample first): YIN then compares the newest half-window with its
    past, so the estimate describes the last ~W/4 + period/2 samples instead of the oldest
    ones (a lag of 632 samples instead of 1416 for 200 Hz at W = 2048). aubio gives the
    same numbers when handed the reversed window (descriptors.pitch_track).
    """
    x = torch.flip(frames, [-1]).to(torch.float32)
    w = x.shape[-1]
    n = w // 2
    head = x[..., :n]
    # r[tau] = sum_{j<n} x_j x_{j+tau}: a correlation through the FFT, exact because the
    # zero-padded head never wraps around within w samples
    r = torch.fft.irfft(torch.conj(torch.fft.rfft(head, n=w)) * torch.fft.rfft(x, n=w), n=w)[..., :n]
    energy_head = head.pow(2).sum(-1, keepdim=True)
    cs = F.pad(torch.cumsum(x.pow(2), -1), (1, 0))
    energy_lag = cs[..., n:2 * n] - cs[..., 0:n]
    d = (energy_head + energy_lag - 2.0 * r).clamp_min(0.0)
    # exact zeros (a window half silent) come out of the FFT as rounding noise: snap them
    # back to zero, as aubio's direct sums give
    d = torch.where(d <= 1e-10 * (energy_head + energy_lag), torch.zeros_like(d), d)
    d = torch.cat([torch.zeros_like(d[..., :1]), d[..., 1:]], -1)
    running = torch.cumsum(d, -1)
    taus = torch.arange(n, device=x.device, dtype=x.dtype)
    cmnd = torch.where(running > 0, d * taus / running.clamp_min(1e-300), torch.ones_like(d))
    cmnd = torch.cat([torch.ones_like(cmnd[..., :1]), cmnd[..., 1:]], -1)

    # aubio: the first period p >= 2 (p <= n-4) with cmnd[p] < tol and cmnd[p] < cmnd[p+1]
    body = cmnd[..., 2:n - 3]
    nxt = cmnd[..., 3:n - 2]
    hit = (body < tolerance) & (body < nxt)
    any_hit = hit.any(-1)
    first = torch.argmax(hit.to(torch.int64), -1) + 2
    fallback = n - 1 - torch.argmin(torch.flip(cmnd, [-1]), -1)  # aubio keeps the last of equal minima
    pos = torch.where(any_hit, first, fallback)

    # quadratic interpolation around pos, as fvec_quadratic_peak_pos
    lo = (pos - 1).clamp(0, n - 1)
    hi = (pos + 1).clamp(0, n - 1)
    s0 = torch.gather(cmnd, -1, lo.unsqueeze(-1)).squeeze(-1)
    s1 = torch.gather(cmnd, -1, pos.unsqueeze(-1)).squeeze(-1)
    s2 = torch.gather(cmnd, -1, hi.unsqueeze(-1)).squeeze(-1)
    denom = s0 - 2.0 * s1 + s2
    inner = (pos > 0) & (pos < n - 1) & (denom != 0)
    period = torch.where(inner, pos.to(x.dtype) + 0.5 * (s0 - s2) / torch.where(inner, denom, torch.ones_like(denom)),
                         pos.to(x.dtype))
    f0 = torch.where(period > 0, sample_rate / period.clamp_min(1e-9), torch.zeros_like(period))
    silent = loudness_db(x, w) < silence_db
    f0 = torch.where(silent, torch.zeros_like(f0), f0)
    confidence = 1.0 - s1
    return f0.to(frames.dtype), confidence.to(frames.dtype)


# --------------------------------------------------------------------------------------
# Spectral frames (pitch-free family)
# --------------------------------------------------------------------------------------

def log_band_matrix(n_fft: int, n_bands: int, sample_rate: int, fmin: float = 40.0) -> Tensor:
    """(n_bands, n_fft//2+1) triangular bands on a log-frequency axis, each summing to 1."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    centres = torch.logspace(math.log10(fmin), math.log10(sample_rate / 2), n_bands + 2, dtype=torch.float64)
    m = torch.zeros(n_bands, freqs.numel(), dtype=torch.float64)
    for k in range(n_bands):
        lo, c, hi = centres[k], centres[k + 1], centres[k + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        m[k] = torch.clamp(torch.minimum(up, down), min=0.0)
    m[0, freqs < centres[1]] = 1.0  # the lowest band takes everything below it
    m = m / m.sum(-1, keepdim=True).clamp_min(1e-12)
    return m.to(torch.float32)


def power_spectrum(frames: Tensor, window: Tensor) -> Tensor:
    """|rfft|^2 of the last len(window) samples of each frame, windowed."""
    n = window.shape[0]
    tail = frames[..., frames.shape[-1] - n:]
    return torch.fft.rfft(tail * window).abs().pow(2)


def centroid_and_flatness(power: Tensor, sample_rate: int) -> Tuple[Tensor, Tensor]:
    """Spectral centroid (log2 of Hz) and flatness (dB) per frame; aubio has a centroid but
    no flatness, so both are computed here the same way for training and export."""
    bins = power.shape[-1]
    freqs = torch.linspace(0.0, sample_rate / 2.0, bins, device=power.device, dtype=power.dtype)
    p = power + 1e-12
    centroid = (p * freqs).sum(-1) / p.sum(-1)
    flatness = torch.exp(torch.log(p).mean(-1)) / p.mean(-1)
    return torch.log2(centroid.clamp_min(20.0)), 10.0 * torch.log10(flatness.clamp_min(1e-10))


# --------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------

def make_noise_bank(n_bands: int, length: int, sample_rate: int, fmin: float = 40.0, seed: int = 1234) -> Tensor:
    """(n_bands, length) band-limited noises, each of unit RMS, periodic over `length`.

    Filtering a periodic white-noise table in the frequency domain gives loops without a
    seam; reading it with a running sample counter makes noise deterministic, so a streamed
    render equals a whole-clip render and no filter state or look-ahead is needed.

    The table depends only on the arguments, and making the default one (48 x 65,536) takes
    1-10 s on a busy 2-core machine, paid by every model built: it is made once per process
    and each caller gets its own copy.
    """
    return _noise_bank(int(n_bands), int(length), int(sample_rate), float(fmin), int(seed)).clone()


@functools.lru_cache(maxsize=4)
def _noise_bank(n_bands: int, length: int, sample_rate: int, fmin: float, seed: int) -> Tensor:
    with torch.inference_mode(False), torch.no_grad():   # a plain tensor, whoever asked first
        return _make_noise_bank(n_bands, length, sample_rate, fmin, seed)


def _make_noise_bank(n_bands: int, length: int, sample_rate: int, fmin: float, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(length, generator=g, dtype=torch.float64)
    spec = torch.fft.rfft(white)
    freqs = torch.fft.rfftfreq(length, 1.0 / sample_rate).to(torch.float64)
    centres = torch.logspace(math.log10(fmin), math.log10(sample_rate / 2), n_bands, dtype=torch.float64)
    logf = torch.log(freqs.clamp_min(1.0))
    logc = torch.log(centres)
    bank = torch.zeros(n_bands, length, dtype=torch.float64)
    for k in range(n_bands):
        # sqrt of overlapping triangles on log-frequency: the squared gains sum to one
        if k == 0:
            tri = torch.where(logf <= logc[0], torch.ones_like(logf),
                              ((logc[1] - logf) / (logc[1] - logc[0])).clamp(0, 1))
        elif k == n_bands - 1:
            tri = torch.where(logf >= logc[k], torch.ones_like(logf),
                              ((logf - logc[k - 1]) / (logc[k] - logc[k - 1])).clamp(0, 1))
        else:
            up = (logf - logc[k - 1]) / (logc[k] - logc[k - 1])
            down = (logc[k + 1] - logf) / (logc[k + 1] - logc[k])
            tri = torch.minimum(up, down).clamp(0, 1)
        band = torch.fft.irfft(spec * tri.sqrt(), n=length)
        bank[k] = band / band.pow(2).mean().sqrt().clamp_min(1e-12)
    return bank.to(torch.float32)


def ramp(hop: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(hop,) from 1/hop to 1: within block k, controls glide from frame k-1 to frame k."""
    return (torch.arange(hop, device=device, dtype=dtype) + 1.0) / hop


def interpolate_blocks(prev: Tensor, cur: Tensor, hop: int) -> Tensor:
    """prev (B, 1, C), cur (B, n, C) -> (B, n, hop, C) linear glides, frame by frame."""
    start = torch.cat([prev, cur[:, :-1]], 1)
    r = ramp(hop, cur.device, cur.dtype).view(1, 1, hop, 1)
    return start.unsqueeze(2) + (cur - start).unsqueeze(2) * r


def _bank_segment(bank: Tensor, start: int, length: int) -> Tensor:
    """bank[:, start:start+length] read cyclically; a view unless it wraps (length <= L)."""
    size = bank.shape[1]
    start = start % size
    if start + length <= size:
        return bank[:, start:start + length]
    return torch.cat([bank[:, start:], bank[:, :start + length - size]], 1)


def filtered_noise(bank: Tensor, gains_prev: Tensor, gains: Tensor, counter: int, hop: int) -> Tensor:
    """Sum of band noises with per-band gains gliding per block.

    bank (K, L); gains_prev (B, 1, K); gains (B, n, K) -> (B, n*hop).
    Batch item b reads the table from counter + b*12347 so channels of mc.nn~ decorrelate.
    The table is read through views (no gather): per item and per stretch of at most L
    samples, one batched matrix product over blocks.
    """
    b, n, k = gains.shape
    start = torch.cat([gains_prev, gains[:, :-1]], 1)                   # (B, n, K)
    delta = gains - start
    r = ramp(hop, gains.device, gains.dtype).view(1, hop)
    per_chunk = max(1, bank.shape[1] // hop)                            # blocks per table length
    items: List[Tensor] = []
    for i in range(b):
        pieces: List[Tensor] = []
        for f0 in range(0, n, per_chunk):
            f1 = min(n, f0 + per_chunk)
            seg = _bank_segment(bank, counter + 12347 * i + f0 * hop, (f1 - f0) * hop)
            seg = seg.reshape(k, f1 - f0, hop).transpose(0, 1)          # (blocks, K, hop)
            base = torch.bmm(start[i, f0:f1].unsqueeze(1), seg).squeeze(1)
            slope = torch.bmm(delta[i, f0:f1].unsqueeze(1), seg).squeeze(1)
            pieces.append((base + slope * r).reshape(-1))
        items.append(torch.cat(pieces))
    return torch.stack(items)


def harmonic_phase(f0_prev: Tensor, f0: Tensor, phase0: Tensor, hop: int, sample_rate: int) -> Tuple[Tensor, Tensor]:
    """Oscillator phase per sample for f0 gliding linearly within each block.

    f0_prev (B, 1), f0 (B, n) in Hz; phase0 (B, 1) float64 in [0, 2pi).
    Returns phase (B, n, hop) in [0, 2pi) as float32, and the phase after the last sample.
    Block starts are accumulated in float64 and wrapped, so a long render and the same
    render cut into pieces agree to float rounding.
    """
    f = torch.cat([f0_prev, f0], 1).to(torch.float64)
    start = f[:, :-1].unsqueeze(-1)
    end = f[:, 1:].unsqueeze(-1)
    r = ramp(hop, f0.device, torch.float64).view(1, 1, hop)
    inc = (start + (end - start) * r) * (2.0 * math.pi / sample_rate)          # (B, n, hop)
    within = torch.cumsum(inc, -1)
    totals = within[..., -1]                                             # (B, n)
    starts = phase0 + torch.cumsum(totals, 1) - totals                   # exclusive cumsum
    starts = torch.remainder(starts, 2.0 * math.pi)
    phase = torch.remainder(starts.unsqueeze(-1) + within, 2.0 * math.pi)
    end_phase = torch.remainder(starts[:, -1:] + totals[:, -1:], 2.0 * math.pi)
    return phase.to(torch.float32), end_phase


def harmonic_bank(phase: Tensor, amps_prev: Tensor, amps: Tensor, hop: int) -> Tensor:
    """Sum of harmonics h*phase with amplitudes gliding per block.

    phase (B, n, hop); amps_prev (B, 1, H); amps (B, n, H) -> (B, n*hop).

    sin(h*phase) comes from two transcendental calls per sample and the Chebyshev recurrence
    sin((h+1)x) = 2 cos(x) sin(hx) - sin((h-1)x) (error under 1e-4 of full scale at h = 64
    in float32), fused with the weighted sum so no (H x samples) table is ever stored when
    no gradient is needed. Per-block matrix-vector products written as one einsum ran 5 to
    8 times slower (skinny batched GEMMs); broadcast multiply-adds are memory-bound and fast.
    """
    b, n, nh = amps.shape
    start = torch.cat([amps_prev, amps[:, :-1]], 1).unsqueeze(-1)      # (B, n, H, 1)
    delta = amps.unsqueeze(-1) - start
    s_cur = torch.sin(phase)
    c2 = 2.0 * torch.cos(phase)
    s_prev = torch.zeros_like(phase)
    base = s_cur * start[:, :, 0]
    slope = s_cur * delta[:, :, 0]
    learning = torch.is_grad_enabled() and amps.requires_grad
    for h in range(1, nh):
        s_next = c2 * s_cur - s_prev
        if learning:
            base = base + s_next * start[:, :, h]
            slope = slope + s_next * delta[:, :, h]
        else:
            base.addcmul_(s_next, start[:, :, h])
            slope.addcmul_(s_next, delta[:, :, h])
        s_prev = s_cur
        s_cur = s_next
    r = ramp(hop, amps.device, amps.dtype).view(1, 1, hop)
    return (base + slope * r).reshape(b, n * hop)


# --------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------

DEFAULT_FFT_SIZES: List[int] = [2048, 1024, 512, 256, 128, 64]


def multiscale_spectral_loss(pred: Tensor, target: Tensor, fft_sizes: List[int] = DEFAULT_FFT_SIZES,
                             log_weight: float = 1.0) -> Tensor:
    """The DDSP multi-scale spectral loss: L1 between STFT magnitudes and log magnitudes at
    several resolutions (75% overlap, Hann, normalised STFT so scales weigh alike)."""
    total = pred.new_zeros(())
    for n in fft_sizes:
        window = torch.hann_window(n, device=pred.device, dtype=pred.dtype)
        sp = torch.stft(pred, n, n // 4, window=window, normalized=True, return_complex=True).abs()
        st = torch.stft(target, n, n // 4, window=window, normalized=True, return_complex=True).abs()
        total = total + (sp - st).abs().mean()
        total = total + log_weight * (torch.log(sp + 1e-7) - torch.log(st + 1e-7)).abs().mean()
    return total


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
