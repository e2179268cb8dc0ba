"""The study's two plots: held-out loss against training FLOPs (one curve per size, the frontier and
the fitted L(C)), and the judge's mean against training FLOPs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure():
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _sizes_by_params(summary: dict) -> list[str]:
    return sorted(summary["table"], key=lambda s: summary["sizes"][s]["params"])


def loss_vs_flops(summary: dict, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for size in _sizes_by_params(summary):
        row = summary["table"][size]
        keys = sorted(row, key=float)
        x = [row[k]["flops"] for k in keys]
        ax.plot(x, [row[k]["heldout_loss"] for k in keys], "o-", label=f"{size} ({summary['sizes'][size]['params'] / 1e6:.1f}M)")
        for k in keys:  # each seed as a faint dot: the spread the intervals come from
            ax.plot([row[k]["flops"]] * len(row[k]["heldout_loss_per_seed"]), row[k]["heldout_loss_per_seed"],
                    ".", color="gray", alpha=0.5, ms=3)
    front = summary["fits"]["frontier"]
    if front:
        ax.plot([p["flops"] for p in front], [p["loss"] for p in front], "k--", lw=1.5, label="frontier")
    law = summary["fits"]["loss_law"]
    if law is not None and front:
        c = np.exp(np.linspace(np.log(front[0]["flops"]), np.log(front[-1]["flops"]), 50))
        iv = summary["fits"]["intervals"].get("b")
        band = f" [{iv['lo']:.2f}, {iv['hi']:.2f}]" if iv else ""
        ax.plot(c, law["E"] + law["A"] * c ** -law["b"], "r:", lw=1.5,
                label=f"L = {law['E']:.3f} + A C^-{law['b']:.2f}{band}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs (minisora.dit.flops, attention included)")
    ax.set_ylabel("held-out rectified-flow loss (EMA)")
    return _finish(plt, fig, ax, path)


def judge_vs_flops(summary: dict, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for size in _sizes_by_params(summary):
        row = summary["table"][size]
        keys = [k for k in sorted(row, key=float) if row[k]["judge_mean"] is not None]
        if keys:
            ax.plot([row[k]["flops"] for k in keys], [row[k]["judge_mean"] for k in keys], "o-", label=size)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("training FLOPs")
    ax.set_ylabel("judge mean of color, shape, direction, count")
    return _finish(plt, fig, ax, path)


def _finish(plt, fig, ax, path: Path) -> Path:
    """Grid, legend, tight layout; write `path` (its folder made if needed) and free the figure."""
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
