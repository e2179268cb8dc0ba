"""A compact, resumable training loop for the video VAE (`minisora train-vae`).

Data: a pool of clips rendered (MovingShapes) or read (video folder) once, kept as uint8; every step
draws random space-time crops with random horizontal flips, and every `image_every`-th step trains
on single frames (T = 1: images and videos share one causal model).
Schedule: linear warmup, then cosine decay over the run's progress, where progress is the larger of
step / steps and elapsed / minutes, so a wall-clock budget still ends with a fully decayed LR.
Checkpoints (`<out>/checkpoint/`): model and optimizer tensors as safetensors, scalars and RNG state
as JSON; no pickle anywhere. Released weights (`release_dir`) are bf16 with fresh latent statistics.

Decoder-only fine-tuning (`freeze_encoder`, with `init_from`): the encoder runs in eval mode under
no_grad and is not in the optimizer, the latent statistics are the released ones and are never
re-measured, so the released encoder tensors and statistics are bit-identical to the initial ones
(bf16 -> fp32 -> bf16 is exact). The decoder is trained on latents *sampled* from the frozen
posterior, not on its mean: this is the distribution the decoder was trained on in the first place,
and the DiT's generated latents are themselves samples that only approximate the latent
distribution, so a decoder that has seen posterior noise is more robust to them.
"""

from __future__ import annotations

import json
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from minisora.config import from_dict, to_dict
from minisora.train.distributed import shutdown
from minisora.train.ema import EMA
from minisora.vae import data_parallel
from minisora.vae.config import VAEConfig, VAETrainConfig
from minisora.vae.losses import psnr, vae_loss
from minisora.vae.model import VideoVAE
from minisora.weights import atomic_write_bytes

# --------------------------------------------------------------------------- data


def _to_uint8(video: torch.Tensor) -> torch.Tensor:
    """float (3,T,H,W) in [-1,1] -> uint8 (3,T,H,W)."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (...) -> float32 in [-1, 1]."""
    return clips.float() / 127.5 - 1.0


def synthetic_pool(n: int, height: int, width: int, num_frames: int, seed: int, split: str = "train",
                   cache_dir: str | Path | None = None, progress: bool = True) -> torch.Tensor:
    """n MovingShapes clips as uint8 (N,3,T,H,W), cached as .npy in `cache_dir` when given."""
    from minisora.world.dataset import MovingShapesDataset

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"movingshapes_{split}_{n}x{num_frames}x{height}x{width}_seed{seed}.npy"
        if path.is_file():
            return torch.from_numpy(np.load(path))
    ds = MovingShapesDataset(n, height=height, width=width, num_frames=num_frames, split=split, seed=seed)
    pool = torch.stack([_to_uint8(ds[i]["video"]) for i in tqdm(range(n), desc=f"render {split} clips",
                                                              disable=not progress, leave=False)])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, pool.numpy())
        tmp.replace(path)
    return pool


def folder_pool(root: str, n: int, height: int, width: int, num_frames: int, progress: bool = True) -> torch.Tensor:
    """Up to n clips of a video folder (VideoFolderDataset) as uint8 (N,3,T,H,W)."""
    from minisora.data.video_folder import VideoFolderDataset

    ds = VideoFolderDataset(root, num_frames, height, width)
    if len(ds) == 0:
        raise ValueError(f"video folder {root!r} holds no usable clips")
    idx = range(min(n, len(ds)))
    return torch.stack([_to_uint8(ds[i]["video"]) for i in tqdm(idx, desc="read clips", disable=not progress, leave=False)])


