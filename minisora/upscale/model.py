"""The super-resolution stage: `Upscaler(frames) -> frames` at 2x (4x by chaining) in space and
optionally 2x in frame rate. Design and reasons: `config.py`; condition and tiling: `condition.py`.

The network is the project's DiT unchanged (`minisora.dit.model.DiT`), built with 3 "latent"
channels (the RGB residual, in 8x8-pixel spacetime patches) and 5 extra condition channels. The
text input always gets the DiT's learned null text: the stage follows the low-res clip, not the
prompt, so one set of weights serves any prompt and any clip (`minisora upscale in.mp4`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from minisora.config import from_dict, to_dict
from minisora.dit.model import DiT
from minisora.flow.samplers import make_noise, sample
from minisora.precision import autocast as precision_autocast, check as check_precision
from minisora.upscale.condition import (build_condition, frames_to_tensor, ramp, spans, tensor_to_frames,
                                        upsample_space)
from minisora.upscale.config import TIME_SCALES, UpscalerConfig
from minisora.weights import load_weights, save_weights

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "assets" / "minisora-tiny" / "upscaler"
MODEL_NAME = "Upscaler"
# Flipped copies for the self-ensemble (Lim et al. 2017, EDSR's geometric self-ensemble), as dims of
# (B, C, T, H, W): none, W, H, H+W, then the same with time reversed. The world is symmetric under all.
ENSEMBLE_FLIPS: tuple[tuple[int, ...], ...] = ((), (4,), (3,), (3, 4), (2,), (2, 4), (2, 3), (2, 3, 4))


class VelocityFromX(nn.Module):
    """Presents a DiT that predicts clean data x_hat as a velocity model for `flow/` (convention in
    flow/objective.py: x_t = (1 - t) x_data + t x_noise, v = x_noise - x_data, so
    v = (x_t - x_data) / t); t is clamped below at t_min, as in Li & He 2025. The DiT is `.module`,
    so `flow.training.unwrap` finds its config and null text."""

    def __init__(self, dit: DiT, t_min: float):
        super().__init__()
        self.module = dit
        self.t_min = t_min

    def forward(self, x: torch.Tensor, t: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        x_hat = self.module(x, t, *args, **kwargs)  # B, C, T, H, W
        return (x - x_hat) / t.clamp(min=self.t_min).view(-1, *([1] * (x.ndim - 1))).to(x.dtype)


def velocity_model(dit: nn.Module, config: UpscalerConfig) -> nn.Module:
    """The callable `flow/` trains and samples: the DiT itself ("v") or its x-to-v wrapper ("x")."""
    return VelocityFromX(dit, config.t_min) if config.prediction == "x" else dit


class Upscaler:
    """2x super-resolution stage. `upscaler(frames uint8 (T, H, W, 3), scale=2, time_scale=1)`."""

    def __init__(self, config: UpscalerConfig | None = None, dit: DiT | None = None):
        self.config = config or UpscalerConfig()
        self.dit = (dit or DiT(self.config.dit)).eval()
        if self.dit.config != self.config.dit:
            raise ValueError("dit.config differs from config.dit")
        self.precision = "auto"  # minisora.precision: bf16 only where the device runs it natively

    # ------------------------------------------------------------------ weights
    @classmethod
    def from_pretrained(cls, folder: str | Path = DEFAULT_DIR, device: str | torch.device = "cpu") -> "Upscaler":
        state, meta = load_weights(folder, dtype=torch.float32)
        if meta.get("model") != MODEL_NAME:
            raise ValueError(f"{folder} holds a {meta.get('model')!r} model, not an {MODEL_NAME}")
        config = from_dict(UpscalerConfig, meta["config"])
        dit = DiT(config.dit)
        dit.load_state_dict(state, strict=True)
        return cls(config, dit).to(device)

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = torch.bfloat16) -> Path:
        return save_weights(folder, self.dit.state_dict(), {"model": MODEL_NAME, "config": to_dict(self.config)},
                            dtype=dtype)

    def to(self, device: str | torch.device) -> "Upscaler":
        self.dit.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.dit.null_token.device

    def set_precision(self, precision: str) -> "Upscaler":
        """'auto' (default; see minisora.precision), 'bf16' (autocast; ~2.5x faster matmuls on CPUs
        with AVX-512 bf16, ~100x slower on AVX2-only ones) or 'fp32'."""
        self.precision = check_precision(precision)
        return self

    # ------------------------------------------------------------------ the network on one batch
    def residual(self, noise: torch.Tensor, extra_cond: torch.Tensor, steps: int) -> torch.Tensor:
        """Sample the residual (B, 3, T, H, W) in pixel units for extra_cond (B, 5, T, H, W), starting
        from `noise` (same shape as the residual). Euler steps of the rectified flow (flow/objective.py)."""
        B = noise.shape[0]
        tokens, mask, pooled = self.dit.null_text(B)
        cond = dict(text_tokens=tokens, text_mask=mask, text_pooled=pooled, extra_cond=extra_cond)
        with torch.no_grad(), precision_autocast(self.precision, noise.device):
            x = sample(velocity_model(self.dit, self.config), noise, steps=steps, method="euler",
                       shift=self.config.shift, cond=cond, progress=False)
        return x.float() / self.config.residual_scale

    # ------------------------------------------------------------------ public entry point
    def __call__(self, frames, scale: int = 2, time_scale: int = 1, steps: int | None = None, seed: int = 0,
                 cond_noise: float = 0.0, progress: bool = False) -> np.ndarray:
        """Upscale a clip.

        frames: uint8 (T, H, W, 3) (numpy or torch). scale: 2 or 4 (4 = two chained 2x passes), or 1
        with time_scale=2 (frame-rate only).
        time_scale: 1, or 2 for twice the frame rate (T -> 2T - 1 frames over the same duration;
        applied in the first pass). steps: Euler steps (default config.steps). seed: fixes the
        sampling noise, so the same inputs give the same output. cond_noise: noise-augmentation level
        given to the condition (0 = trust the input exactly; ~0.02 for inputs with artefacts).
        Returns uint8 (T', H * scale, W * scale, 3).
        """
        # 1. check inputs
        x = frames_to_tensor(frames).to(self.device)  # 1, 3, T, H, W
        passes = {1: 1, 2: 1, 4: 2}.get(scale)
        if passes is None:
            raise ValueError(f"scale={scale} is not valid; choose 1 (with time_scale=2), 2 or 4 (two 2x passes)")
        if time_scale not in TIME_SCALES:
            raise ValueError(f"time_scale={time_scale} is not valid; choose one of {TIME_SCALES}")
        if scale == 1 and time_scale == 1:
            raise ValueError("scale=1 with time_scale=1 would change nothing; use scale 2 or 4, or time_scale=2")
        if time_scale == 2 and x.shape[2] < 2:
            raise ValueError("time_scale=2 needs a clip of at least 2 frames")
        steps = self.config.steps if steps is None else int(steps)
        if steps < 1:
            raise ValueError(f"steps={steps} must be >= 1")
        if not 0.0 <= cond_noise <= 1.0:
            raise ValueError(f"cond_noise={cond_noise} must lie in [0, 1]")
        # 2. one 2x pass per factor of 2, each with its own noise stream
        x_in = x
        for i in range(passes):
            x = self.upscale_tensor(x, time_scale if i == 0 else 1, steps, seed + 7919 * i, cond_noise, progress)
        if scale == 1:
            # frame-rate only: the 2x pass's new frames, box-downsampled to the input size (the
            # back-projected output box-downsamples to the input), between the untouched input frames
            x = torch.nn.functional.avg_pool2d(x[0].transpose(0, 1), 2).transpose(0, 1)[None]  # 1, 3, T', H, W
            x[:, :, 0::2] = x_in
        # 3. back to frames
        return tensor_to_frames(x[0])

    def upscale_tensor(self, x_lo: torch.Tensor, time_scale: int, steps: int, seed: int, cond_noise: float = 0.0,
                       progress: bool = False) -> torch.Tensor:
        """One 2x pass: x_lo (1, 3, T, h, w) in [-1, 1] -> (1, 3, T', 2h, 2w) in [-1, 1]."""
        cfg = self.config
        s = cfg.scale
        _, _, T, h, w = x_lo.shape
        # 1. pad to sizes whose 2x output divides into patches (edge replication; cropped at the end)
        a = cfg.pixel_align // s
        ph, pw = -h % a, -w % a
        if ph or pw:
            x_lo = torch.nn.functional.pad(x_lo.flatten(1, 2), (0, pw, 0, ph), mode="replicate") \
                .view(1, 3, T, h + ph, w + pw)  # 1, 3, T, h+ph, w+pw
        # 2. condition (optionally noise-augmented with a seeded noise) and the flow's starting noise
        sigma = torch.full((1,), float(cond_noise), device=x_lo.device)
        aug = make_noise(tuple(x_lo.shape), seed + 1, device=x_lo.device) if cond_noise > 0 else None
        base, extra = build_condition(x_lo, s, time_scale, sigma, aug)  # 1, 3|5, T', H, W
        noise = make_noise(tuple(base.shape), seed, device=x_lo.device)
        # 3. the residual, averaged over flipped copies of the problem (geometric self-ensemble)
        res = torch.zeros_like(base)
        for dims in ENSEMBLE_FLIPS[:cfg.ensemble]:
            flip = (lambda z, d=dims: z.flip(d)) if dims else (lambda z: z)
            res += flip(self.residual_field(flip(noise), flip(extra), steps, progress))
        out = (base + res / cfg.ensemble).clamp(-1, 1)  # 1, 3, T', H, W
        # 4. back-projection onto the input (the frames it has: all, or every other one at 2x fps)
        if cfg.back_projection:
            step_t = 2 if time_scale == 2 else 1
            out[:, :, ::step_t] = back_project(out[:, :, ::step_t], x_lo, s, cfg.back_projection)
        # 5. undo the padding
        return out[..., :s * h, :s * w]

    def residual_field(self, noise: torch.Tensor, extra: torch.Tensor, steps: int,
                       progress: bool = False) -> torch.Tensor:
        """The residual (1, 3, T, H, W) of a whole clip from its noise (1, 3, T, H, W) and condition
        (1, 5, T, H, W): windows in time x tiles in space, blended linearly; same-shaped tiles run as
        one batch, so memory depends on the tile size, not on the clip."""
        cfg = self.config
        _, _, Tn, H, W = noise.shape
        t_spans = spans(Tn, cfg.window_frames, cfg.window_overlap)
        h_spans = spans(H, cfg.tile_size, cfg.tile_overlap, cfg.pixel_align)
        w_spans = spans(W, cfg.tile_size, cfg.tile_overlap, cfg.pixel_align)
        boxes = [(t, y, xx) for t in t_spans for y in h_spans for xx in w_spans]
        acc = torch.zeros(1, 3, Tn, H, W, device=noise.device)
        wsum = torch.zeros(1, 1, Tn, H, W, device=noise.device)
        groups: dict[tuple[int, int, int], list] = {}
        for box in boxes:
            groups.setdefault((box[0][1], box[1][1], box[2][1]), []).append(box)
        bar = tqdm(total=len(boxes), desc="upscaling", disable=not progress, leave=False)
        for group in groups.values():
            for k in range(0, len(group), cfg.max_tile_batch):
                chunk = group[k:k + cfg.max_tile_batch]
                sl = [(slice(None), slice(None), slice(t0, t0 + tl), slice(y0, y0 + yl), slice(x0, x0 + xl))
                      for (t0, tl), (y0, yl), (x0, xl) in chunk]
                res = self.residual(torch.cat([noise[i] for i in sl]), torch.cat([extra[i] for i in sl]), steps)
                for j, ((t0, tl), (y0, yl), (x0, xl)) in enumerate(chunk):
                    wt = (ramp(t0, tl, Tn, cfg.window_overlap)[:, None, None]
                          * ramp(y0, yl, H, cfg.tile_overlap)[None, :, None]
                          * ramp(x0, xl, W, cfg.tile_overlap)[None, None, :]).to(acc.device)  # tl, yl, xl
                    acc[sl[j]] += res[j:j + 1] * wt
                    wsum[sl[j]] += wt
                bar.update(len(chunk))
        bar.close()
        return acc / wsum

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.dit.parameters())


def back_project(x: torch.Tensor, x_lo: torch.Tensor, scale: int, iterations: int) -> torch.Tensor:
    """Iterative back-projection: x (B, 3, T, H, W) -> x + bicubic(x_lo - box_down(x)), `iterations`
    times, clamped to [-1, 1]; x_lo (B, 3, T, H/scale, W/scale)."""
    B, C, T, H, W = x.shape
    for _ in range(iterations):
        down = torch.nn.functional.avg_pool2d(x.transpose(1, 2).reshape(B * T, C, H, W), scale)  # B*T, C, h, w
        down = down.view(B, T, C, H // scale, W // scale).transpose(1, 2)  # B, C, T, h, w
        x = (x + upsample_space(x_lo - down, scale, clamp=False)).clamp(-1, 1)
    return x


def upscaled_shape(num_frames: int, height: int, width: int, scale: int = 2, time_scale: int = 1) -> tuple[int, int, int]:
    """(T', H', W') of the output for an input of (num_frames, height, width)."""
    t = num_frames if time_scale == 1 else 2 * num_frames - 1
    return t, height * scale, width * scale

