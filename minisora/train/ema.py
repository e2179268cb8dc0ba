"""Exponential moving average of the model weights (the weights that are released and sampled).

The shadow copies have the same type and placement as the parameters they follow: plain tensors
for a single process or DDP, DTensor shards under FSDP2, so each rank averages only its own shard
and the EMA is checkpointed through the same sharded path as the model.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class EMA:
    """`shadow = decay * shadow + (1 - decay) * param` after every optimizer step.

    Before `start_step` the decay is 0 (the shadow copies the model), so the average starts from
    trained weights rather than from the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float, start_step: int = 0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.start_step = start_step
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.shadow = [p.detach().clone().float() for n, p in model.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Fold the current weights in; `step` is the optimizer step just taken (1-based)."""
        decay = self.decay if step > self.start_step else 0.0
        params = [p.detach() for p in model.parameters() if p.requires_grad]
        # lerp_(p, w): shadow += w * (p - shadow) == decay * shadow + (1 - decay) * p
        torch._foreach_lerp_(self.shadow, params, 1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Parameter name -> shadow tensor (same names as the model's state dict)."""
        return dict(zip(self.names, self.shadow))

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = sorted(set(self.names) - set(state))
        unexpected = sorted(set(state) - set(self.names))
        if missing or unexpected:
            raise KeyError(f"EMA state does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        for name, s in zip(self.names, self.shadow):
            s.copy_(state[name])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the EMA weights into `model` (same structure as the model this EMA follows)."""
        params = dict(model.named_parameters())
        for name, s in zip(self.names, self.shadow):
            params[name].copy_(s)

    @contextlib.contextmanager
    def applied(self, model: nn.Module):
        """Inside the block `model` holds the EMA weights; its trained weights come back after."""
        params = [p for p in model.parameters() if p.requires_grad]
        trained = [p.detach().clone() for p in params]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, trained)


def released_weights(model: nn.Module, ema: EMA | None):
    """Context in which `model` holds the weights that get released: the EMA's when there is one."""
    return ema.applied(model) if ema is not None else contextlib.nullcontext(model)
