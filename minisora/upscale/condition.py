"""The upscaler's condition and its tiling: pure tensor functions, shared by training and inference.

    low-res clip x_lo (B, 3, T, h, w) in [-1, 1]
      -> bicubic 2x in space                                 (B, 3, T, 2h, 2w)
      -> [linear 2x in time: frame 2j = x_j, 2j+1 = mean]    (B, 3, 2T-1, 2h, 2w)    = base
    cond = the same from x_lo + sigma * noise (noise augmentation; sigma = 0 at inference by default)
    extra_cond = [cond | sigma map | interpolated-frame mask]   (B, 5, T', H, W)
    the DiT generates residual * residual_scale, and output = base + residual.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from minisora.io import pixels_to_unit, unit_to_pixels
from minisora.upscale.config import EXTRA_COND_CHANNELS

# The noise-level channel holds sigma / COND_NOISE_UNIT, so typical levels map to O(1) inputs.
COND_NOISE_UNIT = 0.05


def frames_to_tensor(frames) -> torch.Tensor:
    """uint8 (T, H, W, 3) array/tensor -> float32 (1, 3, T, H, W) in [-1, 1]."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor) or frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        got = f"{getattr(frames, 'dtype', type(frames).__name__)} {tuple(getattr(frames, 'shape', ()))}"
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {got}")
    return pixels_to_unit(frames.permute(3, 0, 1, 2)).unsqueeze(0)  # 1, 3, T, H, W


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3), rounded to nearest."""
    return unit_to_pixels(x).permute(1, 2, 3, 0).cpu().numpy()  # T, H, W, 3


def upsample_space(x: torch.Tensor, factor: int, clamp: bool = True) -> torch.Tensor:
    """Bicubic (align_corners=False, the pixel-centre convention of the renderer), clamped to [-1, 1]
    unless `clamp` is False (for differences). x (B, C, T, h, w) -> (B, C, T, h*factor, w*factor)."""
    B, C, T, h, w = x.shape
    flat = x.transpose(1, 2).reshape(B * T, C, h, w)  # B*T, C, h, w
    up = F.interpolate(flat, scale_factor=factor, mode="bicubic", align_corners=False)
    if clamp:
        up = up.clamp(-1, 1)
    return up.reshape(B, T, C, h * factor, w * factor).transpose(1, 2)  # B, C, T, H, W


def upsample_time(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """2x frame rate by linear interpolation: x (B, C, T, H, W) -> (B, C, 2T-1, H, W), plus the bool
    mask (2T-1,) of the synthesised (odd) frames. The clip keeps its duration: fps doubles."""
    B, C, T, H, W = x.shape
    out = x.new_empty(B, C, 2 * T - 1, H, W)
    out[:, :, 0::2] = x
    out[:, :, 1::2] = 0.5 * (x[:, :, :-1] + x[:, :, 1:])
    mask = torch.zeros(2 * T - 1, dtype=torch.bool, device=x.device)
    mask[1::2] = True
    return out, mask


def build_condition(x_lo: torch.Tensor, scale: int, time_scale: int, sigma: torch.Tensor,
                    noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(base, extra_cond) for low-res clips x_lo (B, 3, T, h, w) in [-1, 1].

    sigma (B,): noise-augmentation std per clip (0 = clean); noise (B, 3, T, h, w) standard normal,
    needed when any sigma > 0. The noise reaches only the condition the DiT sees, never `base`
    (the clean upsampled input the residual is added to): as in CDM, augmentation degrades what the
    model is told, not what it must reproduce, so the residual target keeps its edges-only
    statistics instead of being dominated by noise removal. Returns base (B, 3, T', h*scale,
    w*scale) with T' = T or 2T-1 and extra_cond (B, 5, T', H, W).
    """
    if x_lo.ndim != 5 or x_lo.shape[1] != 3:
        raise ValueError(f"x_lo must be (B, 3, T, h, w), got {tuple(x_lo.shape)}")
    if time_scale not in (1, 2):
        raise ValueError(f"time_scale={time_scale} is not valid; choose 1 or 2")
    if time_scale == 2 and x_lo.shape[2] < 2:
        raise ValueError("time_scale=2 needs at least 2 frames")
    B = x_lo.shape[0]
    sigma = sigma.to(x_lo).reshape(B)

    def upsample(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = upsample_space(x, scale)  # B, 3, T, H, W
        if time_scale == 2:
            return upsample_time(up)  # B, 3, 2T-1, H, W
        return up, torch.zeros(up.shape[2], dtype=torch.bool, device=up.device)

    base, interp = upsample(x_lo)
    cond = base
    if bool((sigma > 0).any()):
        if noise is None or noise.shape != x_lo.shape:
            raise ValueError(f"sigma > 0 needs noise of shape {tuple(x_lo.shape)}")
        cond, _ = upsample(x_lo + sigma.view(B, 1, 1, 1, 1) * noise)
    _, _, T, H, W = base.shape
    level = (sigma / COND_NOISE_UNIT).view(B, 1, 1, 1, 1).expand(B, 1, T, H, W)
    mask = interp.to(base.dtype).view(1, 1, T, 1, 1).expand(B, 1, T, H, W)
    extra = torch.cat([cond, level, mask], dim=1)  # B, 5, T, H, W
    assert extra.shape[1] == EXTRA_COND_CHANNELS
    return base, extra


# ------------------------------------------------------------------------------------------ tiling

def spans(n: int, size: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """Cover [0, n) with windows (start, length) of `size` overlapping by >= `overlap`; starts are
    multiples of `align` (the last window may overlap more). n <= size gives one window."""
    if n <= size:
        return [(0, n)]
    stride = max(align, (size - overlap) // align * align)
    starts = list(range(0, n - size + 1, stride))
    last = (n - size) // align * align
    if starts[-1] != last:
        starts.append(last)
    if starts[-1] + size < n:  # n - size not a multiple of align: callers pad n to a multiple of align
        raise ValueError(f"cannot tile {n} with windows of {size} aligned to {align}")
    return [(s, size) for s in starts]


def ramp(start: int, length: int, n: int, overlap: int) -> torch.Tensor:
    """Blending weights (length,) of a window: linear ramps over `overlap` cells on each side that
    has a neighbour, so overlapping windows cross-fade; 1 elsewhere (weights stay > 0)."""
    w = torch.ones(length)
    if overlap > 0:
        r = torch.arange(1, length + 1, dtype=torch.float32) / (overlap + 1)
        if start > 0:
            w = torch.minimum(w, r)
        if start + length < n:
            w = torch.minimum(w, r.flip(0))
    return w
