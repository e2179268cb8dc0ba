"""The DiT training loop: `train(cfg) -> summary`, the same code for one process and for torchrun.

Steps of a run:
  1. preflight: every check that can fail (data present and non-empty, sizes divisible by the VAE
     factor x patch, checkpoint folder writable, cache matching the model) runs before any
     training time is spent;
  2. model (same seed on every rank), parallelism (`apply_parallelism`), EMA, AdamW, schedule;
  3. resume from the latest checkpoint (or the one named), restoring every slot;
  4. the loop: global batch -> this rank's micro-batches -> flow_matching_loss -> accumulate ->
     NaN/Inf guard -> clip -> AdamW step -> EMA; metrics, samples and checkpoints on schedule.

Determinism (what makes resume bit-exact and N ranks equal one): the data order is a pure
function of (seed, epoch) and the data position is checkpointed; the randomness of the loss
(timesteps, noise, text dropout, frame conditioning) comes from a torch.Generator seeded by
(seed, step, index of the micro-batch within the global batch) - a function of *what* is computed,
not of *where* (which rank, which accumulation step) or of anything that happened before. The
global RNG states are checkpointed too, for anything else that draws from them.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from minisora.config import ConfigError, to_dict
from minisora.precision import autocast as precision_autocast
from minisora.train import checkpoint as ckpt
from minisora.train.config import TrainConfig, check, dit_config
from minisora.train.data import (LatentCacheDataset, PixelEncoder, cache_is_compatible,
                                 check_divisible, collate_latents, collate_pixels, folder_dataset, synthetic_dataset)
from minisora.train.distributed import DistInfo, all_reduce_mean, apply_parallelism, init_distributed, shutdown, unwrap
from minisora.train.ema import EMA
from minisora.train.monitor import Monitor, NaNGuard


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
    if not Path(path).is_dir():
        raise ConfigError(f"VAE folder {path!r} does not exist (data.vae); train one with "
                                f"`minisora train-vae` or use data.source=cache")
    from minisora.vae.model import VideoVAE

    return VideoVAE.from_pretrained(path)


# --------------------------------------------------------------------------------------------
# schedule and seeding


def lr_lambda(cfg: TrainConfig):
    """Linear warmup to 1, then cosine decay to `min_lr_ratio` at `max_steps` (factor of optim.lr)."""
    s = cfg.schedule

    def f(step: int) -> float:  # step = optimizer steps taken so far (0 before the first)
        if step < s.warmup_steps:
            return (step + 1) / s.warmup_steps
        span = max(s.max_steps - s.warmup_steps, 1)
        progress = min((step - s.warmup_steps) / span, 1.0)
        return s.min_lr_ratio + (1.0 - s.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def micro_generator(seed: int, step: int, micro_index: int) -> torch.Generator:
    """The generator of one micro-batch: a function of (seed, step, index in the global batch) only."""
    mixed = np.random.SeedSequence([seed, step, micro_index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))


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


# --------------------------------------------------------------------------------------------
# the run


def train(cfg: TrainConfig) -> dict:
    """Train the DiT as `cfg` says; returns a summary dict (rank 0's view; the same on all ranks)."""
    check(cfg)
    info = init_distributed(cfg.parallel)
    ok = False
    try:
        summary = _train(cfg, info)
        ok = True
        return summary
    finally:
        # after a failure another rank may never reach a barrier: only a clean run synchronises
        if ok:
            shutdown(info)
        elif info.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(cfg: TrainConfig, info: DistInfo) -> dict:
    from minisora.dit.model import DiT
    from minisora.flow.training import flow_matching_loss

    # 1. preflight ---------------------------------------------------------------------------
    dit_cfg = dit_config(cfg.model)
    micro, world = cfg.optim.micro_batch_size, info.world_size
    if cfg.optim.global_batch_size % (micro * world):
        raise ConfigError(f"optim.global_batch_size ({cfg.optim.global_batch_size}) must be a multiple of "
                          f"optim.micro_batch_size x world size ({micro} x {world} = {micro * world})")
    accum = cfg.optim.global_batch_size // (micro * world)
    ckpt_dir = cfg.checkpoint_dir
    ckpt.check_writable(ckpt_dir)
    if info.is_main:
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    data = build_data(cfg, dit_cfg, info)
    sample_ctx = _prepare_sampling(cfg, dit_cfg, data, info) if cfg.logging.sample_every > 0 else None

    # 2. model, parallelism, EMA, optimizer, schedule ----------------------------------------
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = DiT(dit_cfg).to(info.device)
    if cfg.model.init_from:
        _init_weights(model, cfg.model.init_from, dit_cfg)
    # without text dropout the learned null text never enters the loss
    train_model = apply_parallelism(model, cfg.parallel, info, unused_parameters=cfg.flow.text_drop_prob == 0)
    model = unwrap(train_model)  # same parameters; FSDP2 shards in place
    ema = EMA(model, cfg.ema.decay, cfg.ema.start_step) if cfg.ema.enabled else None
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    # foreach: one fused kernel per op over all parameters (the default only on CUDA); the many
    # small tensors of a DiT make the per-tensor loop the slower choice on CPU too.
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay,
                                  foreach=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    guard = NaNGuard(cfg.nan_guard.max_consecutive)
    model_config = to_dict(dit_cfg)

    # 3. resume ------------------------------------------------------------------------------
    step, epoch, position = 0, 0, 0
    resume_from = None
    if cfg.checkpoint.resume == "auto":
        resume_from = ckpt.latest_checkpoint(ckpt_dir)
    elif cfg.checkpoint.resume != "never":
        resume_from = Path(cfg.checkpoint.resume)
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, model=model, ema=ema, optimizer=optimizer, scheduler=scheduler,
                                     info=info, model_config=model_config)
        step = state["step"]
        data.sampler.load_state_dict(state["data"])
        epoch, position = data.sampler.epoch, data.sampler.position
        guard.load_state_dict(state["nan_guard"])

    # 4. the loop ----------------------------------------------------------------------------
    loader = torch.utils.data.DataLoader(
        data.dataset, batch_sampler=_LocalBatches(data.sampler, epoch, position, micro, accum, info.rank),
        collate_fn=data.collate, num_workers=cfg.data.num_workers, pin_memory=info.device.type == "cuda",
        persistent_workers=False)
    positions = position_stream(data.sampler, epoch, position)
    batches = iter(loader)
    monitor = Monitor(cfg.run_dir, enabled=info.is_main, total_steps=cfg.schedule.max_steps, start_step=step,
                      samples_per_step=cfg.optim.global_batch_size, tensorboard=cfg.logging.tensorboard,
                      progress=cfg.logging.progress)
    autocast = precision_autocast(cfg.precision.dtype, info.device)
    fsdp = cfg.parallel.strategy == "fsdp" and info.distributed
    ddp = cfg.parallel.strategy == "ddp" and info.distributed
    start_step, t_start = step, time.perf_counter()
    data_time = step_time = 0.0
    records = []  # per step of this run: [seconds, data seconds, T', H', W'] (for benchmarks)
    last_loss = float("nan")
    last_saved = resume_from  # a run resumed at its last step writes nothing new
    try:
        while step < cfg.schedule.max_steps:
            t0 = time.perf_counter()
            step += 1
            _, (epoch, position) = next(positions)
            loss_sum = torch.zeros((), dtype=torch.float64)
            data_before = data_time
            for a in range(accum):
                td = time.perf_counter()
                batch = next(batches)
                if data.encoder is not None:
                    batch = data.encoder(batch, info.device)
                data_time += time.perf_counter() - td
                gen = micro_generator(cfg.seed, step, info.rank * accum + a)
                last_micro = a == accum - 1
                # gradients are reduced across ranks only on the last micro-batch of a step
                if fsdp:
                    model.set_requires_gradient_sync(last_micro)
                sync = train_model.no_sync() if (ddp and not last_micro) else contextlib.nullcontext()
                with sync:
                    if fsdp:
                        # The loss asks the root module for its learned null text outside forward;
                        # unsharding the root first gives it full parameters (reduced as usual).
                        model.unshard()
                    with autocast:
                        loss, stats = flow_matching_loss(
                            train_model, batch["latents"].to(info.device, non_blocking=True),
                            batch["tokens"].to(info.device), batch["mask"].to(info.device),
                            batch["pooled"].to(info.device), cfg.flow, gen)
                    (loss / accum).backward()
                loss_sum += loss.detach().double().cpu()
            loss_mean = float(all_reduce_mean(loss_sum / accum, info))
            grad_norm = _clip(params, cfg.optim.grad_clip)
            lr = scheduler.get_last_lr()[0]
            applied = guard.check(step, loss_mean, grad_norm)
            if applied:
                optimizer.step()
                if ema is not None:
                    ema.update(model, step)
            optimizer.zero_grad(set_to_none=True)
            with warnings.catch_warnings():
                # the schedule follows the step count, skipped steps included (torch warns when
                # the very first step was skipped)
                warnings.simplefilter("ignore", UserWarning)
                scheduler.step()
            last_loss = loss_mean
            step_time += time.perf_counter() - t0
            records.append([time.perf_counter() - t0, data_time - data_before, *batch["latents"].shape[2:]])

            if step % cfg.logging.every == 0 or step == cfg.schedule.max_steps:
                elapsed = time.perf_counter() - t_start
                monitor.log(step, {"loss": loss_mean, "grad_norm": grad_norm, "lr": lr, "epoch": epoch,
                                   "skipped_steps": guard.skipped, "t_mean": stats["t_mean"],
                                   "steps_per_s": (step - start_step) / elapsed,
                                   "samples_per_s": (step - start_step) * cfg.optim.global_batch_size / elapsed,
                                   "data_time_share": data_time / max(step_time, 1e-9)})
            monitor.progress(step, loss_mean)
            if sample_ctx is not None and step % cfg.logging.sample_every == 0:
                _write_samples(sample_ctx, model, ema, step, info, cfg)
            if step % cfg.checkpoint.every == 0 or step == cfg.schedule.max_steps:
                data.sampler.epoch, data.sampler.position = epoch, position
                last_saved = ckpt.save_checkpoint(
                    ckpt_dir, step, model=model, ema=ema, optimizer=optimizer, scheduler=scheduler, info=info,
                    keep_last=cfg.checkpoint.keep_last,
                    state={"data": data.sampler.state_dict(), "nan_guard": guard.state_dict(),
                           "config": to_dict(cfg), "model_config": model_config})
        monitor.plot_loss()
    finally:
        monitor.close()
    elapsed = time.perf_counter() - t_start
    steps_done = step - start_step
    summary = {"steps": step, "steps_this_run": steps_done, "final_loss": last_loss, "skipped_steps": guard.skipped,
            "seconds": elapsed, "samples_per_s": steps_done * cfg.optim.global_batch_size / max(elapsed, 1e-9),
            "data_time_share": data_time / max(step_time, 1e-9), "checkpoint": str(last_saved) if last_saved else None,
            "resumed_from": str(resume_from) if resume_from else None, "run_dir": cfg.run_dir,
            "world_size": world, "grad_accum": accum, "step_records": records}
    if info.is_main:
        from minisora.weights import atomic_write_bytes

        atomic_write_bytes(Path(cfg.run_dir) / "summary.json", (json.dumps(summary) + "\n").encode())
    return summary


