"""The scaling study's fits and plan, without training (fast)."""

import math

import numpy as np
import pytest

from minisora.config import ConfigError
from minisora.scale import fits
from minisora.scale.config import load_config


def test_power_law_fit_recovers_known_exponent():
    C = np.exp(np.linspace(math.log(1e11), math.log(1e14), 7))
    L = 0.42 + 35.0 * C ** -0.17
    law = fits.fit_power_law(C, L)
    assert abs(law["b"] - 0.17) < 0.005
    assert abs(law["E"] - 0.42) < 0.01
    np.testing.assert_allclose(law["E"] + law["A"] * C ** -law["b"], L, rtol=2e-3)


def test_iso_flop_parabolas_recover_n_opt_exponent():
    # Chinchilla-like loss L(N, D) with D = C / (6 N): N_opt ∝ C^(beta / (alpha + beta)) exactly.
    alpha, beta = 0.34, 0.28
    params = {f"s{i}": int(n) for i, n in enumerate(np.geomspace(1e6, 3e7, 6))}
    cells = {}
    for name, n in params.items():
        for m in (1, 2, 4, 8, 16, 32):
            c = 6 * n * 2e4 * m / 8  # staggered bases, like the study's budgets
            cells[(name, float(m))] = (c, 0.2 + 400 * n ** -alpha + 30 * (c / (6 * n)) ** -beta)
    res = fits.analyse(cells, params)
    assert len(res["optima"]) >= 3
    assert abs(res["n_opt_exponent"] - beta / (alpha + beta)) < 0.02
    front = [p["loss"] for p in res["frontier"]]
    assert all(a > b for a, b in zip(front, front[1:]))


def test_bootstrap_intervals_cover_the_seed_spread():
    rng = np.random.default_rng(0)
    params = {"a": 1_000_000, "b": 3_000_000, "c": 9_000_000}
    seeds, budgets = {}, {}
    for name, n in params.items():
        for m in (1.0, 4.0, 32.0):
            c = n * 1e5 * m
            budgets[(name, m)] = c
            seeds[(name, m)] = list(0.3 + 60 * c ** -0.2 * (1 + 0.01 * rng.standard_normal(2)))
    iv = fits.bootstrap_exponents(seeds, budgets, params, draws=30, interval=0.9)
    assert iv["b"] is not None and iv["b"]["lo"] <= iv["b"]["hi"]
    assert 0.1 < iv["b"]["lo"] and iv["b"]["hi"] < 0.3


def test_judge_interval_is_paired_over_prompts():
    counts_a = np.zeros((2, 50, 4, 2), int)
    counts_a[..., 1] = 1  # every attribute stated once, none passed
    counts_b = counts_a.copy()
    counts_b[:, :40, :, 0] = 1  # 80% passed
    res = fits.judge_mean_interval(counts_a, counts_b, draws=200, interval=0.9)
    assert res["diff"] == pytest.approx(0.8)
    assert 0.65 < res["lo"] < 0.8 < res["hi"] < 0.92


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="figure.size='nope'"):
        load_config("configs/scaling-smoke.yaml", ["figure.size=nope"])
    with pytest.raises(ConfigError, match="figure.multipliers"):
        load_config("configs/scaling-smoke.yaml", ["figure.multipliers=[1, 8]"])
    with pytest.raises(ConfigError, match="unknown key 'grid.budget'"):
        load_config("configs/scaling-smoke.yaml", ["grid.budget=3"])


def test_the_lr_sweep_scales_as_one_over_width():
    from minisora.scale import grid as G

    cfg = load_config("configs/scaling-cpu.yaml")
    lrs = {s.name: G.size_lrs(cfg, s) for s in cfg.grid.sizes}
    assert lrs["w192d6"] == [1e-3, 3e-3]  # the reference width sweeps the values as written
    assert lrs["w384d8"] == [5e-4, 1.5e-3] and lrs["w96d3"] == [2e-3, 6e-3]
    assert lrs["w256d6"] == [0.00075, 0.00225]
    sweep = G.sweep_runs(cfg, G.size_facts(cfg, (16, 5, 8, 8)))
    assert {(r.size, r.lr) for r in sweep} == {(s, lr) for s, v in lrs.items() for lr in v}
    off = load_config("configs/scaling-cpu.yaml", ["grid.lr_reference_width=0"])
    assert all(G.size_lrs(off, s) == [1e-3, 3e-3] for s in off.grid.sizes)
    with pytest.raises(ConfigError, match="grid.lr_reference_width must be >= 0"):
        load_config("configs/scaling-cpu.yaml", ["grid.lr_reference_width=-1"])


def test_plan_refuses_a_budget_it_cannot_honour():
    from minisora.scale import grid as G

    cfg = load_config("configs/scaling-smoke.yaml", ["grid.base_samples=3"])
    facts = G.size_facts(cfg, (16, 3, 4, 4))
    with pytest.raises(ConfigError, match="more than 5% off"):
        G.plan_run(cfg, facts["d32"], 1.0, 0, 1e-3)  # 3 clips at batch 2: 2 steps = 33% over


@pytest.mark.parametrize("name", ["scaling-cpu", "scaling-gpu"])
def test_shipped_grids_meet_the_issue(name):
    """>= 4 sizes (CPU: about 1M to 30M parameters; GPU: up to XL), >= 3 budgets over >= 1.5 decades
    including 1x, 4x and 32x, >= 2 seeds, >= 100 judged prompts, every budget honoured."""
    from minisora.dit.config import PRESETS
    from minisora.scale import grid as G

    cfg = load_config(f"configs/{name}.yaml")
    facts = G.size_facts(cfg, (16, 5, 8, 8))
    m = cfg.grid.multipliers
    assert len(facts) >= 4 and len(m) >= 3 and {1.0, 4.0, 32.0} <= set(m) and math.log10(m[-1] / m[0]) >= 1.5
    assert len(cfg.grid.seeds) >= 2 and cfg.eval.prompts >= 100
    params = sorted(f.params for f in facts.values())
    if name == "scaling-cpu":
        assert 0.6e6 < params[0] < 1.5e6 and 20e6 < params[-1] < 40e6
    else:
        xl = PRESETS["XL"]
        assert any(s.hidden_size == xl["hidden_size"] and s.depth == xl["depth"] for s in cfg.grid.sizes)
    for f in facts.values():
        for mult in m:
            G.plan_run(cfg, f, mult, 0, 1e-3)  # raises if a budget is missed by more than 5%
