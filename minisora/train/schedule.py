"""The one learning-rate schedule of every trainer: linear warmup, then cosine decay, driven by the step
count or by the time budget, whichever is further along (so a run stopped by `minutes` still ends
with a fully decayed lr). `loop` is a `harness.Loop` (max_steps, minutes, warmup_steps, min_lr_ratio).
"""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, elapsed_s: float, loop) -> float:
    """Factor of the peak lr for the update after `step` optimizer steps: linear warmup to 1, then
    cosine to `min_lr_ratio`. Progress is the further of the step count and the time budget, so a
    run stopped by `minutes` still ends with a fully decayed lr."""
    if step < loop.warmup_steps:
        return (step + 1) / loop.warmup_steps
    progress = (step - loop.warmup_steps) / max(loop.max_steps - loop.warmup_steps, 1)
    if loop.minutes > 0:
        progress = max(progress, elapsed_s / (60.0 * loop.minutes))
    progress = min(progress, 1.0)
    return loop.min_lr_ratio + (1.0 - loop.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class Schedule:
    """Sets each parameter group's lr to its peak times `lr_factor`; the checkpoint's schedule slot.

    The peak comes from the current config, never from a checkpoint: a resumed run with another
    `lr` (allowed with allow_changed) follows the new schedule."""

    def __init__(self, optimizer: torch.optim.Optimizer, loop):
        self.optimizer, self.loop, self.step_count, self.last_lr = optimizer, loop, 0, 0.0
        self.peaks = [g["lr"] for g in optimizer.param_groups]

    def set(self, step: int, elapsed_s: float) -> float:
        f = lr_factor(step, elapsed_s, self.loop)
        for g, peak in zip(self.optimizer.param_groups, self.peaks):
            g["lr"] = peak * f
        self.step_count, self.last_lr = step, self.peaks[0] * f
        return self.last_lr

    def state_dict(self) -> dict:
        return {"step": self.step_count, "lr": self.last_lr}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])
