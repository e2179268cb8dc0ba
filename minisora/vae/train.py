"""Training the video VAE (`minisora train-vae`): the VAE's model, loss and data as a `Task` of the
training harness (train/harness.py runs the loop, checkpoints, EMA, schedule, metrics, NaN policy,
budget and data parallelism).

Data (vae/train_data.py): a pool of clips kept as uint8; every step draws random space-time crops with
random horizontal flips, and every `image_every`-th step trains on single frames (T = 1: images and
videos share one causal model). Under torchrun every rank draws the same global batch from one
checkpointed generator and trains on its piece, so the run does not depend on the number of ranks.
Released weights (`release_dir`, default `<run_dir>/release`) are bf16 with fresh latent statistics.

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
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import load_file

from minisora.config import ConfigError, to_dict
from minisora.train.config import ParallelConfig
from minisora.train.distributed import DistInfo, apply_parallelism, barrier
from minisora.train.ema import EMA, released_weights
from minisora.train.harness import Loop, fit, flat_loop, release_folder
from minisora.vae.config import VAEConfig, VAETrainConfig
from minisora.vae.losses import psnr, vae_loss
from minisora.vae.model import VideoVAE
from minisora.vae.train_data import (CropSampler, folder_pool, latent_stats, reconstruct,  # noqa: F401
                                     synthetic_pool, to_float)
from minisora.weights import atomic_write_bytes

# Fields that may change when a run is resumed: the budget, where the run lives, what only reports, and
# how the work is spread over processes.
BUDGET_KEYS = ("steps", "minutes", "log_every", "eval_every", "save_every", "keep_last", "threads", "run_dir",
               "release_dir", "data_cache", "resume", "strategy", "compile")


class VAETask:
    """The VAE's part of a run (see the module docstring)."""

    def __init__(self, cfg: VAETrainConfig, info: DistInfo, init: VideoVAE | None, vae_config: VAEConfig,
                 pool: torch.Tensor | None, val: torch.Tensor | None, status_file: str | None):
        self.cfg, self.info, self.status_file = cfg, info, status_file
        self.progress = 0.0  # share of the budget spent; the harness sets it before each step
        cache = Path(cfg.data_cache) if cfg.data_cache else Path(cfg.run_dir) / "data"
        show = info.is_main
        # rank 0 renders and caches the clips first; the other ranks then read the cache
        if not info.is_main:
            barrier(info)
        if pool is None:
            pool = (synthetic_pool(cfg.num_train_clips, cfg.height, cfg.width, cfg.num_frames, cfg.seed, "train",
                                   cache, show) if cfg.data == "synthetic" else
                    folder_pool(cfg.data, cfg.num_train_clips, cfg.height, cfg.width, cfg.num_frames, show))
        if val is None:
            val = (synthetic_pool(cfg.num_val_clips, cfg.height, cfg.width, cfg.num_frames, cfg.seed + 1, "heldout",
                                  cache, show) if cfg.data == "synthetic" else pool[-cfg.num_val_clips:])
        if info.is_main:
            barrier(info)
        self.pool, self.val = pool, val
        self.sampler = CropSampler(pool, cfg.crop_size, cfg.crop_frames, cfg.seed)
        T = pool.shape[2]
        self.long_clip_batch = 0
        if (cfg.long_clip_every or cfg.long_clip_from < 1.0) and cfg.crop_frames and cfg.crop_frames < T:
            # whole clips at a batch of about the same pixel count as a crop step (vae/config.py)
            self.long_clip_batch = cfg.batch_size * cfg.crop_frames // T
            if self.long_clip_batch < 1:
                raise ConfigError(f"batch_size={cfg.batch_size} is too small for whole-clip steps of {T} frames "
                                  f"(crop_frames={cfg.crop_frames}); use a batch of at least "
                                  f"{-(-T // cfg.crop_frames)}")
        self.model = (init if init is not None else VideoVAE(vae_config)).set_precision(cfg.precision).train()
        if cfg.freeze_encoder:
            # Everything up to the latent moments is frozen; the latent statistics are buffers (never
            # trained) and are kept as loaded.
            self.model.encoder.requires_grad_(False)
            self.model.encoder.eval()
        if cfg.compile and not cfg.freeze_encoder:
            self.model.compile_training_pass()
        self.model_config = {"vae": to_dict(vae_config)}
        self.video_steps = 0
        self._global: tuple[int, torch.Tensor] | None = None
        self.last_eval: dict = {}

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def wrap(self, model: VideoVAE, info: DistInfo) -> torch.nn.Module:
        if self.cfg.freeze_encoder and self.cfg.strategy == "ddp" and info.distributed:
            raise ConfigError("freeze_encoder trains through encode_moments/decode_raw, outside forward, where "
                              "DDP cannot see the backward pass; use strategy=average")
        return apply_parallelism(model, ParallelConfig(strategy=self.cfg.strategy), info, units=[])

    def start(self, data_state: dict | None) -> None:
        if data_state is not None:
            self.sampler.gen.set_state(torch.tensor(data_state["sampler_rng"], dtype=torch.uint8))
            self.video_steps = data_state["video_steps"]

    def data_state(self) -> dict:
        return {"sampler_rng": self.sampler.gen.get_state().tolist(), "video_steps": self.video_steps}

    def micro_batch(self, step: int, index: int, count: int) -> torch.Tensor:
        """Piece `index` of `count` of the step's global batch (drawn once per step, on every rank)."""
        if self._global is None or self._global[0] != step:
            self._global = (step, self._draw(step))
        x = self._global[1]
        n = x.shape[0] // count
        if n * count != x.shape[0]:
            raise ConfigError(f"the batch of step {step} ({x.shape[0]} clips) does not split into {count} equal "
                              f"pieces (ranks x accumulation); choose batch_size as a multiple of {count}")
        return x[index * n:(index + 1) * n]

    def _draw(self, step: int) -> torch.Tensor:
        cfg = self.cfg
        if cfg.image_every and step % cfg.image_every == 0:
            return self.sampler.images(cfg.batch_size * max(1, cfg.crop_frames or cfg.num_frames) // 2)
        video_step, self.video_steps = self.video_steps, self.video_steps + 1
        if self.long_clip_batch and ((cfg.long_clip_every and video_step % cfg.long_clip_every == 0)
                                     or self.progress >= cfg.long_clip_from):
            # Whole clips: the causal layers then also learn the frames deep into a clip, which short
            # crops never reach (vae/config.py, long_clip_every).
            return self.sampler.videos(self.long_clip_batch, full_length=True)
        return self.sampler.videos(cfg.batch_size)

    def loss(self, model: torch.nn.Module, x: torch.Tensor, generator: torch.Generator):
        cfg, vae = self.cfg, self.model
        noise = torch.randn(x.shape[0], *vae.latent_shape(*x.shape[2:]), generator=generator)
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
                rec, mean, logvar = model(x, noise=noise)
            loss, parts = vae_loss(rec, x, mean, logvar, cfg.l1_weight, cfg.edge_weight, cfg.kl_weight,
                                   cfg.foreground_weight, mse_weight=cfg.mse_weight)
        return loss, {**parts, "psnr": psnr(rec.detach(), x)}

    def evaluate(self, step: int, model: VideoVAE, ema: EMA | None) -> dict:
        """Held-out PSNR of the weights that get released (`val_psnr`) and, with EMA on, of the trained
        weights too (`val_psnr_trained`), so the log shows what the averaging is worth. Rank 0 only."""
        if not self.info.is_main:
            return {}
        target = to_float(self.val)
        out = {}
        if ema is not None:
            out["val_psnr_trained"] = psnr(reconstruct(model, self.val), target)
        with released_weights(model, ema):
            out["val_psnr"] = psnr(reconstruct(model, self.val), target)
        if self.cfg.freeze_encoder:
            model.encoder.eval()
        self.last_eval = out
        return out

    def release(self, step: int, model: VideoVAE, ema: EMA | None, record: dict) -> None:
        """Released bf16 weights with latent statistics measured on the encoder that is released."""
        if not self.info.is_main:
            return
        cfg = self.cfg
        val_psnr = self.last_eval.get("val_psnr", float("nan"))
        info = {"step": step, "val_psnr": val_psnr, "command": " ".join(sys.argv), "train_config": to_dict(cfg),
                **provenance_chain(cfg, step, record.get("elapsed_s", 0.0))}
        stats = None if cfg.freeze_encoder else self.pool[: cfg.stats_clips]
        with released_weights(model, ema):
            release(model, release_folder(cfg), stats, self.status_file,
                    note=f"(step {step}, held-out PSNR {val_psnr:.2f} dB)", info=info)
        model.train()
        if cfg.freeze_encoder:
            model.encoder.eval()


def loop_config(cfg: VAETrainConfig, allow_changed: bool = False, progress: bool = True) -> Loop:
    # betas (0.9, 0.99): the second moment follows the loss's quickly changing scale early in a run
    return flat_loop(cfg, "train-vae", BUDGET_KEYS, betas=(0.9, 0.99), ema_decay=cfg.ema_decay,
                     ema_start=cfg.warmup_steps, micro_batch_size=0, accumulation=cfg.accumulation,
                     allow_changed=allow_changed, parallel=ParallelConfig(strategy=cfg.strategy), progress=progress)


def train_vae(cfg: VAETrainConfig, vae_config: VAEConfig | None = None, *, pool: torch.Tensor | None = None,
              val: torch.Tensor | None = None, progress: bool = True, status_file: str | None = None,
              allow_changed: bool = False) -> tuple[VideoVAE, list[dict]]:
    """Train a VAE as configured (resuming from `<run_dir>/checkpoints` when there is a checkpoint);
    returns (model holding the released weights, metrics history). Under torchrun rank 0 logs,
    evaluates and releases, and the other ranks return an empty history.

    `pool` / `val` (uint8 (N,3,T,H,W)) override the configured data, e.g. for tests."""
    release_folder(cfg)  # a release folder inside the package is refused before any work
    init = _load_init(cfg, vae_config)
    provenance(cfg)  # read before any release can overwrite it
    vae_config = init.config if init is not None else (vae_config or VAEConfig.preset(cfg.preset))
    sf_tf = (vae_config.spatial_factor, vae_config.temporal_factor)
    if cfg.crop_frames and (cfg.crop_frames - 1) % sf_tf[1]:
        raise ConfigError(f"crop_frames={cfg.crop_frames} must be 1 + k*{sf_tf[1]} (temporal_factor={sf_tf[1]})")
    if cfg.crop_size and cfg.crop_size % sf_tf[0]:
        raise ConfigError(f"crop_size={cfg.crop_size} must be a multiple of spatial_factor={sf_tf[0]}")
    built = []

    def build(info: DistInfo) -> VAETask:
        built.append(VAETask(cfg, info, init, vae_config, pool, val, status_file))
        return built[0]

    summary = fit(loop_config(cfg, allow_changed, progress), build)
    vae = built[0].model
    if cfg.ema_decay > 0 and summary["checkpoint"]:  # hand back the weights that were released
        vae.load_state_dict(load_file(str(Path(summary["checkpoint"]) / "ema.safetensors")), strict=False)
    if cfg.freeze_encoder:
        vae.encoder.eval()
    return vae, summary["history"]


def _load_init(cfg: VAETrainConfig, vae_config: VAEConfig | None) -> VideoVAE | None:
    """The released VAE of `cfg.init_from` (fp32 copy, latent statistics included), or None."""
    if not cfg.init_from:
        return None
    vae = VideoVAE.from_pretrained(cfg.init_from)
    expected = vae_config or VAEConfig.preset(cfg.preset)
    if vae.config != expected:
        raise ConfigError(f"init_from={cfg.init_from!r} holds a VAE with config {to_dict(vae.config)}, which is not "
                          f"the requested architecture (preset={cfg.preset!r}: {to_dict(expected)}); pick the "
                          f"matching preset")
    return vae


_PROVENANCE: dict[str, dict] = {}


def provenance(cfg: VAETrainConfig) -> dict | None:
    """training.json of the `init_from` weights (the earlier phase of training), if any. Read once per
    process, so that releasing into the `init_from` folder itself does not nest the record."""
    if not cfg.init_from:
        return None
    if cfg.init_from not in _PROVENANCE:
        path = Path(cfg.init_from) / "training.json"
        _PROVENANCE[cfg.init_from] = json.loads(path.read_text()) if path.is_file() else {"weights": cfg.init_from}
    return _PROVENANCE[cfg.init_from]


def provenance_chain(cfg: VAETrainConfig, step: int, elapsed_s: float) -> dict:
    """This phase's minutes, and, after `init_from`, the earlier phases' record and the chain's total."""
    info = {"minutes": elapsed_s / 60}
    previous = provenance(cfg)
    if previous is None:
        return info
    info["phase"] = "decoder-only fine-tuning" if cfg.freeze_encoder else "fine-tuning"
    info["init_from"] = cfg.init_from
    info["previous_phase"] = previous  # e.g. the encoder's (and latent statistics') training run
    if "minutes" in previous and "step" in previous:
        # The earlier phase may itself have earlier phases: add up the whole chain.
        info["total_minutes"] = previous.get("total_minutes", previous["minutes"]) + elapsed_s / 60
        info["summary"] = (f"{previous['step']} steps / {previous['minutes']:.1f} min "
                           f"({previous.get('phase', 'full VAE training')}), then {step} steps / "
                           f"{elapsed_s / 60:.1f} min ({info['phase']}, init from {cfg.init_from})")
    return info


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
    if status_file:
        with open(status_file, "a") as f:
            f.write(f"{datetime.now(timezone.utc).strftime('%H:%M UTC')} VAE weights updated: {folder} {note}\n")
    return shift, scale
