"""DiT training: `train(cfg) -> summary`, the same code for one process and for torchrun.

The DiT is one `Task` of the training harness (train/harness.py runs the loop, checkpoints, EMA,
schedule, metrics, NaN policy and parallelism). What is the DiT's own:
  1. preflight: every check that can fail (data present and non-empty, sizes divisible by the VAE
     factor x patch, cache matching the model) runs before any training time is spent;
  2. the model (optionally initialised from released weights) and its parallel wrapping;
  3. the data: one bucketed global-batch order for all ranks (a pure function of (seed, epoch)),
     cut into micro-batches per rank and accumulation step; its position is checkpointed;
  4. the loss: `flow_matching_loss`, its randomness from the harness's per-micro-batch generator;
  5. sample videos from fixed prompts every `logging.sample_every` steps.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from minisora.config import ConfigError, to_dict
from minisora.precision import autocast as precision_autocast
from minisora.train.config import TrainConfig, check, dit_config
from minisora.train.data import (LatentCacheDataset, PixelEncoder, cache_is_compatible,
                                 check_divisible, collate_latents, collate_pixels, folder_dataset, synthetic_dataset)
from minisora.train.distributed import DistInfo, apply_parallelism
from minisora.train.ema import EMA
from minisora.train.harness import Loop, fit


@dataclass
class Batches:
    """The data side of a run: dataset, the global-batch order and how to turn a batch into tensors."""
    dataset: torch.utils.data.Dataset
    sampler: object  # minisora.data.buckets.BucketBatchSampler over global batches
    collate: object
    encoder: PixelEncoder | None  # None for the latent cache
    latent_shapes: list[tuple[int, int, int, int]]  # (C, T', H', W') per bucket


# --------------------------------------------------------------------------------------------
# 1. preflight


def build_data(cfg: TrainConfig, dit_cfg, info: DistInfo) -> Batches:
    """Open the data source and check it against the model; raises before any training."""
    from minisora.data.buckets import BucketBatchSampler

    d = cfg.data
    encoder = None
    if d.source == "cache":
        ds = LatentCacheDataset(d.cache_dir)
        problems = cache_is_compatible(ds.meta, dit_cfg)
        if problems:
            raise ConfigError(f"latent cache {d.cache_dir!r} does not fit the model: " + "; ".join(problems))
        shapes = list(ds.bucket_shapes)
        collate = collate_latents
    else:
        # the data first: a missing or empty dataset is reported even when the VAE is missing too
        if d.source == "synthetic":
            ds = synthetic_dataset(d.num_samples, list(d.buckets), d.split, d.dataset_seed, d.fps)
        else:
            ds = folder_dataset(d.folder, list(d.buckets))
        vae = load_vae(d.vae)
        shapes = []
        for (t, h, w) in d.buckets:
            try:
                shapes.append(tuple(vae.latent_shape(t, h, w)))
            except ValueError as e:
                raise ConfigError(f"data.buckets entry {[t, h, w]}: {e}") from None
        for shape in shapes:
            check_divisible(shape, dit_cfg.patch_size, f"data.buckets ({d.vae} gives latents of {shape})")
        if vae.latent_channels != dit_cfg.latent_channels:
            raise ConfigError(f"VAE {d.vae!r} has {vae.latent_channels} latent channels but "
                              f"model.latent_channels is {dit_cfg.latent_channels}")
        from minisora.text.encoder import shared_encoder

        text = shared_encoder()
        if text.dim != dit_cfg.text_dim:
            raise ConfigError(f"the text encoder gives {text.dim}-dim tokens but model.text_dim is {dit_cfg.text_dim}")
        encoder = PixelEncoder(vae.to(info.device), text)
        collate = collate_pixels
    if len(ds) == 0:
        raise ConfigError(f"data.source={d.source}: the dataset is empty")
    for shape in shapes:
        check_divisible(shape, dit_cfg.patch_size, f"data ({d.source})")
    # One global order for all ranks; this rank's share is cut out of each global batch by the loop.
    try:
        sampler = BucketBatchSampler([ds.bucket_of(i) for i in range(len(ds))], cfg.optim.global_batch_size,
                                     rank=0, world_size=1, seed=cfg.seed, shuffle=True, drop_last=True)
    except ValueError as e:
        raise ConfigError(f"optim.global_batch_size={cfg.optim.global_batch_size} is larger than every bucket "
                          f"of the {len(ds)}-item dataset ({e})") from None
    return Batches(ds, sampler, collate, encoder, shapes)


def load_vae(path: str):
    """The VAE of a `save_pretrained` folder; "" is the shipped model's, found inside the package (never
    relative to the working directory)."""
    from minisora.model_folder import DEFAULT_MODEL_DIR
    from minisora.vae.model import VideoVAE

    folder = Path(path) if path else DEFAULT_MODEL_DIR / "vae"
    if not folder.is_dir():
        raise ConfigError(f"VAE folder {str(folder)!r} does not exist (data.vae); train one with "
                          f"`minisora train-vae`, leave data.vae empty for the shipped VAE, or use data.source=cache")
    return VideoVAE.from_pretrained(folder)


# --------------------------------------------------------------------------------------------
# the task: model, loss and data of the DiT; the harness (train/harness.py) runs the loop


def position_stream(sampler, epoch: int, position: int):
    """Yield (global batch, (epoch, position after it)) forever, from a saved position."""
    while True:
        batches = sampler.rank_batches(epoch)
        for p in range(position, len(batches)):
            yield batches[p], (epoch, p + 1)
        epoch, position = epoch + 1, 0


class _LocalBatches:
    """This rank's micro-batches, in order: global batch k is cut into world*accum chunks; rank r
    takes chunks r*accum ... r*accum + accum - 1 (so a 1-process run with accumulation computes
    exactly the chunks N ranks compute between them)."""

    def __init__(self, sampler, epoch, position, micro, accum, rank):
        self.sampler, self.epoch, self.position = sampler, epoch, position
        self.micro, self.accum, self.rank = micro, accum, rank

    def __iter__(self):
        for batch, _ in position_stream(self.sampler, self.epoch, self.position):
            for a in range(self.accum):
                j = self.rank * self.accum + a
                yield batch[j * self.micro:(j + 1) * self.micro]


class DiTTask:
    """The DiT's part of a run: model, flow-matching loss, the bucketed data and sample videos."""

    def __init__(self, cfg: TrainConfig, info: DistInfo):
        from minisora.dit.model import DiT

        self.cfg, self.info = cfg, info
        dit_cfg = dit_config(cfg.model)
        if info.is_main:
            Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        self.data = build_data(cfg, dit_cfg, info)
        self.sample_ctx = _prepare_sampling(cfg, dit_cfg, self.data, info) if cfg.logging.sample_every > 0 else None
        self.model = DiT(dit_cfg).to(info.device)
        if cfg.model.init_from:
            _init_weights(self.model, cfg.model.init_from, dit_cfg)
        self.model_config = to_dict(dit_cfg)
        self.autocast = precision_autocast(cfg.precision, info.device)
        self.accum = cfg.optim.global_batch_size // (cfg.optim.micro_batch_size * info.world_size)
        self.shapes: list[tuple[int, int, int]] = []

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def wrap(self, model: nn.Module, info: DistInfo) -> nn.Module:
        # without text dropout the learned null text never enters the loss
        return apply_parallelism(model, self.cfg.parallel, info, unused_parameters=self.cfg.flow.text_drop_prob == 0)

    def start(self, data_state: dict | None) -> None:
        sampler = self.data.sampler
        if data_state is not None:
            sampler.load_state_dict(data_state)
        self.epoch, self.position = sampler.epoch, sampler.position
        loader = torch.utils.data.DataLoader(
            self.data.dataset, collate_fn=self.data.collate, num_workers=self.cfg.data.num_workers,
            batch_sampler=_LocalBatches(sampler, self.epoch, self.position, self.cfg.optim.micro_batch_size,
                                        self.accum, self.info.rank),
            pin_memory=self.info.device.type == "cuda", persistent_workers=False)
        self.positions = position_stream(sampler, self.epoch, self.position)
        self.batches = iter(loader)

    def micro_batch(self, step: int, index: int, count: int) -> dict:
        first = index % self.accum == 0  # the first micro-batch of this rank's share of a new step
        if first:
            _, (self.epoch, self.position) = next(self.positions)
        batch = next(self.batches)
        if self.data.encoder is not None:
            batch = self.data.encoder(batch, self.info.device)
        if first:
            self.shapes.append(tuple(batch["latents"].shape[2:]))  # T', H', W' of the step (benchmarks)
        return batch

    def loss(self, model: nn.Module, batch: dict, generator: torch.Generator):
        from minisora.flow.training import flow_matching_loss

        d = self.info.device
        with self.autocast:
            late = batch["window_start"] > 0 if "window_start" in batch else None  # continuations only
            loss, stats = flow_matching_loss(model, batch["latents"].to(d, non_blocking=True), batch["tokens"].to(d),
                                             batch["mask"].to(d), batch["pooled"].to(d), self.cfg.flow, generator,
                                             continuation=late)
        return loss, {"t_mean": stats["t_mean"], "epoch": self.epoch}

    def data_state(self) -> dict:
        self.data.sampler.epoch, self.data.sampler.position = self.epoch, self.position
        return self.data.sampler.state_dict()

    def evaluate(self, step: int, model: nn.Module, ema: EMA | None) -> dict:
        if self.sample_ctx is not None:
            _write_samples(self.sample_ctx, model, ema, step, self.info, self.cfg)
        return {}

    def release(self, step: int, model: nn.Module, ema: EMA | None, record: dict) -> None:
        """Releases are exported from a checkpoint afterwards (`train/export.py`)."""


