"""Align a score's event boundaries to the performance: nobody is exactly on time.

The score says when each event starts (`Event.start_s`, from the first event); the take
says where that first event was meant to be (`origin`: the sample the count-in ended on).
Performers drift in tempo and place each event a little early or late, so the nominal
boundaries are moved onto what the audio shows, with the boundaries of the curation code
(`rehearsal.curation.regions.PhraseFinder`: silence edges and novelty, a change of level or
timbre) and the take's onsets (attacks):

1. The time map. A boundary of the score (an event starting, the last one ending) is
   expected at `origin + rate * start_s`; rate and a shift of the origin are searched on a
   grid for the map under which most boundaries have a candidate near them (drift up to
   `max_drift`, a late or early start up to `max_shift_s`).
2. Local tempo. Picked boundaries are fitted piecewise (a weighted line through the
   neighbours of each boundary), so a tempo that drifts during the take is followed.
3. Each boundary takes the best candidate within `window_s` of where the map puts it:
   of the kind the score asks for there (sound starting after a rest: a silence end; a rest
   starting: a silence start; one sound after another: a change of timbre, a breath or an
   attack), strongest first, nearest to the expected place on a tie. A change of timbre is
   placed to a few frames, so it is moved onto an attack within `snap_s` when there is one.
   Boundaries keep the score's order; where nothing fits, the map's place is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..curation.analysis import FrameDescriptors
from ..curation.regions import PhraseFinder


@dataclass(frozen=True)
class AlignedEvent:
    index: int                # Event.index
    start: int                # samples in the take
    end: int
    how: str                  # what the start was placed on


@dataclass(frozen=True)
class Candidate:
    sample: int
    kind: str                 # silence-start | silence-end | novelty | onset
    strength: float


def candidates(fd: FrameDescriptors, finder: PhraseFinder | None = None, silence_db: float = -50.0,
               min_gap_s: float = 0.25) -> list[Candidate]:
    """What the audio shows: the phrase finder's boundaries and the onsets, each with the
    contrast of the sound around it (strength)."""
    finder = finder or PhraseFinder(fd, silence_db=silence_db, min_gap_s=min_gap_s, novelty_s=0.5, min_novelty=1.0)
    raw = [(b.sample, b.kind) for b in finder.boundaries]
    loud = np.nan_to_num(fd.loudness_db.astype(np.float64), nan=-120.0)
    for s in fd.onsets:
        i = min(len(loud) - 1, max(0, int(s) // fd.hop))
        if loud[i] > silence_db:
            raw.append((int(s), "onset"))
    con = _contrast(fd, np.array([s for s, _ in raw], dtype=np.int64), silence_db)
    out = [Candidate(s, k, float(c)) for (s, k), c in zip(raw, con)]
    out.sort(key=lambda c: c.sample)
    return out


def _contrast(fd: FrameDescriptors, samples: np.ndarray, silence_db: float, span_s: float = 0.4) -> np.ndarray:
    """How different the sound after each sample is from the sound before it (silence
    between left out): the distance of the mean standardised descriptors (level, centroid,
    flatness, pitch confidence) over `span_s` of sound on each side. High between two
    events of different symbols, low inside one (a pause between words, a new note)."""
    loud = np.nan_to_num(fd.loudness_db.astype(np.float64), nan=-120.0)
    active = np.flatnonzero(loud >= silence_db)
    if len(active) < 4 or not len(samples):
        return np.zeros(len(samples))
    feats = np.stack([
        np.clip(loud, -80.0, 0.0),
        np.log2(np.maximum(fd.centroid_hz.astype(np.float64), 50.0)),
        np.log10(np.maximum(np.nan_to_num(fd.flatness.astype(np.float64)), 1e-4)),
        np.nan_to_num(fd.pitch_confidence.astype(np.float64)),
    ], axis=1)[active]
    sd = feats.std(axis=0)
    z = (feats - feats.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
    cs = np.vstack([np.zeros((1, z.shape[1])), np.cumsum(z, axis=0)])
    m = max(2, int(round(span_s * fd.sample_rate / fd.hop)))
    frame = np.clip((samples + fd.win // 2) // fd.hop, 0, len(loud) - 1)   # the frame whose window starts there
    pos = np.searchsorted(active, frame)
    a, b = np.maximum(pos - m, 0), np.minimum(pos + m, len(active))
    n_before, n_after = pos - a, b - pos
    ok = (n_before >= 2) & (n_after >= 2)
    before = (cs[pos] - cs[a]) / np.maximum(n_before, 1)[:, None]
    after = (cs[b] - cs[pos]) / np.maximum(n_after, 1)[:, None]
    return np.where(ok, np.sqrt(((after - before) ** 2).sum(axis=1)), 0.0)


def _boundaries(score) -> list[tuple[float, str]]:
    """(nominal seconds, what is wanted) for each event start and the last end."""
    events = score.events
    out = []
    for k, e in enumerate(events):
        prev = events[k - 1] if k else None
        if e.symbol is None:
            want = "silence-start"
        elif prev is None or prev.symbol is None:
            want = "silence-end"
        else:
            want = "same" if prev.symbol == e.symbol else "change"
        out.append((e.start_s, want))
    out.append((events[-1].end_s, "silence-start" if events[-1].symbol is not None else "none"))
    return out


# how well a kind of candidate fits what the score asks for there
_FITS = {
    "silence-start": {"silence-start": 1.0},
    "silence-end": {"silence-end": 1.0, "onset": 0.6},
    "change": {"silence-end": 1.0, "novelty": 1.0},
    "same": {"silence-end": 1.0, "onset": 1.0},
    "none": {},
}


class _Audio:
    """The take's evidence: silence edges (the phrase finder's), onsets, and the contrast
    of every frame (how different the sound after it is from the sound before)."""

    def __init__(self, fd: FrameDescriptors, cands: list[Candidate], silence_db: float = -50.0):
        self.fd, self.sr = fd, fd.sample_rate
        self.silence = {k: np.array([c.sample for c in cands if c.kind == k], dtype=np.int64)
                        for k in ("silence-start", "silence-end")}
        self.onsets = np.array([c.sample for c in cands if c.kind == "onset"], dtype=np.int64)
        frames = np.arange(fd.frames)
        self.frame_samples = (fd.frame_centre(frames) - fd.hop // 2).astype(np.int64)
        self.contrast = _contrast(fd, self.frame_samples, silence_db)
        con = self.contrast
        peaks = np.flatnonzero((con[1:-1] > con[:-2]) & (con[1:-1] >= con[2:]) & (con[1:-1] > 1.0)) + 1
        self.peaks = self.frame_samples[peaks]
        self.novelty = {int(c.sample) for c in cands if c.kind == "novelty"}

    def refs(self, want: str) -> np.ndarray:
        if want in self.silence:
            return self.silence[want]
        if want == "change":
            return np.union1d(self.peaks, self.silence["silence-end"])
        if want == "same":
            return np.union1d(self.onsets, self.silence["silence-end"])
        return np.zeros(0, np.int64)

    def pick(self, at: float, want: str, win: int) -> tuple[int | None, str]:
        lo, hi = at - win, at + win
        closeness = lambda x: 0.6 + 0.4 * (1 - np.abs(x - at) / win)   # noqa: E731
        options: list[tuple[float, int, str]] = []
        if want in ("silence-start", "silence-end", "change", "same"):
            key = "silence-end" if want != "silence-start" else "silence-start"
            edges = self.silence[key]
            for x in edges[(edges >= lo) & (edges <= hi)]:
                options.append((3.0 * float(closeness(x)), int(x), key))
        if want == "silence-end":
            ons = self.onsets[(self.onsets >= lo) & (self.onsets <= hi)]
            for x in ons:
                options.append((1.0 * float(closeness(x)), int(x), "onset"))
        if want == "change":
            sl = (self.frame_samples >= lo) & (self.frame_samples <= hi)
            if sl.any():
                xs, cs = self.frame_samples[sl], self.contrast[sl]
                w = cs * closeness(xs)
                i = int(np.argmax(w))
                if cs[i] >= 0.6:
                    options.append((float(w[i]), int(xs[i]), "a change of sound"))
        if want == "same":
            ons = self.onsets[(self.onsets >= lo) & (self.onsets <= hi)]
            if len(ons):
                x = ons[int(np.argmin(np.abs(ons - at)))]
                options.append((1.0, int(x), "onset"))
        if not options:
            return None, ""
        _, x, how = max(options)
        return x, how


def align(score, fd: FrameDescriptors, origin: int, window_s: float = 0.4, max_drift: float = 0.08,
          max_shift_s: float = 1.0, cands: list[Candidate] | None = None) -> list[AlignedEvent]:
    """Aligned (start, end) in samples for every sounding event of `score`."""
    sr = fd.sample_rate
    audio = _Audio(fd, candidates(fd) if cands is None else cands)
    bounds = _boundaries(score)
    nominal = np.array([t for t, _ in bounds]) * sr
    wants = [w for _, w in bounds]
    win = int(window_s * sr)
    expected = _time_map(nominal, wants, audio, origin, sr, win, max_drift, max_shift_s)
    picked, how = _pick(expected, wants, audio, win)
    timbres = _Timbres(fd)
    for _ in range(3):
        expected = _local_fit(nominal, picked, expected, how)
        timbres.fit(score, _ordered(picked, expected))
        picked, how = _pick(expected, wants, audio, win)
        for k, want in enumerate(wants):
            if want == "change":
                x = timbres.split(score.events[k - 1].symbol, score.events[k].symbol, float(expected[k]), win)
                if x is not None:
                    picked[k], how[k] = x, "the change from one symbol's sound to the next"
    picked = _ordered(picked, expected)
    out = []
    n = fd.total_samples
    for k, e in enumerate(score.events):
        if e.symbol is None:
            continue
        start, end = int(max(0, min(n, picked[k]))), int(max(0, min(n, picked[k + 1])))
        if end <= start:
            end = min(n, start + 1)
        out.append(AlignedEvent(e.index, start, end, how[k] or "the score's time (nothing in the audio fits)"))
    return out


def _time_map(nominal, wants, audio, origin, sr, win, max_drift, max_shift_s):
    """Where each boundary is expected: origin + shift + rate * t + bend * t^2 / T, the
    shift, rate and bend (a steady change of tempo) under which most boundaries meet
    evidence of their kind."""
    total = max(float(nominal[-1]), 1.0)
    groups = []
    for want in set(wants):
        ref = audio.refs(want)
        if len(ref):
            groups.append((np.array([k for k, w in enumerate(wants) if w == want]), ref))
    if not groups:
        return origin + nominal
    shifts = np.arange(-max_shift_s, max_shift_s + 1e-9, 0.02) * sr
    best = (-1.0, 1.0, 0.0, 0.0)
    for rate in np.arange(1 - max_drift, 1 + max_drift + 1e-9, 0.005):
        for bend in np.arange(-max_drift, max_drift + 1e-9, 0.005):
            base = origin + rate * nominal + bend * nominal ** 2 / total
            score = np.zeros(len(shifts))
            for idx, ref in groups:
                at = shifts[:, None] + base[idx][None, :]
                j = np.clip(np.searchsorted(ref, at), 1, max(1, len(ref) - 1))
                d = np.minimum(np.abs(ref[np.minimum(j, len(ref) - 1)] - at), np.abs(ref[j - 1] - at))
                score += np.clip(1 - d / win, 0, None).sum(axis=1)
            i = int(np.argmax(score))
            if score[i] > best[0] + 1e-9:
                best = (float(score[i]), rate, bend, shifts[i])
    _, rate, bend, shift = best
    return origin + shift + rate * nominal + bend * nominal ** 2 / total


class _Timbres:
    """One diagonal Gaussian per symbol over frame descriptors (log pitch, pitch confidence,
    log centroid, log flatness), estimated from the frames the current alignment gives each
    symbol (the middle of each event: its edges may still be misplaced). Where one symbol
    gives way to another, the boundary is the split of the window that explains the frames
    before by the first symbol and those after by the second best (silent frames count for
    neither: across a breath the split lands where the next sound starts)."""

    def __init__(self, fd: FrameDescriptors, silence_db: float = -50.0):
        loud = np.nan_to_num(fd.loudness_db.astype(np.float64), nan=-120.0)
        active = loud >= silence_db
        # frames next to silence (a fade in or out) describe little: they count for neither
        core = active.copy()
        for d in (1, 2):
            core[d:] &= active[:-d]
            core[:-d] &= active[d:]
        self.active = core
        self.silent = ~active
        self.x = np.stack([
            np.log2(np.maximum(np.nan_to_num(fd.pitch_hz.astype(np.float64)), 40.0)),
            np.nan_to_num(fd.pitch_confidence.astype(np.float64)),
            np.log2(np.maximum(fd.centroid_hz.astype(np.float64), 50.0)),
            np.log10(np.maximum(np.nan_to_num(fd.flatness.astype(np.float64)), 1e-4)),
        ], axis=1)
        self.fd = fd
        self.models: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, score, picked, trim_s: float = 0.35) -> None:
        fd, sr = self.fd, self.fd.sample_rate
        frames: dict[str, list[np.ndarray]] = {}
        for k, e in enumerate(score.events):
            if e.symbol is None:
                continue
            sl = fd.frames_between(int(picked[k] + trim_s * sr), int(picked[k + 1] - trim_s * sr))
            idx = np.arange(sl.start, sl.stop)
            idx = idx[self.active[idx]] if len(idx) else idx
            frames.setdefault(e.symbol, []).append(idx)
        self.models = {}
        for sym, parts in frames.items():
            idx = np.concatenate(parts) if parts else np.zeros(0, int)
            if len(idx) >= 20:
                x = self.x[idx]
                self.models[sym] = (x.mean(axis=0), np.maximum(x.var(axis=0), 1e-3))

    def loglik(self, sym: str, sl: slice) -> np.ndarray | None:
        if sym not in self.models:
            return None
        mu, var = self.models[sym]
        x = self.x[sl]
        ll = -0.5 * (((x - mu) ** 2) / var + np.log(var)).sum(axis=1)
        return np.where(self.active[sl], np.maximum(ll, -50.0), 0.0)

    def split(self, a: str, b: str, at: float, win: int) -> int | None:
        fd = self.fd
        sl = fd.frames_between(int(at - win), int(at + win))
        la, lb = self.loglik(a, sl), self.loglik(b, sl)
        if la is None or lb is None or len(la) < 3:
            return None
        # splitting before frame j explains frames < j by a, the rest by b: the best j is the
        # latest maximum of the running sum of a's advantage (each frame's say bounded, so one
        # odd frame, a fade into silence, cannot outvote a phrase)
        gain = np.concatenate([[0.0], np.cumsum(np.clip(la - lb, -10.0, 10.0))])
        j = len(gain) - 1 - int(np.argmax(gain[::-1]))
        j = min(max(j, 1), len(la) - 1)
        # in a silence (a breath between the two): the next sound starts where it ends
        f = sl.start + j
        while f < sl.stop - 1 and self.silent[f]:
            f += 1
        j = f - sl.start
        return int(fd.frame_centre(sl.start + j) - fd.win // 2 + fd.hop // 2)


def _pick(expected, wants, audio, win):
    picked, how = [], []
    for at, want in zip(expected, wants):
        x, h = audio.pick(float(at), want, win)
        picked.append(int(round(at)) if x is None else x)
        how.append(h)
    return picked, how


def _local_fit(nominal, picked, expected, how, span: int = 6):
    """Where each boundary is expected from its found neighbours: a line through them."""
    found = np.array([bool(h) for h in how])
    x, y = nominal, np.asarray(picked, dtype=np.float64)
    out = np.array(expected, dtype=np.float64)
    for k in range(len(x)):
        idx = [i for i in range(max(0, k - span), min(len(x), k + span + 1)) if found[i] and i != k]
        if len(idx) < 3:
            continue
        a, b = np.polyfit(x[idx], y[idx], 1)
        out[k] = a * x[k] + b
    return out


def _ordered(picked, expected):
    """Boundaries in the score's order: one placed before its predecessor goes back to the map."""
    out = list(picked)
    for k in range(1, len(out)):
        if out[k] <= out[k - 1]:
            out[k] = max(int(expected[k]), out[k - 1] + 1)
    return out
