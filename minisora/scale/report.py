"""The study's summary (fits, intervals, bars) and the files it writes next to the per-run JSONs."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from minisora.config import to_dict
from minisora.scale import fits
from minisora.scale.config import ScaleConfig
from minisora.scale.evaluate import JUDGE_TYPES


def _cells(runs: list[dict]) -> dict:
    """{(size, multiplier): [records of its seeds]}"""
    out: dict = {}
    for r in runs:
        out.setdefault((r["size"], r["multiplier"]), []).append(r)
    return out


def summarize(cfg: ScaleConfig, facts: dict, latent, sweep: list[dict], runs: list[dict], lrs: dict,
              clips: int) -> dict:
    """Everything measured and fitted, deterministic given the runs' records (timings excluded)."""
    e = cfg.eval
    cells = _cells(runs)
    params = {name: f.params for name, f in facts.items()}
    means = {k: (v[0]["flops"], float(np.mean([r["heldout_loss"] for r in v]))) for k, v in cells.items()}
    analysis = fits.analyse(means, params)
    intervals = fits.bootstrap_exponents({k: [r["heldout_loss"] for r in v] for k, v in cells.items()},
                                         {k: v[0]["flops"] for k, v in cells.items()}, params, e.bootstrap, e.interval)
    table = {}
    for (size, m), v in sorted(cells.items(), key=lambda kv: (params[kv[0][0]], kv[0][1])):
        judged = [r["judge"] for r in v if r.get("judge")]
        counts = np.array([j["counts"] for j in judged]) if judged else None  # (seeds, prompts, types, 2)
        # every seed's prompts pooled: (seeds * prompts, types, 2) -> one score per type
        scores = None if counts is None else _pooled(counts.reshape(-1, *counts.shape[2:]))
        table.setdefault(size, {})[f"{m:g}"] = {
            "flops": v[0]["flops"], "steps": v[0]["steps"], "tokens": v[0]["tokens"], "lr": v[0]["lr"],
            "heldout_loss": means[(size, m)][1], "heldout_loss_per_seed": [r["heldout_loss"] for r in v],
            "judge_mean": None if scores is None else float(scores.mean()),
            "judge": None if scores is None else dict(zip(JUDGE_TYPES, scores.tolist())),
        }
    judge_steps = {}
    ms = cfg.figure.multipliers
    for size in params:
        steps = {}
        for lo, hi in zip(ms, ms[1:]):
            a, b = cells.get((size, lo)), cells.get((size, hi))
            if a and b and all(r.get("judge") for r in a + b):
                steps[f"{lo:g}x->{hi:g}x"] = fits.judge_mean_interval([r["judge"]["counts"] for r in a],
                                                                      [r["judge"]["counts"] for r in b],
                                                                      e.bootstrap, e.interval)
        judge_steps[size] = steps
    summary = {
        "clip": {"pixels": [cfg.data.num_frames, cfg.data.height, cfg.data.width], "latent": list(latent),
                 "train_clips_cached": clips if cfg.data.source == "cache" else None},
        "sizes": {n: {"params": f.params, "train_flops_per_clip": f.train_flops_per_sample,
                      "attention_share": f.attention_share, "tokens_per_clip": f.tokens_per_sample,
                      "lr": lrs[n]} for n, f in facts.items()},
        "lr_sweep": {s: {f"{r['lr']:g}": r["heldout_loss"] for r in sweep if r["size"] == s} for s in params},
        "table": table,
        "fits": {**analysis, "intervals": intervals},
        "judge_steps": judge_steps,
        "total_flops": float(sum(r["flops"] for r in {r["run_id"]: r for r in sweep + runs}.values())),
    }
    summary["bars"] = bars(cfg, summary, params)
    return summary


def _pooled(counts) -> np.ndarray:
    from minisora.scale.evaluate import pooled_scores
    return pooled_scores(counts)


def bars(cfg: ScaleConfig, s: dict, params: dict) -> dict:
    """The issue's bars, each True / False / None (not measurable from these runs)."""
    out = {}
    table = s["table"]
    out["loss_decreases_per_size"] = all(
        all(a > b for a, b in zip(losses, losses[1:]))
        for losses in ([row[k]["heldout_loss"] for k in sorted(row, key=float)] for row in table.values()))
    front = [p["loss"] for p in s["fits"]["frontier"]]
    out["loss_decreases_on_frontier"] = len(front) >= 2 and all(a > b for a, b in zip(front, front[1:]))
    size = cfg.figure.size or max(params, key=params.get)
    steps = s["judge_steps"].get(size, {})
    out["judge_size"] = size
    out["judge_grows_beyond_interval"] = (all(v["lo"] > 0 for v in steps.values()) if
                                          len(steps) == len(cfg.figure.multipliers) - 1 else None)
    iv = s["fits"]["intervals"]
    out["exponent_intervals"] = iv.get("b") is not None and iv.get("a") is not None
    a = s["fits"]["n_opt_exponent"]
    out["n_opt_grows_with_budget"] = None if a is None else a > 0
    return out


def write_outputs(cfg: ScaleConfig, summary: dict, study, lrs: dict) -> None:
    """summary.json, the two plots and the Sora figure (PNG strips + GIF) in out_dir."""
    from minisora.scale.figure import sora_figure
    from minisora.scale.plots import judge_vs_flops, loss_vs_flops
    from minisora.scale.study import write_json

    out = Path(cfg.out_dir)
    summary["machine"] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                          "cpus": __import__("os").cpu_count(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    summary["config"] = to_dict(cfg)
    loss_vs_flops(summary, out / "loss_vs_flops.png")
    judge_vs_flops(summary, out / "judge_vs_flops.png")
    summary["figure"] = sora_figure(cfg, study, lrs, out)
    write_json(out / "summary.json", summary)


def comparable(summary: dict) -> dict:
    """The summary without what depends on the wall clock, the machine or the folders (for resume equality)."""
    return {k: v for k, v in summary.items() if k not in ("timing", "machine", "figure", "config")}
