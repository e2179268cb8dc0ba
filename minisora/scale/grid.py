"""The study's plan: every run (size, multiplier, seed, lr) with its step count, FLOPs and TrainConfig.

A run's budget is FLOPs: steps = round(budget / (training FLOPs per step)), where a training step is
3 x the forward FLOPs of `minisora.dit.flops` (matrix products of linear layers and attention) times
the global batch. The plan refuses a run whose rounded steps miss its budget by more than 5%.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minisora.config import ConfigError
from minisora.scale.config import ScaleConfig, SizeSpec

BUDGET_TOLERANCE = 0.05  # a run's counted FLOPs stay within 5% of its budget


@dataclass(frozen=True)
class SizeFacts:
    """A size with its parameter count and training FLOPs per sample at the study's clip size."""
    spec: SizeSpec
    params: int
    train_flops_per_sample: int  # 3 x forward FLOPs of one clip
    attention_share: float  # of the forward FLOPs
    tokens_per_sample: int  # video tokens of one clip


@dataclass(frozen=True)
class RunSpec:
    size: str
    multiplier: float
    seed: int
    lr: float
    steps: int
    samples: int  # clips seen = steps x global batch; tokens seen = samples x tokens per clip
    budget_flops: float
    flops: int  # counted: steps x global batch x training FLOPs per sample

    @property
    def run_id(self) -> str:
        # the steps are part of the name: a changed budget or batch is a new run, never a resumed one
        return f"{self.size}_x{self.multiplier:g}_{self.steps}st_s{self.seed}_lr{self.lr:g}"


def dit_overrides(spec: SizeSpec) -> dict:
    """DiTConfig fields of a size (on top of the `debug` preset: every other field is the default)."""
    return {"hidden_size": spec.hidden_size, "depth": spec.depth, "num_heads": spec.num_heads}


def latent_shape(cfg: ScaleConfig) -> tuple[int, int, int, int]:
    """(C, T', H', W') of one study clip under the study's VAE (raises naming valid clip sizes)."""
    from minisora.train.engine import load_vae

    d = cfg.data
    try:
        return tuple(load_vae(d.vae).latent_shape(d.num_frames, d.height, d.width))
    except ValueError as e:
        raise ConfigError(f"data.num_frames/height/width: {e}") from None


def size_facts(cfg: ScaleConfig, latent: tuple[int, int, int, int]) -> dict[str, SizeFacts]:
    from minisora.dit.config import DiTConfig
    from minisora.dit.flops import count_params, forward_flops

    _, T, H, W = latent
    out = {}
    for s in cfg.grid.sizes:
        dit = DiTConfig.preset("debug", **dit_overrides(s))
        f = forward_flops(dit, T, H, W, dit.text_len)
        out[s.name] = SizeFacts(s, count_params(dit), 3 * f["total"], f["attention"] / f["total"], f["tokens"])
    return out


def plan_run(cfg: ScaleConfig, facts: SizeFacts, multiplier: float, seed: int, lr: float) -> RunSpec:
    """One run at `multiplier` x the size's base budget; its steps honour the budget within 5%."""
    B = cfg.recipe.global_batch_size
    budget = cfg.grid.base_samples * multiplier * facts.train_flops_per_sample
    step_flops = B * facts.train_flops_per_sample
    steps = max(1, round(budget / step_flops))
    flops = steps * step_flops
    if abs(flops / budget - 1) > BUDGET_TOLERANCE:
        raise ConfigError(f"size {facts.spec.name} at {multiplier:g}x: {steps} steps of {B} clips give "
                          f"{flops:.3g} FLOPs for a budget of {budget:.3g} (more than {BUDGET_TOLERANCE:.0%} off); "
                          f"raise grid.base_samples or lower recipe.global_batch_size")
    return RunSpec(facts.spec.name, float(multiplier), seed, float(lr), steps, steps * B, budget, flops)


def size_lrs(cfg: ScaleConfig, spec: SizeSpec) -> list[float]:
    """The learning rates a size sweeps: grid.lr_sweep, scaled by lr_reference_width / width when set."""
    ref = cfg.grid.lr_reference_width
    return [float(f"{lr * ref / spec.hidden_size:.3g}") if ref else float(lr) for lr in cfg.grid.lr_sweep]


def sweep_runs(cfg: ScaleConfig, facts: dict[str, SizeFacts]) -> list[RunSpec]:
    """The learning-rate sweep: every lr of every size at the smallest multiplier, first seed."""
    g = cfg.grid
    return [plan_run(cfg, facts[s.name], g.multipliers[0], g.seeds[0], lr) for s in g.sizes for lr in size_lrs(cfg, s)]


