"""The training loop, in one readable function (after nanoGPT's train.py).

It knows nothing of databases, files or processes: the worker passes `hooks` that save
checkpoints, render previews, report progress and say when to stop. The loop state is a
small dataclass, saved with the resume checkpoint, so a cancelled run continues exactly
where it stopped (batches are drawn from (seed, step), so they are the same too).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from . import dsp
from .data import PreparedData, WindowSampler
from .dataset import SAMPLE_RATE
from .evaluation import model_inputs, validation_loss
from .spec import RunSpec


@dataclass
class LoopState:
    step: int = 0
    elapsed_s: float = 0.0              # training wall time, summed over resumed sessions
    audio_s: float = 0.0                # seconds of audio the model has been trained on
    best_val: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    train_loss: float | None = None     # mean over the steps since the last evaluation
    val_loss: float | None = None       # the latest validation loss
    skipped_steps: int = 0              # non-finite losses, not applied
    curve: list = field(default_factory=list)   # [step, train_loss, val_loss] per evaluation

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LoopState":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class Hooks:
    """What the loop calls; the worker overrides these."""

    def progress(self, event: dict) -> None: ...
    def should_stop(self) -> bool: return False
    def keep_checkpoint(self, kind: str, model, optimizer, state: LoopState) -> None: ...
    def save_resume(self, model, optimizer, state: LoopState) -> None: ...
    def between_steps(self) -> None: ...


def make_optimizer(model, spec: RunSpec):
    return torch.optim.Adam(model.parameters(), lr=spec.lr)


def learning_rate(spec: RunSpec, step: int) -> float:
    if spec.warmup_steps and step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    if spec.lr_schedule == "cosine" and spec.max_steps:
        progress = min(1.0, (step - spec.warmup_steps) / max(1, spec.max_steps - spec.warmup_steps))
        return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    return spec.lr


def batch_loss(model, batch: dict, device="cpu"):
    """The loss of one batch: the family's own `training_loss` when it has one (the
    autoregressive family adds its prior's next-frame likelihood), else the multi-scale
    spectral loss of the render against the audio."""
    audio = torch.as_tensor(batch["audio"], device=device)
    inputs = model_inputs(model, batch, device)
    if hasattr(model, "training_loss"):
        return model.training_loss(audio, *inputs, counter=int(batch["noise_offset"]))
    pred = model(audio, *inputs, counter=int(batch["noise_offset"]))
    return dsp.multiscale_spectral_loss(pred, audio[:, model.context:])


def train(model, optimizer, data: PreparedData, spec: RunSpec, state: LoopState, hooks: Hooks,
          device="cpu") -> str:
    """Train until the budget, an early stop or a cancel. Returns why it stopped:
    'steps', 'time', 'early-stop' or 'cancelled'."""
    sampler = WindowSampler(data.train, spec.frames, model.hop, model.context, model.conditioning)
    window_s = spec.batch_size * spec.frames * model.hop / SAMPLE_RATE
    started = time.monotonic() - state.elapsed_s
    last_eval = last_ckpt = last_resume = time.monotonic()
    eval_step = ckpt_step = state.step
    losses: list[float] = []
    evaluated_at = checkpointed_at = -1
    hooks.progress({"event": "start", "step": state.step, "budget_s": spec.budget_s, "max_steps": spec.max_steps,
                    "train_audio_s": round(data.train_seconds, 2), "val_clips": len(data.val)})
    model.train()

    def evaluate() -> bool:
        """Validation loss, best checkpoint, patience. True when it is time to stop early."""
        nonlocal evaluated_at, losses
        state.val_loss = validation_loss(model, data.val, device)
        state.train_loss = sum(losses) / len(losses) if losses else state.train_loss
        losses = []
        state.curve.append([state.step, state.train_loss, state.val_loss])
        improved = state.best_val is None or state.val_loss < state.best_val * (1 - spec.min_delta)
        if improved:
            state.best_val, state.best_step, state.evals_since_best = state.val_loss, state.step, 0
        else:
            state.evals_since_best += 1
        evaluated_at = state.step
        hooks.progress({"event": "eval", "step": state.step, "val_loss": state.val_loss,
                        "train_loss": state.train_loss, "best": improved, "best_val": state.best_val,
                        "elapsed_s": state.elapsed_s})
        if improved and spec.keep == "best":
            hooks.keep_checkpoint("best", model, optimizer, state)
        return spec.patience > 0 and state.evals_since_best >= spec.patience

    def keep_waste(kind: str = "waste") -> None:
        nonlocal checkpointed_at, losses
        if losses:
            state.train_loss = sum(losses) / len(losses)
            state.curve.append([state.step, state.train_loss, None])
            losses = []
        hooks.keep_checkpoint(kind, model, optimizer, state)
        checkpointed_at = state.step

    reason = None
    while reason is None:
        # -- budget and stop ----------------------------------------------------------------
        state.elapsed_s = time.monotonic() - started
        if spec.max_steps is not None and state.step >= spec.max_steps:
            reason = "steps"
            break
        if spec.budget_s is not None and state.elapsed_s >= spec.budget_s:
            reason = "time"
            break
        if hooks.should_stop():
            reason = "cancelled"
            break
        hooks.between_steps()

        # -- one step -----------------------------------------------------------------------
        batch = sampler.batch(spec.seed, state.step, spec.batch_size)
        loss = batch_loss(model, batch, device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(spec, state.step)
        optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            if torch.isfinite(norm):
                optimizer.step()
                losses.append(loss.item())
            else:
                state.skipped_steps += 1
        else:
            state.skipped_steps += 1
        state.step += 1
        state.audio_s += window_s

        # -- report, evaluate, keep -----------------------------------------------------------
        now = time.monotonic()
        state.elapsed_s = now - started
        if state.step % spec.log_every == 0 and losses:
            hooks.progress({"event": "step", "step": state.step, "loss": losses[-1], "elapsed_s": state.elapsed_s,
                            "audio_s": state.audio_s, **time_left(spec, state)})
        if spec.validation and (
                (spec.eval_every_steps and state.step - eval_step >= spec.eval_every_steps)
                or (spec.eval_every_s and now - last_eval >= spec.eval_every_s)):
            eval_step, last_eval = state.step, time.monotonic()
            if evaluate():
                reason = "early-stop"
        if spec.keep == "all" and (
                (spec.checkpoint_every_steps and state.step - ckpt_step >= spec.checkpoint_every_steps)
                or (not spec.checkpoint_every_steps and spec.budget_s
                    and now - last_ckpt >= spec.budget_s / 4)):
            ckpt_step, last_ckpt = state.step, time.monotonic()
            keep_waste()
        if time.monotonic() - last_resume >= 30.0:
            hooks.save_resume(model, optimizer, state)
            last_resume = time.monotonic()

    # -- the end: a last evaluation / checkpoint at the final step, and the resume point ------
    if reason != "cancelled":
        if spec.validation and evaluated_at != state.step and state.step > 0:
            evaluate()
        if spec.keep == "all" and checkpointed_at != state.step:
            keep_waste()
    state.elapsed_s = time.monotonic() - started
    hooks.save_resume(model, optimizer, state)
    return reason


def time_left(spec: RunSpec, state: LoopState) -> dict:
    """Seconds left and the fraction done, from whichever budget ends first."""
    fractions, lefts = [], []
    if spec.budget_s:
        fractions.append(state.elapsed_s / spec.budget_s)
        lefts.append(max(0.0, spec.budget_s - state.elapsed_s))
    if spec.max_steps:
        fractions.append(state.step / spec.max_steps)
        per_step = state.elapsed_s / max(state.step, 1)
        lefts.append(max(0, spec.max_steps - state.step) * per_step)
    return {"fraction": min(1.0, max(fractions)) if fractions else None,
            "time_left_s": min(lefts) if lefts else None}