def _init_weights(model: nn.Module, folder: str, dit_cfg) -> None:
    """Load released DiT weights (model.init_from) into the freshly built model, in fp32."""
    from minisora.dit.model import DiT

    try:
        released = DiT.from_pretrained(folder)
    except ValueError as e:
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


def _clip(params: list[nn.Parameter], max_norm: float) -> float:
    """Global gradient norm (over all ranks and shards); clips in place when max_norm > 0."""
    grads = [p for p in params if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(grads, max_norm if max_norm > 0 else float("inf"))
    if hasattr(norm, "full_tensor"):  # DTensor under FSDP2: the norm is already reduced
        norm = norm.full_tensor()
    return float(norm)


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
    from minisora.flow.samplers import make_noise, sample
    from minisora.io import export_to_video

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
    z = sample(net, noise, steps=cfg.logging.sample_steps, guidance_scale=cfg.logging.sample_guidance,
               shift=cfg.flow.shift_for(T * H * W // math.prod(net.config.patch_size)),
               cond=dict(text_tokens=emb.tokens, text_mask=emb.mask, text_pooled=emb.pooled),
               uncond=dict(zip(("text_tokens", "text_mask", "text_pooled"), null)), progress=False)
    video = ctx.vae.decode(z.to(next(ctx.vae.parameters()).device)).float().cpu()  # B,3,T,H,W in [-1,1]
    frames = ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1)  # B,T,H,W,3
    ctx.out.mkdir(parents=True, exist_ok=True)
    for i in range(B):
        export_to_video(frames[i].numpy(), ctx.out / f"step_{step:08d}_{i}.mp4", fps=int(cfg.data.fps))


def full_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Full CPU tensors from a state dict that may hold DTensor shards (collective under FSDP)."""
    out = {}
    for k, v in state.items():
        v = v.detach()
        if hasattr(v, "full_tensor"):
            v = v.full_tensor()
        out[k] = v.float().cpu()
    return out
