"""The per-sample log-MSE loss: its value, and that it shifts the gradient towards the clips that are
already good (the ones a mean-of-per-clip-PSNR benchmark rewards most per unit of squared error)."""

import math

import pytest
import torch

from minisora.vae.losses import LOG_MSE_SCALE, log_mse, vae_loss


def _pair(errors: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two samples whose reconstructions are off by a constant: mse_i = errors[i] ** 2."""
    target = torch.zeros(2, 3, 1, 4, 4)
    rec = target.clone()
    rec[0] += errors[0]
    rec[1] += errors[1]
    return rec.requires_grad_(), target


def test_log_mse_value_is_the_mean_log_of_per_sample_errors() -> None:
    rec, target = _pair((0.1, 0.01))
    floor = 1e-4
    expected = LOG_MSE_SCALE * (math.log(0.1 ** 2 + floor) + math.log(0.01 ** 2 + floor)) / 2
    assert log_mse(rec, target, floor).item() == pytest.approx(expected, rel=1e-5)
    # Uniform pixel weights change nothing: the weighted per-sample mean is the plain one.
    ones = torch.ones(2, 1, 1, 4, 4)
    assert log_mse(rec, target, floor, ones).item() == pytest.approx(expected, rel=1e-5)


def test_log_mse_weights_each_sample_by_its_inverse_error() -> None:
    floor = 1e-6
    rec, target = _pair((0.1, 0.01))
    log_mse(rec, target, floor).backward()
    g = rec.grad.abs().flatten(1).mean(dim=1)
    # Pooled MSE gives each sample a gradient proportional to its error (10:1 here); log-MSE divides by
    # (mse_i + floor), so the better sample now gets the ~10x larger push.
    expected = (0.01 / (0.01 ** 2 + floor)) / (0.1 / (0.1 ** 2 + floor))
    assert expected > 9.8
    assert (g[1] / g[0]).item() == pytest.approx(expected, rel=1e-4)
    rec2, _ = _pair((0.1, 0.01))
    torch.nn.functional.mse_loss(rec2, target).backward()
    g2 = rec2.grad.abs().flatten(1).mean(dim=1)
    assert (g2[0] / g2[1]).item() == pytest.approx(10.0, rel=1e-3)


def test_vae_loss_switches_terms_but_logs_pooled_mse() -> None:
    rec, target = _pair((0.1, 0.01))
    zeros = torch.zeros(1)
    pooled, parts = vae_loss(rec, target, zeros, zeros, 0.0, 0.0, 0.0, mse_weight=1.0)
    logged, parts_log = vae_loss(rec, target, zeros, zeros, 0.0, 0.0, 0.0, mse_weight=1.0, log_mse_floor=1e-4)
    assert pooled.item() == pytest.approx((0.1 ** 2 + 0.01 ** 2) / 2, rel=1e-5)
    assert logged.item() == pytest.approx(log_mse(rec, target, 1e-4).item(), rel=1e-6)
    assert parts["mse"] == pytest.approx(parts_log["mse"], rel=1e-6)  # runs with either loss compare