# Keys that may change when a run is resumed: the budget, where the run lives, what only reports, and how
# the work is spread over processes (N ranks compute what one process computes: tests/test_distributed.py).
BUDGET_KEYS = ("schedule.max_steps", "schedule.minutes", "checkpoint.resume", "checkpoint.dir", "checkpoint.every",
               "checkpoint.keep_last", "run_dir", "logging.progress", "logging.every", "logging.tensorboard",
               "parallel.strategy", "parallel.backend", "parallel.activation_checkpointing", "parallel.compile",
               "data.num_workers")


def loop_config(cfg: TrainConfig, allow_changed: bool = False) -> Loop:
    o, s = cfg.optim, cfg.schedule
    return Loop(name="train", run_dir=cfg.run_dir, seed=cfg.seed, max_steps=s.max_steps, minutes=s.minutes,
                lr=o.lr, warmup_steps=s.warmup_steps, min_lr_ratio=s.min_lr_ratio, weight_decay=o.weight_decay,
                grad_clip=o.grad_clip, betas=tuple(o.betas), eps=o.eps,
                ema_decay=cfg.ema.decay if cfg.ema.enabled else 0.0, ema_start=cfg.ema.start_step,
                nan_max_consecutive=cfg.nan_guard.max_consecutive, global_batch_size=o.global_batch_size,
                micro_batch_size=o.micro_batch_size, log_every=cfg.logging.every,
                eval_every=cfg.logging.sample_every, checkpoint_every=cfg.checkpoint.every,
                keep_last=cfg.checkpoint.keep_last, config=to_dict(cfg), budget_keys=BUDGET_KEYS,
                checkpoint_dir=str(cfg.checkpoint_dir), resume=cfg.checkpoint.resume, allow_changed=allow_changed,
                parallel=cfg.parallel, tensorboard=cfg.logging.tensorboard, progress=cfg.logging.progress,
                upgrade_config=TrainConfig.upgrade_old_forms)