@dataclass
class CropSampler:
    """Random crops of a uint8 pool (N,3,T,H,W), drawn with its own generator (checkpointed)."""

    pool: torch.Tensor
    crop_size: int
    crop_frames: int
    seed: int
    gen: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.gen = torch.Generator().manual_seed(self.seed)

    def _randint(self, hi: int) -> int:
        return int(torch.randint(0, hi, (1,), generator=self.gen)) if hi > 1 else 0

    def videos(self, batch: int, full_length: bool = False) -> torch.Tensor:
        """(B,3,t,s,s) float in [-1,1]; `full_length` takes every frame of the pool's clips."""
        N, _, T, H, W = self.pool.shape
        t = T if full_length else (self.crop_frames or T)
        s_h = min(self.crop_size or H, H)
        s_w = min(self.crop_size or W, W)
        out = []
        for _ in range(batch):
            i, t0, y0, x0 = self._randint(N), self._randint(T - t + 1), self._randint(H - s_h + 1), self._randint(W - s_w + 1)
            clip = self.pool[i, :, t0:t0 + t, y0:y0 + s_h, x0:x0 + s_w]
            if self._randint(2):
                clip = clip.flip(-1)
            out.append(clip)
        return to_float(torch.stack(out))

    def images(self, batch: int) -> torch.Tensor:
        """(B,3,1,s,s) single frames, float in [-1,1]."""
        N, _, T, H, W = self.pool.shape
        s_h, s_w = min(self.crop_size or H, H), min(self.crop_size or W, W)
        out = []
        for _ in range(batch):
            i, t0, y0, x0 = self._randint(N), self._randint(T), self._randint(H - s_h + 1), self._randint(W - s_w + 1)
            clip = self.pool[i, :, t0:t0 + 1, y0:y0 + s_h, x0:x0 + s_w]
            out.append(clip.flip(-1) if self._randint(2) else clip)
        return to_float(torch.stack(out))


# --------------------------------------------------------------------------- evaluation helpers


@torch.no_grad()
def reconstruct(vae: VideoVAE, clips_u8: torch.Tensor, batch: int = 4) -> torch.Tensor:
    """Encode (posterior mean) and decode uint8 clips (N,3,T,H,W); returns float in [-1,1]."""
    was_training = vae.training
    vae.eval()
    outs = []
    for i in range(0, len(clips_u8), batch):
        x = to_float(clips_u8[i:i + batch])
        outs.append(vae.decode(vae.encode(x)))
    vae.train(was_training)
    return torch.cat(outs)


