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
    """cos and sin tables (N, head_dim/2) for a token grid, in `dtype` (the activation dtype)."""
    ang = rope_angles(grid_positions(grid, device), dims, theta)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (first half, second half) of x (B, heads, N, head_dim) by the given angles.

    The "rotate half" pairing (channel i with i + head_dim/2) keeps the work to two contiguous
    slices instead of strided even/odd views; it is the same rotation up to a fixed channel permutation.
    """
    x1, x2 = x.chunk(2, dim=-1)  # B, h, N, hd/2 each
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
