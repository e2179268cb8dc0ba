"""The training objective: one call turns a batch of clean latents into a rectified-flow loss.

Steps (convention in objective.py): draw t (logit-normal, token-dependent shift) and noise; replace
the text of `text_drop_prob` of the samples by the model's learned null text (so classifier-free
guidance has an unconditional branch to subtract); give a share of samples some clean frames
(conditioning.py); build x_t; regress the velocity with an MSE over the frames that were not given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from minisora.flow.conditioning import MODES, hold_given, random_frame_masks
from minisora.flow.objective import interpolate, velocity_target
from minisora.dit.patchify import num_tokens
from minisora.flow.schedules import sample_logit_normal, schedule_shift, shift_time


@dataclass
class FlowTrainConfig:
    text_drop_prob: float = 0.1  # share of samples trained unconditionally (for CFG)
    frame_cond_prob: float = 0.25  # share of samples with some clean latent frames given
    frame_cond_modes: tuple[str, ...] = MODES
    logit_mean: float = 0.0  # logit-normal timestep density (SD3: mean 0, std 1)
    logit_std: float = 1.0
    token_dependent_shift: bool = True  # shift = base_shift * sqrt(N / base_tokens), else base_shift
    base_shift: float = 1.0
    base_tokens: int = 80  # tokens of a 64x64x17 clip with the default VAE and patch (1, 2, 2)

    def __post_init__(self) -> None:
        for name in ("text_drop_prob", "frame_cond_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v} must lie in [0, 1]")
        for mode in self.frame_cond_modes:
            if mode not in MODES:
                raise ValueError(f"frame_cond_modes: unknown mode {mode!r}; choose from {', '.join(MODES)}")
        if self.logit_std <= 0 or self.base_shift <= 0 or self.base_tokens < 1:
            raise ValueError("logit_std and base_shift must be > 0 and base_tokens >= 1")
        self.frame_cond_modes = tuple(self.frame_cond_modes)


def unwrap(model: nn.Module) -> nn.Module:
    """The DiT inside DDP / torch.compile wrappers (for its config and null text)."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def flow_matching_loss(model: nn.Module, latents: torch.Tensor, text_tokens: torch.Tensor,
                       text_mask: torch.Tensor, text_pooled: torch.Tensor, cfg: FlowTrainConfig,
                       generator: torch.Generator | None = None,
                       extra_cond: torch.Tensor | None = None,
                       continuation: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Rectified-flow loss for clean `latents` (B, C, T, H, W) and their text (B, L, Dt), (B, L), (B, Dt).

    continuation: (B,) bool, samples always given as forward extensions (late windows of a scene;
    conditioning.random_frame_masks), whatever frame_cond_prob says.

    Returns (loss, stats) where stats holds floats: loss, t_mean, shift, text_dropped, frame_cond.
    All randomness comes from `generator`, so a fixed generator state gives a fixed loss.
    """
    dit = unwrap(model)
    B, C, T, H, W = latents.shape
    dev = latents.device
    gdev = generator.device if generator is not None else dev

    # 1. timesteps and noise
    shift = schedule_shift(cfg, num_tokens((T, H, W), dit.config.patch_size))
    t = shift_time(sample_logit_normal(B, cfg.logit_mean, cfg.logit_std, generator, gdev), shift).to(dev)
    x_noise = torch.randn(latents.shape, generator=generator, device=gdev, dtype=torch.float32).to(dev, latents.dtype)

    # 2. text dropout -> the learned null text, substituted inside the model's forward (so DDP / FSDP
    #    see it; passed even when nothing is dropped, so the null parameters always get a gradient)
    drop = (torch.rand(B, generator=generator, device=gdev) < cfg.text_drop_prob).to(dev)

    # 3. given frames (clean in x_t, marked by the mask, excluded from the loss)
    fmask = None
    late = continuation is not None and bool(continuation.any())
    if late and not dit.config.frame_conditioning:
        raise ValueError("the batch holds late windows (window_start > 0), which are trained only as continuations, "
                         "but the model has frame_conditioning off; turn it on or use data without late windows")
    if dit.config.frame_conditioning and (cfg.frame_cond_prob > 0 or late):
        fmask = random_frame_masks(B, T, cfg.frame_cond_prob, cfg.frame_cond_modes, generator, dev,
                                   continuation if late else None)
    x_t = hold_given(interpolate(latents, x_noise, t), latents, fmask)

    # 4. velocity regression on the frames to be generated
    v = model(x_t, t, text_tokens, text_mask, text_pooled, frame_cond=latents if fmask is not None else None,
              frame_mask=fmask, extra_cond=extra_cond, drop_text=drop)
    err = (v.float() - velocity_target(latents, x_noise).float()).square()  # B, C, T, H, W
    if fmask is None:
        loss = err.mean()
        given_share = 0.0
    else:
        keep = (~fmask).float()  # B, 1, T, 1, 1
        loss = (err * keep).sum() / (keep.sum() * C * H * W)
        given_share = float(fmask.any(dim=2).float().mean())
    stats = {"loss": float(loss.detach()), "t_mean": float(t.mean()), "shift": shift,
             "text_dropped": float(drop.float().mean()), "frame_cond": given_share}
    return loss, stats
