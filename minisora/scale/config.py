"""Typed configuration of a scaling study (`minisora scale CONFIG [key=value ...]`).

The dataclasses below are the only place a default lives; `configs/scaling-*.yaml` serialise them.

Budgets. Each size i has a base budget C_i = base_samples x (training FLOPs of one sample for size i),
so every size sees the same number of clips at 1x; a run at multiplier m trains for m x C_i FLOPs,
counted with `minisora.dit.flops` (attention included, training = 3 x forward). Staggering the bases
by each size's cost keeps the smallest model's largest run and the largest model's smallest run
inside one affordable range; iso-FLOP profiles are read off each size's loss curve, interpolated in
log-log between its runs (`fits.iso_flop_profiles`), where at least 3 sizes cover a budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from minisora.config import ConfigError, apply_overrides, load_yaml
from minisora.precision import Precision


@dataclass
class SizeSpec:
    name: str
    hidden_size: int
    depth: int
    num_heads: int


@dataclass
class GridConfig:
    sizes: list[SizeSpec] = field(default_factory=lambda: [
        SizeSpec("d32", 32, 1, 2), SizeSpec("d48", 48, 1, 2), SizeSpec("d64", 64, 2, 2)])
    base_samples: int = 64  # training clips of every size's 1x budget (see the module docstring)
    multipliers: list[float] = field(default_factory=lambda: [1.0, 4.0, 32.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    # peak learning rates tried per size at the smallest multiplier with the first seed; the one with
    # the lowest held-out loss trains every run of that size (Yin et al. 2024: loss is very sensitive to it)
    lr_sweep: list[float] = field(default_factory=lambda: [1e-3, 3e-3])
    # The sweep's values hold for this hidden size; a size of width d sweeps them times
    # lr_reference_width / d (3 significant digits). Adam moves every weight by about lr per step, so
    # a wider layer's output moves more and the stable peak lr falls about as 1/width (muP's rule for
    # hidden weights). Measured without it: at 3e-3 the 27M model's loss rose mid-run (4x above 1x),
    # while a sweep at the smallest budget, too short to show that, picked 3e-3. 0: no scaling.
    lr_reference_width: int = 0
    # run only these sizes' sweep and grid runs and write no summary: how `minisora scale --jobs N`
    # hands each worker process its share of the grid ([]: every size, then the summary)
    only: list[str] = field(default_factory=list)


@dataclass
class RecipeConfig:
    """What every run shares; the LR schedule of each run ends at its own budget."""
    global_batch_size: int = 8
    micro_batch_size: int = 8
    warmup_fraction: float = 0.05  # linear warmup over this share of the run's steps
    min_lr_ratio: float = 0.1  # cosine to lr x min_lr_ratio at the run's last step
    # EMA decay per run: 1 - 1 / (ema_horizon x steps), so the EMA averages over the same share of
    # every run (a fixed decay would be all initialisation in a short run and too short in a long one)
    ema_horizon: float = 0.1
    ema_max_decay: float = 0.9999
    checkpoint_every: int = 200  # steps between checkpoints (an interrupted run resumes from the last)
    precision: Precision = "fp32"  # minisora.precision, as TrainConfig.precision
    strategy: Literal["none", "ddp", "fsdp"] = "none"  # under torchrun with several ranks: ddp or fsdp
    compile: bool = False
    threads: int = 0  # torch CPU threads (0: torch's default)


@dataclass
class DataSpec:
    """MovingShapes train-split clips. cache: rendered and encoded once into a latent cache holding
    as many clips as the longest run consumes (every run reads it in its own order, less than one
    epoch, so no clip repeats within a run); synthetic: rendered and encoded on the fly."""
    source: Literal["cache", "synthetic"] = "cache"
    vae: str = "minisora/assets/minisora-tiny/vae"
    num_frames: int = 17
    height: int = 64
    width: int = 64
    dataset_seed: int = 0
    cache_dtype: Literal["float32", "float16"] = "float16"


@dataclass
class EvalSpec:
    loss_clips: int = 16  # held-out clips of the rectified-flow loss
    loss_timesteps: int = 8  # fixed t values (midpoints of 8 equal bins of [0, 1]), fixed noise per clip
    prompts: int = 100  # held-out scenes sampled and judged
    sample_steps: int = 12
    guidance: float = 4.0
    base_shift: float = 3.0  # sampling schedule shift at 80 tokens (the shipped model samples with 3)
    batch_size: int = 25  # clips sampled together
    seed: int = 0  # held-out scene i is drawn from (seed, i); its noise from seed + i
    bootstrap: int = 1000  # resamples of every interval
    interval: float = 0.9  # two-sided coverage of the intervals


@dataclass
class FigureSpec:
    size: str = ""  # which size's 1x / 4x / 32x runs make the Sora figure ("": the largest)
    multipliers: list[float] = field(default_factory=lambda: [1.0, 4.0, 32.0])
    # the first `prompts` held-out judge scenes (their captions and noise seeds), sampled with the
    # first seed's run at each multiplier
    prompts: int = 4
    frames_shown: int = 6


@dataclass
class ScaleConfig:
    out_dir: str = "results/scaling/smoke"  # committed: JSON per run, summary, PNGs, the Sora figure
    work_dir: str = "runs/scaling/smoke"  # not committed: latent caches, checkpoints, TensorBoard
    grid: GridConfig = field(default_factory=GridConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    data: DataSpec = field(default_factory=DataSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    figure: FigureSpec = field(default_factory=FigureSpec)
    # the sizes of the committed CPU study say how long it takes; the study prints its own estimate too
    stated_duration: str = ""


def check(cfg: ScaleConfig) -> None:
    """Value checks a type cannot express; each error names the key and what would be valid."""
    g, r, e = cfg.grid, cfg.recipe, cfg.eval
    names = [s.name for s in g.sizes]
    if len(g.sizes) < 1 or len(set(names)) != len(names):
        raise ConfigError(f"grid.sizes must name at least one size, each name once; got {names}")
    for s in g.sizes:
        if min(s.hidden_size, s.depth, s.num_heads) < 1 or s.hidden_size % s.num_heads:
            raise ConfigError(f"grid.sizes {s.name}: hidden_size {s.hidden_size} must be a positive multiple of "
                              f"num_heads {s.num_heads} and depth >= 1")
    if not g.multipliers or min(g.multipliers) <= 0 or sorted(g.multipliers) != list(g.multipliers):
        raise ConfigError(f"grid.multipliers must be positive and increasing, got {g.multipliers}")
    if not g.seeds or len(set(g.seeds)) != len(g.seeds):
        raise ConfigError(f"grid.seeds must be distinct and non-empty, got {g.seeds}")
    unknown = [n for n in g.only if n not in names]
    if unknown:
        raise ConfigError(f"grid.only names {unknown}, which are not grid sizes; choose from {', '.join(names)}")
    if g.lr_reference_width < 0:
        raise ConfigError(f"grid.lr_reference_width must be >= 0 (0: the same lr_sweep for every size), "
                          f"got {g.lr_reference_width}")
    if not g.lr_sweep or min(g.lr_sweep) <= 0:
        raise ConfigError(f"grid.lr_sweep must hold positive learning rates, got {g.lr_sweep}")
    if g.base_samples < 1:
        raise ConfigError(f"grid.base_samples must be >= 1, got {g.base_samples}")
    if r.global_batch_size % r.micro_batch_size:
        raise ConfigError(f"recipe.global_batch_size ({r.global_batch_size}) must be a multiple of "
                          f"recipe.micro_batch_size ({r.micro_batch_size})")
    if not 0 <= r.warmup_fraction < 1 or not 0 < r.ema_horizon <= 1:
        raise ConfigError(f"recipe.warmup_fraction must be in [0, 1) and recipe.ema_horizon in (0, 1]; got "
                          f"{r.warmup_fraction}, {r.ema_horizon}")
    if min(e.loss_clips, e.loss_timesteps, e.prompts, e.sample_steps, e.batch_size, e.bootstrap) < 1:
        raise ConfigError("eval.loss_clips, loss_timesteps, prompts, sample_steps, batch_size and bootstrap "
                          "must be >= 1")
    if not 0 < e.interval < 1:
        raise ConfigError(f"eval.interval must be in (0, 1), got {e.interval}")
    if cfg.figure.size and cfg.figure.size not in names:
        raise ConfigError(f"figure.size={cfg.figure.size!r} is not a grid size; choose one of {', '.join(names)}")
    missing = [m for m in cfg.figure.multipliers if m not in g.multipliers]
    if missing:
        raise ConfigError(f"figure.multipliers {missing} are not in grid.multipliers {g.multipliers}")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> ScaleConfig:
    """ScaleConfig from a YAML file (None: the defaults) plus `key=value` overrides, checked."""
    cfg = load_yaml(ScaleConfig, path) if path is not None else ScaleConfig()
    cfg = apply_overrides(cfg, list(overrides))
    check(cfg)
    return cfg
