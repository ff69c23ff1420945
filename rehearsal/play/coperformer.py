"""The model as a co-performer: it answers instead of transforming (issue 16).

Runs in the model host, around the slot's scripted stream module, one render block at a
time (no extra latency: each block is decided from the block just heard):

    call-response  the model listens (its `forward` hears every block, its output is
                   silent) while the performer plays; once the input has stayed under
                   `gate_db` for `pause_s`, it answers for `answer_s` with `generate`,
                   continuing from what it just heard (`continue_from_heard`, where the
                   family has it); the first block the performer is heard again, it yields
                   (that block is already silent).
    accompany      both at once: `follow` * forward (it mirrors the performer: their
                   level, their pitch) + (1 - follow) * generate (it ignores them: its
                   own generation, the corpus's own order, given silence). Both run every
                   block whatever the follow, so the cost stays the same and `forward`
                   keeps listening: `follow` is a live control (`set_follow`, OSC
                   /rehearsal/play/follow), glided over one block.

A family can co-perform when its stream module has `generate` (corpus, autoregressive; both
have `continue_from_heard`). Pitch and latent only transform: refused in words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

MODES = ("call-response", "accompany")


@dataclass(frozen=True)
class CoPerform:
    mode: str = "call-response"
    follow: float = 0.5            # accompany: 0 ignores the performer, 1 mirrors them
    pause_s: float = 1.0           # call-response: silence that invites an answer
    answer_s: float = 4.0          # call-response: how long the model answers at most
    gate_db: float = -45.0         # under this a block of input is silence

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"co-performer mode must be {' or '.join(MODES)}, not {self.mode!r}")
        if not 0.0 <= self.follow <= 1.0:
            raise ValueError(f"follow must be 0 (ignore the performer) to 1 (mirror them), got {self.follow}")
        if self.pause_s <= 0 or self.answer_s <= 0:
            raise ValueError("pause_s and answer_s must be more than 0 seconds")

    def to_dict(self) -> dict:
        return asdict(self)


class CoPerformer:
    def __init__(self, module, settings: CoPerform, block: int, sample_rate: int = 48000):
        if "generate" not in list(module.get_methods()):
            raise ValueError("this model cannot generate without input (its nn~ module has no `generate`): "
                             "it can transform the input, not co-perform")
        self.module, self.s, self.block = module, settings, block
        # whole blocks; the block in which the performer stopped adds up to one more
        self.pause_blocks = max(1, int(round(settings.pause_s * sample_rate / block)))
        self.answer_blocks = int(np.ceil(settings.answer_s * sample_rate / block))
        self.quiet = 0          # blocks of silence so far
        self.answered = 0       # blocks answered in this pause
        self.answering = False
        self.can_continue = hasattr(module, "continue_from_heard")
        self.follow = float(settings.follow)       # in force; a new value glides in over a block
        self.target = self.follow
        self._ramp = (np.arange(1, block + 1, dtype=np.float32) / block)
        self._warm(block)

    def set_follow(self, follow: float) -> None:
        """The follow from the next block on (accompany), clamped to 0-1."""
        if follow == follow:                       # NaN: as configured
            self.target = min(1.0, max(0.0, float(follow)))

    def _warm(self, block: int) -> None:
        """The first calls of a scripted method profile and optimise it (tens of ms: blocks
        late). slots.prepare_module warms `forward`; the answer's method is warmed here, on
        silence, before the model goes near the audio."""
        import torch

        from .slots import WARM_CALLS

        x = torch.zeros(1, 1, block)
        with torch.inference_mode():
            for _ in range(WARM_CALLS):
                self.module.generate(x)
                if self.can_continue:
                    self.module.continue_from_heard()

    def run(self, t):
        """One block (a (1, 1, n) tensor) -> the model's part (same shape)."""
        import torch

        s = self.s
        if s.mode == "accompany":
            heard = self.module(t)                                # it listens, whatever the follow
            own = self.module.generate(torch.zeros_like(t))       # its own part: it hears nothing
            a, b = self.follow, self.target
            self.follow = b
            if a == b:
                return heard if b >= 1.0 else own if b <= 0.0 else heard * b + own * (1.0 - b)
            w = torch.from_numpy(a + (b - a) * self._ramp[:t.shape[-1]]).view(1, 1, -1)
            return heard * w + own * (1.0 - w)
        x = t.reshape(-1).numpy()
        loud = 10 * np.log10(float(np.mean(x.astype(np.float64) ** 2)) + 1e-12) > s.gate_db
        if loud:
            self.quiet, self.answered, self.answering = 0, 0, False
            self.module(t)                       # it listens
            return torch.zeros_like(t)           # and yields at once
        self.quiet += 1
        if self.answering and self.answered >= self.answer_blocks:
            self.answering = False
        elif not self.answering and self.quiet > self.pause_blocks and self.answered == 0:
            self.answering = True
            if self.can_continue:
                self.module.continue_from_heard()
        if self.answering:
            self.answered += 1
            return self.module.generate(torch.zeros_like(t))
        self.module(t)
        return torch.zeros_like(t)
