"""Spacetime patches (Sora): cut a latent video into (pt, ph, pw) boxes, one token per box.

Any T, H, W divisible by the patch works, so one model sees many durations, resolutions and
aspect ratios; tokens are ordered t-major, then h, then w (the order `rope.grid_positions` uses).
"""

from __future__ import annotations

import math

import torch


def check_divisible(shape_thw: tuple[int, int, int], patch: tuple[int, int, int]) -> None:
    """Raise a ValueError naming the bad sizes and the nearest valid ones if a patch does not tile."""
    bad = []
    for axis, n, p in zip("THW", shape_thw, patch):
        if n < 1 or n % p:
            lo, hi = (n // p) * p, (n // p + 1) * p
            near = f"{hi}" if lo < p else f"{lo} or {hi}"
            bad.append(f"{axis}={n} is not a multiple of the patch {p} (nearest valid: {near})")
    if bad:
        raise ValueError(f"latent (T,H,W)={tuple(shape_thw)} does not divide into patches {tuple(patch)}: "
                         + "; ".join(bad))


def grid_size(shape_thw: tuple[int, int, int], patch: tuple[int, int, int]) -> tuple[int, int, int]:
    check_divisible(shape_thw, patch)
    return tuple(n // p for n, p in zip(shape_thw, patch))


def num_tokens(shape_thw: tuple[int, int, int], patch: tuple[int, int, int]) -> int:
    """N = (T/pt)(H/ph)(W/pw): the one token count (flops, the schedule shift and the model all use it)."""
    return math.prod(grid_size(shape_thw, patch))


def patchify(x: torch.Tensor, patch: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, C*pt*ph*pw) with N = (T/pt)(H/ph)(W/pw); features ordered (pt, ph, pw, C)."""
    if x.ndim != 5:
        raise ValueError(f"patchify expects (B,C,T,H,W), got shape {tuple(x.shape)}")
    B, C, T, H, W = x.shape
    pt, ph, pw = patch
    gt, gh, gw = grid_size((T, H, W), patch)
    x = x.reshape(B, C, gt, pt, gh, ph, gw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # B, gt, gh, gw, pt, ph, pw, C
    return x.reshape(B, gt * gh * gw, pt * ph * pw * C)  # B, N, D_patch


def unpatchify(tokens: torch.Tensor, patch: tuple[int, int, int], shape_thw: tuple[int, int, int]) -> torch.Tensor:
    """Exact inverse of `patchify`: (B, N, pt*ph*pw*C) -> (B, C, T, H, W)."""
    B, N, Dp = tokens.shape
    pt, ph, pw = patch
    gt, gh, gw = grid_size(shape_thw, patch)
    if N != gt * gh * gw or Dp % (pt * ph * pw):
        raise ValueError(f"tokens {tuple(tokens.shape)} do not match (T,H,W)={tuple(shape_thw)} with patch {patch}")
    C = Dp // (pt * ph * pw)
    x = tokens.reshape(B, gt, gh, gw, pt, ph, pw, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # B, C, gt, pt, gh, ph, gw, pw
    return x.reshape(B, C, gt * pt, gh * ph, gw * pw)  # B, C, T, H, W