@torch.no_grad()
def latent_stats(vae: VideoVAE, clips_u8: torch.Tensor, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the (unnormalised) posterior means of `clips_u8` (N,3,T,H,W)."""
    was_training = vae.training
    vae.eval()
    s = torch.zeros(vae.latent_channels, dtype=torch.float64)
    s2 = torch.zeros_like(s)
    n = 0
    for i in range(0, len(clips_u8), batch):
        with vae.autocast():
            mean, _ = vae.encode_moments(to_float(clips_u8[i:i + batch]))
        m = mean.double().transpose(0, 1).reshape(vae.latent_channels, -1)  # (C, B*T'*H'*W')
        s += m.sum(1)
        s2 += m.pow(2).sum(1)
        n += m.shape[1]
    vae.train(was_training)
    mu = s / n
    std = (s2 / n - mu.pow(2)).clamp_min(1e-12).sqrt()
    return mu.float(), std.float()


# --------------------------------------------------------------------------- checkpoints


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        scalars["state"][str(pid)] = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.contiguous()
            else:
                scalars["state"][str(pid)][k] = v
    return tensors, scalars


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    state: dict[int, dict] = {}
    for pid, st in scalars["state"].items():
        state[int(pid)] = dict(st)
    for key, v in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def save_checkpoint(folder: Path, vae: VideoVAE, opt: torch.optim.Optimizer, sampler: CropSampler,
                    step: int, elapsed: float, cfg: VAETrainConfig, history: list[dict], ema: EMA | None = None) -> None:
    """Slots: model (fp32 safetensors), optimizer (safetensors + JSON scalars), EMA weights (if any),
    step, elapsed time, data RNG, config and log history (JSON). Written file by file atomically, the
    state file last."""
    folder.mkdir(parents=True, exist_ok=True)
    slots = [("model", vae.state_dict()), ("optimizer", _optimizer_tensors(opt)[0])]
    if ema is not None:
        slots.append(("ema", ema.state_dict()))
    for name, tensors in slots:
        tmp = folder / f".{name}.safetensors.tmp"
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp))
        tmp.replace(folder / f"{name}.safetensors")
    state = {"step": step, "elapsed": elapsed, "train_config": to_dict(cfg), "vae_config": to_dict(vae.config),
             "optimizer": _optimizer_tensors(opt)[1], "sampler_rng": sampler.gen.get_state().tolist(),
             "history": history, "has_ema": ema is not None}
    atomic_write_bytes(folder / "trainer_state.json", json.dumps(state).encode())


def load_checkpoint(folder: Path, vae: VideoVAE, opt: torch.optim.Optimizer, sampler: CropSampler,
                    ema: EMA | None = None) -> dict:
    state = json.loads((folder / "trainer_state.json").read_text())
    if ema is not None and not state.get("has_ema", False):
        raise ValueError(f"checkpoint {str(folder)!r} holds no EMA weights but ema_decay={ema.decay}; resume "
                         f"with ema_decay=0 or start a new run (another --out)")
    vae.load_state_dict(load_file(str(folder / "model.safetensors")))
    _load_optimizer(opt, load_file(str(folder / "optimizer.safetensors")), state["optimizer"])
    if ema is not None:
        ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
    sampler.gen.set_state(torch.tensor(state["sampler_rng"], dtype=torch.uint8))
    return state


# --------------------------------------------------------------------------- the loop


def lr_at(progress: float, step: int, cfg: VAETrainConfig) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * warm * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


@contextmanager
def averaged_weights(vae: VideoVAE, ema: EMA | None):
    """Inside the block `vae` holds the EMA weights (if any); the trained weights come back after."""
    if ema is None:
        yield vae
        return
    params = [p for p in vae.parameters() if p.requires_grad]
    trained = [p.detach().clone() for p in params]
    ema.copy_to(vae)
    try:
        yield vae
    finally:
        with torch.no_grad():
            torch._foreach_copy_(params, trained)


def _ema_decay_at(step: int, cfg: VAETrainConfig) -> float:
    """Ramped decay: early in a run the average follows the weights closely (it forgets the random start)."""
    return min(cfg.ema_decay, (1 + step) / (10 + step))


def _log_status(line: str, status_file: str | None) -> None:
    if status_file:
        with open(status_file, "a") as f:
            f.write(line + "\n")


def release(vae: VideoVAE, folder: str | Path, stats_clips: torch.Tensor | None, status_file: str | None = None,
            note: str = "", info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Measure latent shift/scale on `stats_clips`, store them in the model, save bf16 weights
    (plus `training.json`, the provenance of the weights, when `info` is given).
    `stats_clips=None` keeps the model's current statistics (decoder-only fine-tuning)."""
    if stats_clips is None:
        shift, scale = vae.latent_shift.clone(), vae.latent_scale.clone()
    else:
        shift, scale = latent_stats(vae, stats_clips)
        vae.set_latent_stats(shift, scale)
    vae.save_pretrained(folder, dtype=torch.bfloat16)
    if info is not None:
        atomic_write_bytes(Path(folder) / "training.json", (json.dumps(info, indent=2) + "\n").encode())
    stamp = datetime.now(timezone.utc).strftime("%H:%M UTC")
    _log_status(f"{stamp} VAE weights updated: {folder} {note}", status_file)
    return shift, scale


def train_vae(cfg: VAETrainConfig, vae_config: VAEConfig | None = None, *, pool: torch.Tensor | None = None,
              val: torch.Tensor | None = None, resume: bool = False, progress: bool = True,
              status_file: str | None = None) -> tuple[VideoVAE, list[dict]]:
    """Train a VAE as configured; returns (model, history of logged dicts).

    Under torchrun (WORLD_SIZE > 1) the ranks split each global batch (vae/data_parallel.py); rank 0 logs,
    evaluates and saves, and the other ranks return an empty history.

    `pool` / `val` (uint8 (N,3,T,H,W)) override the configured data, e.g. for tests.
    `cfg.threads` applies for the duration of the call only."""
    previous = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, vae_config, pool, val, resume, progress, status_file)
    finally:
        torch.set_num_threads(previous)


