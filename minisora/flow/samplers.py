"""Samplers for the rectified-flow ODE (convention: objective.py), with classifier-free guidance.

The model is a callable `model_fn(x, t, **cond) -> velocity` with t (B,) in [0, 1]; nothing here
knows its architecture. Given frames (frame_cond / frame_mask) are held fixed at every step and
passed to the model; SDEdit-style editing starts from `x_init` noised to `strength` and runs only
the remaining part of the schedule.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm

from minisora.flow.conditioning import hold_given
from minisora.flow.schedules import sampling_times

METHODS: tuple[str, ...] = ("euler", "heun")


def make_noise(shape: tuple[int, ...], seed: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Gaussian noise fixed by `seed` (drawn on the CPU so a seed means the same noise on every device)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=g, dtype=torch.float32).to(device=device, dtype=dtype)


def _batchable(cond: dict, uncond: dict) -> bool:
    if cond.keys() != uncond.keys():
        return False
    for k in cond:
        a, b = cond[k], uncond[k]
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            return False
        if isinstance(a, torch.Tensor) and (a.shape != b.shape or a.dtype != b.dtype):
            return False
        if not isinstance(a, torch.Tensor) and a is not b and a != b:
            return False
    return True


def guided_velocity(model_fn: Callable, x: torch.Tensor, t: torch.Tensor, cond: dict, uncond: dict | None,
                    guidance_scale: float, extra: dict) -> torch.Tensor:
    """v_uncond + g (v_cond - v_uncond); both branches in one batched call when their shapes allow."""
    if uncond is None or guidance_scale == 1.0:
        return model_fn(x, t, **cond, **extra)
    if _batchable(cond, uncond):
        both = {k: torch.cat([cond[k], uncond[k]]) if isinstance(cond[k], torch.Tensor) else cond[k] for k in cond}
        ex = {k: torch.cat([v, v]) if isinstance(v, torch.Tensor) else v for k, v in extra.items()}
        v_c, v_u = model_fn(torch.cat([x, x]), torch.cat([t, t]), **both, **ex).chunk(2)
    else:
        v_c = model_fn(x, t, **cond, **extra)
        v_u = model_fn(x, t, **uncond, **extra)
    return v_u + guidance_scale * (v_c - v_u)


@torch.no_grad()
def sample(model_fn: Callable, noise: torch.Tensor, *, steps: int, method: str = "euler",
           guidance_scale: float = 1.0, shift: float = 1.0, cond: dict, uncond: dict | None = None,
           frame_cond: torch.Tensor | None = None, frame_mask: torch.Tensor | None = None,
           x_init: torch.Tensor | None = None, strength: float = 1.0, progress: bool = True,
           times: torch.Tensor | None = None, replace_given: bool = False) -> torch.Tensor:
    """Integrate from noise (t = 1) to data (t = 0).

    noise (B, C, T, H, W); steps: number of intervals; method: "euler" or "heun" (Heun's 2nd order,
    Euler on the final step to t = 0 as in Karras et al. 2022); guidance_scale: CFG weight (1 = off);
    shift: schedule shift (see schedules.py); cond / uncond: keyword arguments of model_fn for the two
    CFG branches; frame_cond (B, C, T, H, W) + frame_mask (B, 1, T, 1, 1) bool: frames held fixed;
    x_init + strength in (0, 1]: SDEdit — start from x_init noised to the grid time nearest below
    `strength`; times: a custom decreasing grid ending at 0 (overrides steps/shift);
    replace_given: for a model without frame-conditioning channels (e.g. Wan2.1), the given frames are
    not passed to the model; instead, before every evaluation at time t, they are put into x re-noised
    to t on their straight path to the run's own noise, (1 - t) frame_cond + t noise (training-free
    latent replacement), and put in clean at the end.
    """
    if method not in METHODS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {', '.join(METHODS)}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength} must lie in (0, 1]")
    if (frame_cond is None) != (frame_mask is None):
        raise ValueError("frame_cond and frame_mask must be given together")
    grid = sampling_times(steps, shift, noise.device) if times is None else times.to(noise.device).float()
    if grid.ndim != 1 or len(grid) < 2 or bool((grid[1:] >= grid[:-1]).any()) or float(grid[-1]) != 0.0:
        raise ValueError("the time grid must be strictly decreasing and end at 0")

    x = noise
    if x_init is not None:
        if x_init.shape != noise.shape:
            raise ValueError(f"x_init {tuple(x_init.shape)} must match noise {tuple(noise.shape)}")
        # SDEdit (Meng et al. 2022): skip the part of the schedule above `strength`.
        n_run = max(1, round((len(grid) - 1) * strength))
        grid = grid[len(grid) - 1 - n_run:]
        t0 = float(grid[0])
        x = (1 - t0) * x_init + t0 * noise
    elif strength != 1.0:
        raise ValueError("strength < 1 needs x_init (the latent to edit)")

    if replace_given:
        return _sample_replacing(model_fn, x, noise, grid, method, guidance_scale, cond, uncond, frame_cond,
                                 frame_mask, progress)
    extra = {} if frame_mask is None else {"frame_cond": frame_cond, "frame_mask": frame_mask}
    B = x.shape[0]
    velocity = lambda x_, t_: guided_velocity(model_fn, hold_given(x_, frame_cond, frame_mask),
                                              torch.full((B,), t_, device=x.device), cond, uncond,
                                              guidance_scale, extra)
    ts = grid.tolist()
    for i in tqdm(range(len(ts) - 1), desc=f"sampling ({method})", disable=not progress, leave=False):
        t, t_next = ts[i], ts[i + 1]
        x = hold_given(x, frame_cond, frame_mask)
        v = velocity(x, t)
        if method == "heun" and t_next > 0:
            x_euler = x + (t_next - t) * v
            v2 = velocity(x_euler, t_next)
            x = x + (t_next - t) * 0.5 * (v + v2)
        else:
            x = x + (t_next - t) * v
    return hold_given(x, frame_cond, frame_mask)


def _sample_replacing(model_fn: Callable, x: torch.Tensor, noise: torch.Tensor, grid: torch.Tensor, method: str,
                      guidance_scale: float, cond: dict, uncond: dict | None, frame_cond: torch.Tensor | None,
                      frame_mask: torch.Tensor | None, progress: bool) -> torch.Tensor:
    """`sample` with replace_given=True: the given frames re-noised to t before every evaluation."""
    B = x.shape[0]

    def given_at(x_: torch.Tensor, t_: float) -> torch.Tensor:
        if frame_mask is None:
            return x_
        return hold_given(x_, (1 - t_) * frame_cond.to(x_.dtype) + t_ * noise, frame_mask)

    def velocity(x_: torch.Tensor, t_: float) -> torch.Tensor:
        return guided_velocity(model_fn, x_, torch.full((B,), t_, device=x_.device), cond, uncond, guidance_scale, {})

    ts = grid.tolist()
    for i in tqdm(range(len(ts) - 1), desc=f"sampling ({method}, latent replacement)", disable=not progress,
                  leave=False):
        t, t_next = ts[i], ts[i + 1]
        x = given_at(x, t)
        v = velocity(x, t)
        if method == "heun" and t_next > 0:
            v2 = velocity(given_at(x + (t_next - t) * v, t_next), t_next)
            x = x + (t_next - t) * 0.5 * (v + v2)
        else:
            x = x + (t_next - t) * v
    return hold_given(x, frame_cond, frame_mask)


@torch.no_grad()
def sample_unipc(model_fn: Callable, noise: torch.Tensor, *, times: torch.Tensor, model_times: torch.Tensor,
                 guidance_scale: float = 1.0, cond: dict, uncond: dict | None = None, order: int = 2,
                 frame_cond: torch.Tensor | None = None, frame_mask: torch.Tensor | None = None,
                 x_init: torch.Tensor | None = None, strength: float = 1.0, progress: bool = True) -> torch.Tensor:
    """UniPC (Zhao et al. 2023, "UniPC: a unified predictor-corrector framework"), multistep, B(h) = e^h - 1
    ("bh2"), data prediction, written for the flow convention: with alpha = 1 - t and sigma = t the
    model's velocity gives the data prediction x_data = x - t v, and lambda = log(alpha / sigma).
    Each step corrects the current x with the new data prediction (UniC), then predicts the next x
    (UniP) from the last `order` data predictions; the final steps lower the order (as diffusers'
    UniPCMultistepScheduler with lower_order_final, its Wan2.1 setting).

    times (steps + 1,) decreasing to 0 and model_times (steps,): schedules.unipc_flow_times. Given frames
    (frame_cond + frame_mask) are held by latent replacement, as `sample(..., replace_given=True)`;
    x_init + strength start an SDEdit run part-way down the grid.
    """
    ts, mts = times.double().tolist(), model_times.tolist()
    n, B = len(mts), noise.shape[0]
    start, x = 0, noise
    if x_init is not None:
        start = len(mts) - max(1, round(n * strength))
        x = (1 - ts[start]) * x_init + ts[start] * noise
    lam = lambda t: math.log(1 - t) - math.log(t) if t > 0 else math.inf  # noqa: E731

    def given_at(x_: torch.Tensor, t_: float) -> torch.Tensor:
        return x_ if frame_mask is None else hold_given(x_, (1 - t_) * frame_cond.to(x_.dtype) + t_ * noise, frame_mask)

    def weights(h: float, rks: list[float], k: int) -> tuple[float, list, list]:
        """(e^-h - 1, R, b) of UniPC's order-k linear system R rho = b (R[i][j] = rks[j]^i)."""
        hh = -h
        h_phi_1 = math.expm1(hh)
        h_phi_k, fact, R, b = h_phi_1 / hh - 1, 1, [], []
        for i in range(1, k + 1):
            R.append([r ** (i - 1) for r in rks])
            b.append(h_phi_k * fact / h_phi_1)
            fact *= i + 1
            h_phi_k = h_phi_k / hh - 1 / fact
        return h_phi_1, R, b

    def update(x_from: torch.Tensor, i_from: int, i_to: int, hist: list, k: int, m_new: torch.Tensor | None):
        """x at times[i_to] from x at times[i_from]; hist = data predictions at times[i_from], [i_from - 1], ...
        m_new: the corrector's data prediction at times[i_to] (None for the predictor)."""
        s0, t = ts[i_from], ts[i_to]
        h = lam(t) - lam(s0)
        m0 = hist[0]
        rks = [(lam(ts[i_from - j]) - lam(s0)) / h for j in range(1, k)] + [1.0]
        d1s = [(hist[j] - m0) / rks[j - 1] for j in range(1, k)]
        h_phi_1, R, b = weights(h, rks, k)
        base = (t / s0) * x_from - (1 - t) * h_phi_1 * m0
        if m_new is None:  # predictor: order k uses k - 1 differences
            if not d1s:
                return base
            rho = [0.5] if k == 2 else torch.linalg.solve(torch.tensor(R[:-1])[:, :-1], torch.tensor(b[:-1])).tolist()
            res = sum(r * d for r, d in zip(rho, d1s))
        else:  # corrector: the new prediction is one more difference
            rho = [0.5] if k == 1 else torch.linalg.solve(torch.tensor(R), torch.tensor(b)).tolist()
            res = sum((r * d for r, d in zip(rho[:-1], d1s)), torch.zeros_like(m0)) + rho[-1] * (m_new - m0)
        return base - (1 - t) * math.expm1(-h) * res

    hist: list[torch.Tensor] = []  # data predictions, newest first
    last_x, last_order, done = None, 0, 0
    for i in tqdm(range(start, n), desc="sampling (unipc)", disable=not progress, leave=False):
        t = ts[i]
        x = given_at(x, t)
        tt = torch.full((B,), mts[i], device=x.device)
        m = x - t * guided_velocity(model_fn, x, tt, cond, uncond, guidance_scale, {})  # data prediction
        if last_x is not None:
            x = update(last_x, i - 1, i, hist, last_order, m)
        hist = [m] + hist[:order - 1]
        k = min(order, n - i, done + 1)
        last_x, last_order, done = x, k, min(done + 1, order)
        x = update(x, i, i + 1, hist, k, None)
    return hold_given(x, frame_cond, frame_mask)
