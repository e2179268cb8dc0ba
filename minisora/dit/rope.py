"""3D rotary position embeddings (RoFormer, Su et al. 2021) with separate bands for t, h and w.

Each head's channels are split into three bands (`DiTConfig.rope_dims`); band a rotates pairs of
channels by angle pos_a * theta^(-2i/d_a). A dot product of two rotated vectors then depends only on
the *difference* of their (t, h, w) positions, so nothing ties the model to the grid size it was
trained at: it samples at other durations and aspect ratios without position interpolation.
"""

from __future__ import annotations

import torch


def grid_positions(grid: tuple[int, int, int], device=None) -> torch.Tensor:
    """Integer (t, h, w) position of every token, t-major like `patchify`: (N, 3)."""
    gt, gh, gw = grid
    t, h, w = torch.meshgrid(torch.arange(gt, device=device), torch.arange(gh, device=device),
                             torch.arange(gw, device=device), indexing="ij")
    return torch.stack([t, h, w], dim=-1).reshape(-1, 3)  # N, 3


def rope_angles(positions: torch.Tensor, dims: tuple[int, int, int], theta: float = 10000.0) -> torch.Tensor:
    """Rotation angle of every channel pair: positions (N, 3) -> (N, head_dim/2), float32."""
    parts = []
    for axis, d in enumerate(dims):
        if d == 0:
            continue
        inv_freq = theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=positions.device) / d)
        parts.append(positions[:, axis:axis + 1].double() * inv_freq)  # N, d/2
    return torch.cat(parts, dim=-1).float()  # N, head_dim/2


def rope_cos_sin(grid: tuple[int, int, int], dims: tuple[int, int, int], theta: float,
                 device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Tables for `apply_rope` from positions: see `rope_tables`."""
    return rope_tables(rope_angles(grid_positions(grid, device), dims, theta), dtype)


def rope_tables(angles: torch.Tensor, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """angles (N, hd/2) -> cos (N, hd) = [cos, cos] and signed sin (N, hd) = [-sin, sin], in `dtype`."""
    c, s = angles.cos(), angles.sin()
    return torch.cat([c, c], dim=-1).to(dtype), torch.cat([-s, s], dim=-1).to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + hd/2) of x (..., N, hd) by the angles behind the (N, hd) tables.

    With x = [x1, x2]: out = [x1 cos - x2 sin, x2 cos + x1 sin] = x * [cos, cos] + [x2, x1] * [-sin, sin],
    three kernels (mul, cat, addcmul). The "rotate half" pairing is the interleaved rotation of
    RoFormer up to a fixed permutation of channels, so relative-position behaviour is the same.
    """
    x1, x2 = x.chunk(2, dim=-1)  # ..., N, hd/2 each
    return torch.addcmul(x * cos, torch.cat([x2, x1], dim=-1), sin)  # ..., N, hd