def _train(cfg: VAETrainConfig, vae_config: VAEConfig | None, pool: torch.Tensor | None, val: torch.Tensor | None,
           resume: bool, progress: bool, status_file: str | None) -> tuple[VideoVAE, list[dict]]:
    group = data_parallel.join()  # one process, or the ranks torchrun started
    if cfg.batch_size % group.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} is the global batch and must divide evenly among "
                         f"{group.world_size} processes; use a multiple of {group.world_size}")
    progress = progress and group.is_main
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    init = _load_init(cfg, vae_config)
    _provenance(cfg)  # read before any release can overwrite it
    vae_config = init.config if init is not None else (vae_config or VAEConfig.preset(cfg.preset))
    cache = Path(cfg.data_cache) if cfg.data_cache else out / "data"
    sf, tf = vae_config.spatial_factor, vae_config.temporal_factor
    if cfg.crop_frames and (cfg.crop_frames - 1) % tf:
        raise ValueError(f"crop_frames={cfg.crop_frames} must be 1 + k*{tf} (temporal_factor={tf})")
    if cfg.crop_size and cfg.crop_size % sf:
        raise ValueError(f"crop_size={cfg.crop_size} must be a multiple of spatial_factor={sf}")

    # 1. data (rank 0 renders and caches it first; the other ranks then read the cache)
    if not group.is_main:
        data_parallel.barrier(group)
    if pool is None:
        if cfg.data == "synthetic":
            pool = synthetic_pool(cfg.num_train_clips, cfg.height, cfg.width, cfg.num_frames, cfg.seed,
                                  "train", cache, progress)
        else:
            pool = folder_pool(cfg.data, cfg.num_train_clips, cfg.height, cfg.width, cfg.num_frames, progress)
    if val is None:
        if cfg.data == "synthetic":
            val = synthetic_pool(cfg.num_val_clips, cfg.height, cfg.width, cfg.num_frames, cfg.seed + 1,
                                 "heldout", cache, progress)
        else:
            val = pool[-cfg.num_val_clips:]
    if group.is_main:
        data_parallel.barrier(group)
    sampler = CropSampler(pool, cfg.crop_size, cfg.crop_frames, cfg.seed)
    long_clip_batch = 0
    if (cfg.long_clip_every or cfg.long_clip_from < 1.0) and cfg.crop_frames and cfg.crop_frames < pool.shape[2]:
        long_clip_batch = cfg.batch_size * cfg.crop_frames // pool.shape[2] // group.world_size * group.world_size
        if long_clip_batch < group.world_size:
            raise ValueError(f"batch_size={cfg.batch_size} is too small for whole-clip steps of {pool.shape[2]} frames "
                             f"(crop_frames={cfg.crop_frames}) on {group.world_size} processes; use a batch of at "
                             f"least {group.world_size * -(-pool.shape[2] // cfg.crop_frames)}")

    # 2. model and optimizer
    vae = (init if init is not None else VideoVAE(vae_config)).set_precision(cfg.precision).train()
    if cfg.freeze_encoder:
        # Everything up to the latent moments is frozen; the latent statistics are buffers (never
        # trained) and are kept as loaded.
        vae.encoder.requires_grad_(False)
        vae.encoder.eval()
    if cfg.compile and not cfg.freeze_encoder:
        vae.compile_training_pass()
    trainable = [p for p in vae.parameters() if p.requires_grad]
    # fused: one kernel per step for all parameters. Measured on the 2-core CPU: the per-tensor loop
    # of the default implementation took ~30% of a default-preset training step.
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay, fused=True)
    ema = EMA(vae, cfg.ema_decay) if cfg.ema_decay > 0 else None
    step, elapsed0, history = 0, 0.0, []
    ckpt = out / "checkpoint"
    if resume and (ckpt / "trainer_state.json").is_file():
        state = load_checkpoint(ckpt, vae, opt, sampler, ema)
        step, elapsed0, history = state["step"], state["elapsed"], state["history"]
    data_parallel.broadcast_parameters(vae, group)
    if ema is not None and step == 0:
        ema = EMA(vae, cfg.ema_decay)  # start from the broadcast weights, identical on every rank
    average_gradients = data_parallel.GradientAverager(trainable, group)
    if group.is_main:
        (out / "config.json").write_text(json.dumps({"train": to_dict(cfg), "vae": to_dict(vae_config)}, indent=2))

    # 3. loop
    budget = cfg.minutes * 60.0
    t_start = time.perf_counter() - elapsed0
    bar = tqdm(total=cfg.steps, initial=step, desc="train-vae", disable=not progress, dynamic_ncols=True)
    log_f = open(out / "log.jsonl", "a") if group.is_main else None
    window_t, window_n = time.perf_counter(), 0
    while step < cfg.steps:
        # Rank 0's clock drives the schedule and the stop, so all ranks take the same steps.
        elapsed = data_parallel.broadcast_float(time.perf_counter() - t_start, group)
        if budget and elapsed >= budget:
            break
        frac = max(step / cfg.steps, elapsed / budget if budget else 0.0)
        lr = lr_at(frac, step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        if cfg.image_every and step % cfg.image_every == cfg.image_every - 1:
            per_rank = cfg.batch_size // group.world_size * max(1, cfg.crop_frames or cfg.num_frames) // 2
            x = data_parallel.shard(sampler.images(per_rank * group.world_size), group)
            n_samples = 0
        else:
            video_step = step - (step // cfg.image_every if cfg.image_every else 0)
            if long_clip_batch and ((cfg.long_clip_every and video_step % cfg.long_clip_every == 0)
                                    or frac >= cfg.long_clip_from):
                # Whole clips at a batch of the same pixel count: the causal layers then also learn the
                # frames deep into a clip, which short crops never reach (vae/config.py, long_clip_every).
                x = data_parallel.shard(sampler.videos(long_clip_batch, full_length=True), group)
                n_samples = long_clip_batch
            else:
                x = data_parallel.shard(sampler.videos(cfg.batch_size), group)  # every rank draws the global batch
                n_samples = cfg.batch_size
        # The posterior sample's noise is drawn for the global batch and sharded like the data, so the run
        # does not depend on the number of processes.
        noise = data_parallel.shard(torch.randn(x.shape[0] * group.world_size, *vae.latent_shape(*x.shape[2:])), group)
        if cfg.freeze_encoder:
            vae.encoder.eval()  # evaluation passes call vae.train() afterwards; keep the encoder in eval
            with torch.no_grad(), vae.autocast():
                mean, logvar = vae.encode_moments(x)  # (B,C,T',H',W') float32
                z = mean + torch.exp(0.5 * logvar) * noise  # a posterior sample
            with vae.autocast():
                rec = vae.decode_raw(z)
            # The KL term depends on the encoder only: without gradients it is a constant, so drop it.
            loss, parts = vae_loss(rec, x, mean, logvar, cfg.l1_weight, cfg.edge_weight, 0.0, cfg.foreground_weight,
                                   mse_weight=cfg.mse_weight)
        else:
            with vae.autocast():
                rec, mean, logvar = vae(x, noise=noise)
            loss, parts = vae_loss(rec, x, mean, logvar, cfg.l1_weight, cfg.edge_weight, cfg.kl_weight,
                                   cfg.foreground_weight, mse_weight=cfg.mse_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients()
        gnorm = torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip).item()
        # gnorm is the same on every rank (averaged gradients), so all ranks stop together.
        if not (math.isfinite(loss.item()) and math.isfinite(gnorm)):
            raise FloatingPointError(f"VAE loss became {loss.item()} at step {step}; lower lr (now {lr:g})")
        opt.step()
        step += 1
        if ema is not None:
            ema.decay = _ema_decay_at(step, cfg)
            ema.update(vae, step)
        window_n += n_samples
        bar.update(1)

        if not group.is_main:
            continue  # logging, evaluation and checkpoints are rank 0's
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            sps = window_n / max(now - window_t, 1e-9)
            window_t, window_n = now, 0
            elapsed = now - t_start
            rec_psnr = psnr(rec.detach(), x)
            eta = ((1 - frac) / max(frac, 1e-9) * elapsed) if frac > 0 else float("nan")
            rec_ = {"step": step, "lr": lr, "gnorm": gnorm, "psnr": rec_psnr, "samples_per_s": sps,
                    "elapsed_s": elapsed, **parts}
            history.append(rec_)
            log_f.write(json.dumps(rec_) + "\n")
            log_f.flush()
            bar.set_postfix(loss=f"{parts['loss']:.4f}", psnr=f"{rec_psnr:.1f}", sps=f"{sps:.1f}",
                            eta=f"{eta / 60:.1f}m")
        if cfg.eval_every and (step % cfg.eval_every == 0):
            history.append({"step": step, **_evaluate(vae, ema, val), "elapsed_s": time.perf_counter() - t_start})
            log_f.write(json.dumps(history[-1]) + "\n")
            log_f.flush()
            bar.write(f"step {step}: held-out PSNR {_describe(history[-1])}")
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
            _save(vae, opt, sampler, step, time.perf_counter() - t_start, cfg, history, pool, status_file, ema)
    bar.close()
    if group.is_main:
        elapsed = time.perf_counter() - t_start
        history.append({"step": step, **_evaluate(vae, ema, val), "elapsed_s": elapsed, "final": True})
        log_f.write(json.dumps(history[-1]) + "\n")
        log_f.close()
        _save(vae, opt, sampler, step, elapsed, cfg, history, pool, status_file, ema)
    shutdown(group)  # the other ranks wait here for rank 0's final save
    if ema is not None:
        ema.copy_to(vae)  # hand back the weights that were released
    if cfg.freeze_encoder:
        vae.encoder.eval()
    return vae, (history if group.is_main else [])


def _evaluate(vae: VideoVAE, ema: EMA | None, val: torch.Tensor) -> dict[str, float]:
    """Held-out PSNR of the weights that get released (`val_psnr`) and, with EMA on, of the trained
    weights too (`val_psnr_trained`), so the log shows what the averaging is worth."""
    target = to_float(val)
    out = {}
    if ema is not None:
        out["val_psnr_trained"] = psnr(reconstruct(vae, val), target)
    with averaged_weights(vae, ema):
        out["val_psnr"] = psnr(reconstruct(vae, val), target)
    return out


def _describe(entry: dict) -> str:
    text = f"{entry['val_psnr']:.2f} dB"
    if "val_psnr_trained" in entry:
        text += f" (EMA; trained weights {entry['val_psnr_trained']:.2f} dB)"
    return text


def _load_init(cfg: VAETrainConfig, vae_config: VAEConfig | None) -> VideoVAE | None:
    """The released VAE of `cfg.init_from` (fp32 copy, latent statistics included), or None."""
    if not cfg.init_from:
        return None
    vae = VideoVAE.from_pretrained(cfg.init_from)
    expected = vae_config or VAEConfig.preset(cfg.preset)
    if vae.config != expected:
        raise ValueError(f"init_from={cfg.init_from!r} holds a VAE with config {to_dict(vae.config)}, which is not "
                         f"the requested architecture (preset={cfg.preset!r}: {to_dict(expected)}); pick the "
                         f"matching preset")
    return vae


_PROVENANCE: dict[str, dict] = {}


def _provenance(cfg: VAETrainConfig) -> dict | None:
    """training.json of the `init_from` weights (the earlier phase of training), if any. Read once per
    process, so that releasing into the `init_from` folder itself does not nest the record."""
    if not cfg.init_from:
        return None
    if cfg.init_from not in _PROVENANCE:
        path = Path(cfg.init_from) / "training.json"
        _PROVENANCE[cfg.init_from] = json.loads(path.read_text()) if path.is_file() else {"weights": cfg.init_from}
    return _PROVENANCE[cfg.init_from]


def _save(vae: VideoVAE, opt: torch.optim.Optimizer, sampler: CropSampler, step: int, elapsed: float,
          cfg: VAETrainConfig, history: list[dict], pool: torch.Tensor, status_file: str | None,
          ema: EMA | None = None) -> None:
    save_checkpoint(Path(cfg.out) / "checkpoint", vae, opt, sampler, step, elapsed, cfg, history, ema)
    if cfg.release_dir:
        val_psnr = next((h["val_psnr"] for h in reversed(history) if "val_psnr" in h), float("nan"))
        sps = next((h["samples_per_s"] for h in reversed(history) if "samples_per_s" in h), float("nan"))
        info = {"step": step, "minutes": elapsed / 60, "val_psnr": val_psnr, "samples_per_s": sps,
                "command": " ".join(sys.argv),
                "train_config": to_dict(cfg)}
        previous = _provenance(cfg)
        if previous is not None:
            info["phase"] = "decoder-only fine-tuning" if cfg.freeze_encoder else "fine-tuning"
            info["init_from"] = cfg.init_from
            info["previous_phase"] = previous  # e.g. the encoder's (and latent statistics') training run
            if "minutes" in previous and "step" in previous:
                # The earlier phase may itself have earlier phases: add up the whole chain.
                info["total_minutes"] = previous.get("total_minutes", previous["minutes"]) + elapsed / 60
                info["summary"] = (f"{previous['step']} steps / {previous['minutes']:.1f} min "
                                   f"({previous.get('phase', 'full VAE training')}), then {step} steps / "
                                   f"{elapsed / 60:.1f} min ({info['phase']}, init from {cfg.init_from})")
        stats = None if cfg.freeze_encoder else pool[: cfg.stats_clips]
        with averaged_weights(vae, ema):  # the statistics are measured on the encoder that is released
            release(vae, cfg.release_dir, stats, status_file,
                    note=f"(step {step}, {elapsed / 60:.1f} min, held-out PSNR {val_psnr:.2f} dB)", info=info)
        # Training continues on raw latents; the stored statistics only matter for encode/decode.