def train(cfg: TrainConfig, allow_changed: bool = False) -> dict:
    """Train the DiT as `cfg` says; returns a summary dict (rank 0's view; the same on all ranks)."""
    check(cfg)
    tasks = []

    def build(info: DistInfo) -> DiTTask:
        tasks.append(DiTTask(cfg, info))
        return tasks[0]

    summary = fit(loop_config(cfg, allow_changed), build)
    # per step of this run: [seconds, data seconds, T', H', W'] (bench/train.py)
    summary["step_records"] = [[*t, *shape] for t, shape in zip(summary.pop("step_times"), tasks[0].shapes)]
    if int(os.environ.get("RANK", "0")) == 0:
        from minisora.weights import atomic_write_bytes

        brief = {k: v for k, v in summary.items() if k != "history"}  # metrics.jsonl holds the history
        atomic_write_bytes(Path(cfg.run_dir) / "summary.json", (json.dumps(brief) + "\n").encode())
    return summary


def _init_weights(model: nn.Module, folder: str, dit_cfg) -> None:
    """Load released DiT weights (model.init_from) into the freshly built model, in fp32: a weights
    folder (`save_pretrained`), or a training run or checkpoint (its EMA weights), so that one stage
    can fine-tune the previous one's output without an export in between."""
    from minisora.train.export import load_dit

    try:
        released = load_dit(folder)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ConfigError(f"model.init_from={folder!r}: {e}") from None
    theirs, ours = to_dict(released.config), to_dict(dit_cfg)
    diff = sorted(k for k in ours if ours[k] != theirs[k])
    # Two changes a release can be fine-tuned into, because the model starts out as the released one:
    # switching text positions on (the new embedding starts at zero) and a longer or shorter text
    # sequence (e.g. object slots appended to the caption) while the release has no text positions
    # (then text_len only sets the length of the null text).
    tunable = {"text_positions", "text_len"} if not theirs["text_positions"] else {"text_positions"}
    if set(diff) - tunable or (ours["text_positions"] is False and "text_positions" in diff):
        raise ConfigError(f"model.init_from={folder!r} was trained with a different architecture: "
                          + ", ".join(f"{k}: {theirs[k]!r} there vs {ours[k]!r} here" for k in diff))
    adds_text_positions = "text_positions" in diff
    result = model.load_state_dict(released.state_dict(), strict=not adds_text_positions)
    if adds_text_positions and (result.unexpected_keys or set(result.missing_keys) != {"text_pos"}):
        raise ConfigError(f"model.init_from={folder!r}: unexpected weights {result.unexpected_keys}, "
                          f"missing {result.missing_keys}")


