"""Typed configuration of a DiT training run.

`TrainConfig` is the only place a training default lives; the files in `configs/` only serialise
it, and `minisora train CONFIG.yaml key=value ...` overrides single fields. Unknown keys and wrong
types are errors that name the key and the valid choices (`minisora.config.from_dict`).

Batch sizes are stated once, globally: `optim.global_batch_size` samples per optimizer step, split
into micro-batches of `optim.micro_batch_size` over ranks and gradient-accumulation steps
(accumulation = global / (micro * world_size)). The same file therefore trains the same model
under 1 or N processes: only the split of the work changes, never the result.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from minisora.config import ConfigError, apply_overrides, from_dict, load_yaml, to_dict
from minisora.flow.training import FlowTrainConfig
from minisora.precision import Precision

DataSource = Literal["synthetic", "folder", "cache"]
Strategy = Literal["none", "ddp", "fsdp", "average"]
Backend = Literal["auto", "gloo", "nccl"]


@dataclass
class ModelConfig:
    preset: str = "debug"  # a DiTConfig preset: debug, tiny, S, B, L, XL
    # DiTConfig fields replacing the preset's values, e.g. {depth: 4}; unknown names are errors.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Fine-tuning: start from released transformer weights (a `save_pretrained` folder, e.g. a
    # model's transformer/), or from a training run or checkpoint (its EMA weights), instead of a
    # random init; its config must equal this run's DiTConfig.
    # Only the weights are taken (optimizer, schedule and data order start fresh); a checkpoint to
    # resume, when there is one, wins over this.
    init_from: str = ""


@dataclass
class DataConfig:
    # synthetic: MovingShapes rendered on the fly; folder: any folder of videos (+ captions);
    # cache: latent + text-embedding shards written by `minisora cache-latents` (no VAE or text
    # encoder runs during training).
    source: DataSource = "synthetic"
    num_samples: int = 512  # synthetic: clips in the (deterministic, index-addressed) dataset
    split: Literal["train", "heldout", "any"] = "train"  # synthetic: which scene split
    dataset_seed: int = 0  # synthetic: item i is a pure function of (dataset_seed, i)
    folder: str = ""  # folder: root of the videos or a JSONL index
    cache_dir: str = ""  # cache: folder of shards from `minisora cache-latents`
    vae: str = ""  # synthetic/folder: encoder for the latents; "" = the shipped model's (inside the package)
    # (num_frames, height, width) of each bucket, pixel space; every batch comes from one bucket.
    buckets: list[tuple[int, int, int]] = field(default_factory=lambda: [(17, 64, 64)])
    num_workers: int = 0  # DataLoader worker processes
    fps: float = 8.0


@dataclass
class OptimConfig:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    global_batch_size: int = 8  # samples per optimizer step, over all ranks and accumulation steps
    micro_batch_size: int = 8  # samples per forward/backward on one rank


@dataclass
class ScheduleConfig:
    max_steps: int = 1000  # optimizer steps of the whole run
    # wall-clock budget in minutes (0: none); the run ends at whichever of max_steps and minutes comes
    # first, and the cosine follows whichever is further along
    minutes: float = 0.0
    warmup_steps: int = 50  # linear warmup from 0 to optim.lr
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps


@dataclass
class EMAConfig:
    enabled: bool = True
    decay: float = 0.999
    # EMA weights follow the model exactly until this step (decay 0), so early samples are not
    # dominated by the random initialisation.
    start_step: int = 0


@dataclass
class ParallelConfig:
    # under torchrun with world size > 1: ddp, fsdp, or average (gradients averaged after backward,
    # through shared memory on one host: distributed.GradientAverager)
    strategy: Strategy = "none"
    backend: Backend = "auto"  # auto: nccl on CUDA, gloo on CPU
    activation_checkpointing: bool = False
    compile: bool = False


@dataclass
class CheckpointConfig:
    dir: str = ""  # empty: <run_dir>/checkpoints
    every: int = 500  # steps between checkpoints (a final one is always written)
    keep_last: int = 3
    resume: str = "auto"  # auto: latest checkpoint in dir if any; never; or a checkpoint path


@dataclass
class NaNGuardConfig:
    # A step whose loss or gradient norm is NaN/Inf is skipped (no weight update) and counted;
    # after max_consecutive such steps in a row training stops with a clear message.
    max_consecutive: int = 5


@dataclass
class LoggingConfig:
    every: int = 10  # steps between metrics.jsonl / TensorBoard records
    tensorboard: bool = True
    progress: bool = True  # tqdm progress bar on rank 0
    sample_every: int = 0  # steps between sample videos (0: never); needs data.vae
    sample_prompts: list[str] = field(default_factory=lambda: [
        "a red circle moves left to right on a black background",
        "a small blue square bounces on a white background",
    ])
    sample_steps: int = 20
    sample_guidance: float = 4.0
    text_encoder: bool = True  # samples need the text encoder; tests with fake embeddings turn it off


@dataclass
class TrainConfig:
    run_dir: str = "runs/debug"  # metrics, TensorBoard, loss curve, samples, checkpoints
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    flow: FlowTrainConfig = field(default_factory=FlowTrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    # bf16: forward/backward under torch.autocast(bfloat16) on CPU and CUDA; master weights,
    # optimizer state and EMA stay float32. auto: bf16 where the device runs it natively, else fp32
    # (minisora.precision; on an AVX2-only CPU emulated bf16 is ~100x slower than fp32).
    precision: Precision = "fp32"
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    nan_guard: NaNGuardConfig = field(default_factory=NaNGuardConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.checkpoint.dir) if self.checkpoint.dir else Path(self.run_dir) / "checkpoints"

    @staticmethod
    def upgrade_old_forms(data: dict, where: str = "TrainConfig") -> dict:
        """`data` (a YAML file's or a checkpoint's saved config) in today's layout. Until precision
        became one flat field like every other component's, it was a section: `precision: {dtype: X}`
        now reads as `precision: X`, with a one-line note, so older files and runs keep loading and
        resuming. (`minisora.config.from_dict` calls this; so does the harness on a saved config.)"""
        old = data.get("precision")
        if not (isinstance(old, dict) and set(old) == {"dtype"}):
            return data
        print(f"note: {where}: 'precision: {{dtype: {old['dtype']}}}' is the old form of "
              f"'precision: {old['dtype']}'; read as that", file=sys.stderr)
        return {**data, "precision": old["dtype"]}


def dit_config(cfg: ModelConfig):
    """The DiTConfig this run trains: the named preset with `overrides` applied (strictly typed)."""
    from minisora.dit.config import DiTConfig

    base = DiTConfig.preset(cfg.preset)  # raises naming the valid presets
    data = to_dict(base)
    unknown = sorted(set(cfg.overrides) - set(data))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join('model.overrides.' + k for k in unknown)}; "
                          f"valid DiTConfig fields: {', '.join(data)}")
    data.update(cfg.overrides)
    return from_dict(DiTConfig, data, path="model")


def check(cfg: TrainConfig) -> None:
    """Value checks that a type cannot express; each error names the key and what would be valid."""
    o, s = cfg.optim, cfg.schedule
    positive = {"optim.global_batch_size": o.global_batch_size, "optim.micro_batch_size": o.micro_batch_size,
                "schedule.max_steps": s.max_steps, "checkpoint.every": cfg.checkpoint.every,
                "checkpoint.keep_last": cfg.checkpoint.keep_last, "logging.every": cfg.logging.every,
                "nan_guard.max_consecutive": cfg.nan_guard.max_consecutive}
    for key, v in positive.items():
        if v < 1:
            raise ConfigError(f"{key} must be >= 1, got {v}")
    if o.global_batch_size % o.micro_batch_size:
        raise ConfigError(f"optim.global_batch_size ({o.global_batch_size}) must be a multiple of "
                          f"optim.micro_batch_size ({o.micro_batch_size})")
    if o.lr <= 0 or o.grad_clip < 0 or o.weight_decay < 0:
        raise ConfigError(f"optim.lr must be > 0 and optim.grad_clip, optim.weight_decay >= 0; got "
                          f"lr={o.lr}, grad_clip={o.grad_clip}, weight_decay={o.weight_decay}")
    if not s.minutes >= 0:
        raise ConfigError(f"schedule.minutes must be >= 0 (0: no time budget), got {s.minutes}")
    if not 0 <= s.warmup_steps <= s.max_steps:
        raise ConfigError(f"schedule.warmup_steps must be in [0, max_steps={s.max_steps}], got {s.warmup_steps}")
    if not 0.0 <= s.min_lr_ratio <= 1.0:
        raise ConfigError(f"schedule.min_lr_ratio must be in [0, 1], got {s.min_lr_ratio}")
    if not 0.0 <= cfg.ema.decay < 1.0:
        raise ConfigError(f"ema.decay must be in [0, 1), got {cfg.ema.decay}")
    if not cfg.data.buckets:
        raise ConfigError("data.buckets is empty; give at least one (num_frames, height, width)")
    for b in cfg.data.buckets:
        if min(b) < 1:
            raise ConfigError(f"data.buckets entry {list(b)} must hold positive (num_frames, height, width)")
    need = {"synthetic": (), "folder": ("folder",), "cache": ("cache_dir",)}[cfg.data.source]
    for key in need:
        if not getattr(cfg.data, key):
            raise ConfigError(f"data.source={cfg.data.source} needs data.{key} (a path), got an empty string")
    if cfg.data.source == "synthetic" and cfg.data.num_samples < 1:
        raise ConfigError(f"data.num_samples must be >= 1, got {cfg.data.num_samples}")
    if cfg.checkpoint.resume not in ("auto", "never") and not Path(cfg.checkpoint.resume).exists():
        raise ConfigError(f"checkpoint.resume={cfg.checkpoint.resume!r}: no such checkpoint; "
                          f"use auto, never or the path of a checkpoint folder")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """TrainConfig from a YAML file (None: the dataclass defaults) plus `key=value` overrides."""
    cfg = load_yaml(TrainConfig, path) if path is not None else TrainConfig()
    cfg = apply_overrides(cfg, list(overrides))
    check(cfg)
    dit_config(cfg.model)  # validate the model section now, not after the data has loaded
    return cfg
