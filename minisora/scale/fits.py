"""Fits of a scaling study, with numpy only.

- `fit_power_law(C, L)`: L(C) = E + A C^-b by least squares on log L (for each E on a fine grid below
  min L, log(L - E) is linear in log C; the E with the smallest residual wins);
- iso-FLOP profiles: each size's mean loss is interpolated in log-log between its runs (every run's
  schedule ended at its own budget, so each point is a finished run) at common budget levels; a
  parabola in log N per level (Liang et al. 2024) gives the compute-optimal size N_opt(C), and a line
  in log-log gives N_opt ∝ C^a;
- the frontier: the lowest loss reached with at most C FLOPs at each level; L(C) is fitted to it;
- intervals: a bootstrap over seeds (each (size, multiplier) cell redraws its seeds with replacement)
  repeats every fit; the interval is the central `interval` share of the bootstrap distribution.
"""

from __future__ import annotations

import math

import numpy as np

LEVELS = 9  # budget levels of the iso-FLOP profiles, log-spaced over the grid's range


def fit_power_law(C, L) -> dict | None:
    """(E, A, b) of L = E + A C^-b (A for C in FLOPs), or None with fewer than 3 points or no decrease."""
    C, L = np.asarray(C, float), np.asarray(L, float)
    if len(C) < 3 or not np.all(np.isfinite(L)) or np.ptp(np.log(C)) == 0:
        return None
    ref = float(np.exp(np.log(C).mean()))  # fit in C / ref: well-conditioned at any FLOP scale
    x, y = np.log(C / ref), np.log(L)
    best = None
    for E in np.linspace(0.0, 0.999 * L.min(), 400):
        slope, icpt = np.polyfit(x, np.log(L - E), 1)
        if slope >= 0:
            continue
        res = float(np.square(np.log(E + np.exp(icpt) * np.exp(slope * x)) - y).sum())
        if best is None or res < best[0]:
            best = (res, E, float(np.exp(icpt)), -slope)
    if best is None:
        return None
    _, E, A_ref, b = best
    return {"E": float(E), "A": float(A_ref * ref ** b), "b": float(b), "residual": best[0]}


def interpolate_loss(budgets, losses, level: float) -> float | None:
    """A size's loss at budget `level`, linear in (log C, log L) between its runs; None outside them."""
    c = np.log(np.asarray(budgets, float))
    if not c.min() - 1e-9 <= math.log(level) <= c.max() + 1e-9:
        return None
    return float(np.exp(np.interp(math.log(level), c, np.log(np.asarray(losses, float)))))


def budget_levels(cells: dict) -> np.ndarray:
    budgets = [b for (_, _), (b, _) in cells.items()]
    return np.exp(np.linspace(math.log(min(budgets)), math.log(max(budgets)), LEVELS))


def analyse(cells: dict, params: dict[str, int]) -> dict:
    """cells: {(size, multiplier): (budget FLOPs, mean loss)}; params: {size: N}. Returns the profiles,
    the frontier, N_opt per level, the exponent a of N_opt ∝ C^a and the L(C) fit of the frontier."""
    sizes = sorted(params, key=params.get)
    per_size = {s: sorted((b, l) for (name, _), (b, l) in cells.items() if name == s) for s in sizes}
    levels = budget_levels(cells)
    profiles, frontier, optima = [], [], []
    for C in levels:
        row = {}
        for s in sizes:
            pts = per_size[s]
            v = interpolate_loss([p[0] for p in pts], [p[1] for p in pts], C) if len(pts) > 1 else None
            if v is not None:
                row[s] = v
        profiles.append({"flops": float(C), "loss": row})
        # the frontier: the lowest loss reached with at most C (a size whose runs end below C counts
        # with its largest run: spending less is always possible)
        reach = [interpolate_loss([p[0] for p in pts], [p[1] for p in pts], min(C, pts[-1][0]))
                 for pts in per_size.values() if len(pts) > 1 and pts[0][0] <= C * (1 + 1e-9)]
        reach = [v for v in reach if v is not None]
        if reach:
            frontier.append((float(C), min(reach)))
        if len(row) >= 3:
            logn = np.log([params[s] for s in row])
            a2, a1, _ = np.polyfit(logn, list(row.values()), 2)
            inside = a2 > 0 and logn.min() <= -a1 / (2 * a2) <= logn.max()
            if inside:
                optima.append((float(C), float(np.exp(-a1 / (2 * a2)))))
    exponent = None
    if len(optima) >= 2 and np.ptp(np.log([c for c, _ in optima])) > 0:
        exponent = float(np.polyfit(np.log([c for c, _ in optima]), np.log([n for _, n in optima]), 1)[0])
    law = fit_power_law([c for c, _ in frontier], [l for _, l in frontier]) if len(frontier) >= 3 else None
    return {"profiles": profiles, "frontier": [{"flops": c, "loss": l} for c, l in frontier],
            "optima": [{"flops": c, "n_opt": n} for c, n in optima], "n_opt_exponent": exponent, "loss_law": law}


def bootstrap_exponents(seed_losses: dict, budgets: dict, params: dict[str, int], draws: int, interval: float,
                        seed: int = 0) -> dict:
    """Intervals of b (L(C) law) and a (N_opt ∝ C^a) from redrawing each cell's seeds with replacement.

    seed_losses: {(size, multiplier): [loss per seed]}; budgets: {(size, multiplier): FLOPs}."""
    rng = np.random.default_rng(seed)
    keys = sorted(seed_losses)
    got = {"b": [], "a": []}
    for _ in range(draws):
        cells = {}
        for k in keys:
            v = np.asarray(seed_losses[k], float)
            cells[k] = (budgets[k], float(v[rng.integers(0, len(v), len(v))].mean()))
        res = analyse(cells, params)
        if res["loss_law"] is not None:
            got["b"].append(res["loss_law"]["b"])
        if res["n_opt_exponent"] is not None:
            got["a"].append(res["n_opt_exponent"])
    return {k: central_interval(v, interval, draws) for k, v in got.items()}


def central_interval(values, interval: float, draws: int | None = None) -> dict | None:
    """{lo, hi, n}: the central `interval` share of bootstrap values (None when none succeeded)."""
    if len(values) == 0:
        return None
    q = (1 - interval) / 2
    lo, hi = np.quantile(np.asarray(values, float), [q, 1 - q])
    return {"lo": float(lo), "hi": float(hi), "n": len(values), **({"draws": draws} if draws else {})}


def judge_mean_interval(counts_a, counts_b, draws: int, interval: float, seed: int = 0) -> dict:
    """Paired bootstrap of judge-mean(b) - judge-mean(a) over prompts and seeds.

    counts_*: (seeds, prompts, types, 2) passed/stated counts of the same prompts under two runs' weights."""
    from minisora.scale.evaluate import pooled_scores

    a, b = np.asarray(counts_a), np.asarray(counts_b)
    S, P = a.shape[:2]
    rng = np.random.default_rng(seed)

    def mean(c, si, pi):
        return float(pooled_scores(c[si][:, pi].reshape(-1, *c.shape[2:])).mean())  # (S*P, types, 2) pooled

    full = mean(b, np.arange(S), np.arange(P)) - mean(a, np.arange(S), np.arange(P))
    diffs = []
    for _ in range(draws):
        si, pi = rng.integers(0, S, S), rng.integers(0, P, P)
        diffs.append(mean(b, si, pi) - mean(a, si, pi))
    return {"diff": full, **central_interval(diffs, interval)}
