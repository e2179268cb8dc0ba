"""Rectified flow: THE convention of minisora, stated once.

    x_t = (1 - t) * x_data + t * x_noise,     t in [0, 1]
    t = 0 is data, t = 1 is pure Gaussian noise (x_noise ~ N(0, I)).
    The model predicts the velocity  v = dx_t/dt = x_noise - x_data  (constant along the straight path).
    Sampling integrates dx/dt = v from t = 1 (noise) down to t = 0 (data):  x_{t'} = x_t + (t' - t) * v.

This is the convention of Liu et al. 2022 ("Flow Straight and Fast") as written in SD3 (Esser et
al. 2024, Eq. 2-3) and of diffusers' FlowMatchEulerDiscreteScheduler with sigma = t. Endpoints are
named `x_data` and `x_noise` everywhere, never x0 / x1.
"""

from __future__ import annotations

import torch


def _bcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t (B,) -> (B, 1, 1, ...) so it broadcasts over a latent of shape (B, C, T, H, W)."""
    return t.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def interpolate(x_data: torch.Tensor, x_noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_data + t x_noise for t (B,)."""
    tb = _bcast(t, x_data)
    return x_data + tb * (x_noise - x_data)


def velocity_target(x_data: torch.Tensor, x_noise: torch.Tensor) -> torch.Tensor:
    """The regression target v = x_noise - x_data."""
    return x_noise - x_data


def predict_data(x_t: torch.Tensor, t: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
    """The data estimate implied by a velocity: x_data = x_t - t v."""
    return x_t - _bcast(t, x_t) * velocity


def euler_step(x_t: torch.Tensor, t: float, t_next: float, velocity: torch.Tensor) -> torch.Tensor:
    """One step of dx/dt = v from t to t_next (< t when sampling)."""
    return x_t + (t_next - t) * velocity