# --------------------------------------------------------------------------------------------
# samples from fixed prompts


@dataclass
class _SampleContext:
    vae: object
    embeddings: object  # TextEmbedding of the prompts
    latent_shape: tuple[int, int, int, int]
    out: Path


def _prepare_sampling(cfg: TrainConfig, dit_cfg, data: Batches, info: DistInfo) -> _SampleContext:
    vae = data.encoder.vae if data.encoder is not None else load_vae(cfg.data.vae)
    if not cfg.logging.text_encoder:
        raise ConfigError("logging.sample_every > 0 needs the text encoder (logging.text_encoder=true)")
    from minisora.text.encoder import shared_encoder

    emb = shared_encoder().encode(list(cfg.logging.sample_prompts))
    return _SampleContext(vae=vae, embeddings=emb, latent_shape=data.latent_shapes[0],
                          out=Path(cfg.run_dir) / "samples")


@torch.no_grad()
def _write_samples(ctx: _SampleContext, model: nn.Module, ema: EMA | None, step: int, info: DistInfo,
                   cfg: TrainConfig) -> None:
    """Sample the fixed prompts with the EMA weights (gathered to full tensors) on rank 0."""
    from minisora.dit.model import DiT
    from minisora.dit.patchify import num_tokens
    from minisora.flow.samplers import make_noise
    from minisora.flow.schedules import schedule_shift
    from minisora.io import export_to_video
    from minisora.sampling import decode_frames, denoise

    full = full_state(ema.state_dict() if ema is not None else dict(model.named_parameters()))
    if not info.is_main:
        return
    net = DiT(model.config)
    net.load_state_dict(full, strict=False)  # buffers (if any) keep their defaults
    net.eval()
    B = len(cfg.logging.sample_prompts)
    emb = ctx.embeddings
    C, T, H, W = ctx.latent_shape
    noise = make_noise((B, C, T, H, W), seed=cfg.seed)
    null = net.null_text(B, emb.tokens.shape[1])
    # the pipeline's own sampling path (minisora.sampling)
    z = denoise(net, noise, steps=cfg.logging.sample_steps, method="euler", guidance=cfg.logging.sample_guidance,
                shift=schedule_shift(cfg.flow, num_tokens((T, H, W), net.config.patch_size)),
                cond=dict(text_tokens=emb.tokens, text_mask=emb.mask, text_pooled=emb.pooled),
                uncond=dict(zip(("text_tokens", "text_mask", "text_pooled"), null)))
    frames = decode_frames(ctx.vae, z)  # B, T, H, W, 3 uint8
    ctx.out.mkdir(parents=True, exist_ok=True)
    for i in range(B):
        export_to_video(frames[i], ctx.out / f"step_{step:08d}_{i}.mp4", fps=int(cfg.data.fps))


def full_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Full CPU tensors from a state dict that may hold DTensor shards (collective under FSDP)."""
    out = {}
    for k, v in state.items():
        v = v.detach()
        if hasattr(v, "full_tensor"):
            v = v.full_tensor()
        out[k] = v.float().cpu()
    return out
