"""Timestep distributions for training and timestep grids for sampling (convention: objective.py).

Training draws t from a logit-normal (SD3, Esser et al. 2024, Sec. 3.1), which spends most samples
in the middle of the path where the velocity is hardest to predict. Both training and sampling then
apply a *shift* s,  t -> s t / (1 + (s - 1) t),  which moves mass towards the noise end. The shift
grows with the number of tokens (SD3 Sec. 5.3.2): more tokens carry more redundant signal, so the
same t destroys less of the image and more noise is needed for the same uncertainty. We use
s = base_shift * sqrt(N / base_tokens).
"""

from __future__ import annotations

import math

import torch


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """t -> s t / (1 + (s - 1) t); s = 1 is the identity, s > 1 moves t towards 1 (noise)."""
    if shift <= 0:
        raise ValueError(f"shift={shift} must be > 0")
    return shift * t / (1 + (shift - 1) * t)


def token_shift(num_tokens: int, base_shift: float = 1.0, base_tokens: int = 80) -> float:
    """The schedule shift for a sequence of `num_tokens` tokens: base_shift * sqrt(N / base_tokens)."""
    if num_tokens < 1 or base_tokens < 1:
        raise ValueError(f"num_tokens={num_tokens} and base_tokens={base_tokens} must be >= 1")
    return base_shift * math.sqrt(num_tokens / base_tokens)


def schedule_shift(rule, num_tokens: int) -> float:
    """The shift for `num_tokens` tokens under `rule`: any config with the fields token_dependent_shift,
    base_shift and base_tokens (FlowTrainConfig when training, the model folder's SchedulerConfig when
    sampling: the same three fields, so a sampler can use exactly the shift the model was trained with)."""
    if rule.token_dependent_shift:
        return token_shift(num_tokens, rule.base_shift, rule.base_tokens)
    return float(rule.base_shift)


def sample_logit_normal(batch: int, mean: float = 0.0, std: float = 1.0,
                        generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """t = sigmoid(mean + std * n), n ~ N(0, 1): (batch,) float32 in (0, 1)."""
    n = torch.randn(batch, generator=generator, device=generator.device if generator is not None else device)
    return torch.sigmoid(mean + std * n).to(device)


def sampling_times(steps: int, shift: float = 1.0, device=None) -> torch.Tensor:
    """The grid t_0 = 1 > t_1 > ... > t_steps = 0 (steps + 1 values, float32), uniform then shifted."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift).float().to(device)


def flow_match_times(steps: int, shift: float = 1.0, num_train_timesteps: int = 1000, device=None) -> torch.Tensor:
    """The grid of diffusers' FlowMatchEulerDiscreteScheduler (the one Wan2.1 folders ship for Euler):
    uniform from 1 down to the shifted smallest training time 1/num_train_timesteps, shifted, then 0.

    It differs from `sampling_times(steps, shift)`, whose uniform grid runs down to 0 before the shift:
    here the last step before 0 starts at shift(shift(1/1000)) (the shift is applied to the endpoints
    and again to the grid, as diffusers does). steps + 1 values, float32."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    train = torch.linspace(1, num_train_timesteps, num_train_timesteps, dtype=torch.float32).flip(0)
    lo = float(shift_time(train[-1:] / num_train_timesteps, shift))  # float32, like the scheduler's sigma_min
    grid = torch.linspace(num_train_timesteps * 1.0, lo * num_train_timesteps, steps, dtype=torch.float64)
    grid = shift_time(grid / num_train_timesteps, shift).float()
    return torch.cat([grid, torch.zeros(1)]).to(device)


def unipc_flow_times(steps: int, shift: float = 1.0, num_train_timesteps: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The grid of diffusers' UniPCMultistepScheduler with flow sigmas (what Wan2.1 folders ship):
    (times (steps + 1,) float32 from ~1 down to 0, model_times (steps,)).

    times: uniform from 1 to 1/num_train_timesteps over steps + 1 points, the last dropped, shifted,
    then 0 appended (a first time of exactly 1 is nudged to 1 - 1e-6, where log(1 - t) is finite).
    model_times: what the model is told at each step, the time truncated to whole training steps
    (floor(t * num_train_timesteps) / num_train_timesteps), as the reference scheduler does."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    t = torch.linspace(1.0, 1.0 / num_train_timesteps, steps + 1, dtype=torch.float64)[:-1]
    t = shift * t / (1 + (shift - 1) * t)
    if abs(float(t[0]) - 1.0) < 1e-6:
        t[0] -= 1e-6
    model_times = (t * num_train_timesteps).long().double() / num_train_timesteps
    return torch.cat([t, torch.zeros(1, dtype=torch.float64)]).float(), model_times.float()