def grid_runs(cfg: ScaleConfig, facts: dict[str, SizeFacts], lrs: dict[str, float]) -> list[RunSpec]:
    """Every (size, multiplier, seed) at the size's chosen lr (the sweep's winner is one of them)."""
    g = cfg.grid
    return [plan_run(cfg, facts[s.name], m, seed, lrs[s.name]) for s in g.sizes for m in g.multipliers
            for seed in g.seeds]


def planned_runs(cfg: ScaleConfig, facts: dict[str, SizeFacts]) -> tuple[list[RunSpec], list[RunSpec]]:
    """The study's runs before its sweep is decided, each size at its first swept lr: the judged grid
    runs, and the sweep runs beyond them (what a plan counts and an estimate times)."""
    first = {s.name: size_lrs(cfg, s)[0] for s in cfg.grid.sizes}
    runs = grid_runs(cfg, facts, first)
    extra = [r for r in sweep_runs(cfg, facts) if r.multiplier != cfg.grid.multipliers[0] or r.lr != first[r.size]]
    return runs, extra


def data_clips(cfg: ScaleConfig, facts: dict[str, SizeFacts]) -> int:
    """Clips the longest run consumes: the latent cache holds exactly these, so no run repeats one."""
    return max(plan_run(cfg, facts[s.name], cfg.grid.multipliers[-1], cfg.grid.seeds[0], size_lrs(cfg, s)[0]).samples
               for s in cfg.grid.sizes)


def ema_decay(cfg: ScaleConfig, steps: int) -> float:
    return min(cfg.recipe.ema_max_decay, 1.0 - 1.0 / max(1.0, cfg.recipe.ema_horizon * steps))


def train_config(cfg: ScaleConfig, run: RunSpec, cache_dir: str):
    """The TrainConfig of one run (the one transformer trainer, `minisora.train.engine.train`)."""
    from minisora.train.config import (CheckpointConfig, DataConfig, EMAConfig, LoggingConfig, ModelConfig,
                                       OptimConfig, ParallelConfig, ScheduleConfig, TrainConfig)

    r, d = cfg.recipe, cfg.data
    spec = next(s for s in cfg.grid.sizes if s.name == run.size)
    if d.source == "cache":
        data = DataConfig(source="cache", cache_dir=cache_dir)
    else:  # every clip rendered once: the dataset holds exactly the clips this run consumes
        data = DataConfig(source="synthetic", num_samples=run.samples, split="train", dataset_seed=d.dataset_seed,
                          vae=d.vae, buckets=[(d.num_frames, d.height, d.width)])
    return TrainConfig(
        run_dir=str(Path(cfg.work_dir) / "runs" / run.run_id), seed=run.seed,
        model=ModelConfig(preset="debug", overrides=dit_overrides(spec)), data=data,
        optim=OptimConfig(lr=run.lr, global_batch_size=r.global_batch_size, micro_batch_size=r.micro_batch_size),
        schedule=ScheduleConfig(max_steps=run.steps, warmup_steps=min(run.steps, round(r.warmup_fraction * run.steps)),
                                min_lr_ratio=r.min_lr_ratio),
        ema=EMAConfig(enabled=True, decay=ema_decay(cfg, run.steps)),
        precision=r.precision,
        parallel=ParallelConfig(strategy=r.strategy, compile=r.compile),
        checkpoint=CheckpointConfig(every=max(1, min(r.checkpoint_every, run.steps)), keep_last=1),
        logging=LoggingConfig(every=max(1, run.steps // 20), tensorboard=False, progress=False, text_encoder=False))


def describe_plan(cfg: ScaleConfig, facts: dict[str, SizeFacts]) -> str:
    lines = [f"{'size':<8s} {'params':>9s} {'GFLOP/clip':>11s} {'attn':>6s}  runs (steps at each multiplier)"]
    for name, f in facts.items():
        steps = [plan_run(cfg, f, m, 0, 1.0).steps for m in cfg.grid.multipliers]
        lines.append(f"{name:<8s} {f.params / 1e6:8.2f}M {f.train_flops_per_sample / 1e9:11.3f} "
                     f"{100 * f.attention_share:5.1f}%  " + ", ".join(f"{m:g}x: {s}" for m, s in
                                                                      zip(cfg.grid.multipliers, steps)))
    return "\n".join(lines)


def total_flops(runs: list[RunSpec]) -> float:
    return float(sum(r.flops for r in runs))
