"""Typed configuration of the causal video VAE and of its training run, with named presets.

`VAEConfig` fixes the architecture (and so the latent shape); `VAETrainConfig` fixes a training run.
Both are plain dataclasses: defaults live here and nowhere else; YAML/JSON only serialise them
(`minisora.config.from_dict` / `to_dict`).

Compression: a clip (3, T, H, W) with T = 1 + k * temporal_factor becomes a latent
(latent_channels, 1 + k, H / spatial_factor, W / spatial_factor). The first frame is encoded on its
own (causal in time), so an image is simply a 1-frame video.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from minisora.config import ConfigError
from minisora.precision import Precision


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of `minisora.vae.model.VideoVAE`.

    The encoder first folds `patch_size` x `patch_size` pixels into channels (space-to-depth, as in
    LTX-Video's VAE) so that no 3x3x3 convolution ever runs at full pixel resolution; then one stage
    per entry of `encoder_channels`, each stage after the first preceded by a stride-2 downsampling.
    Hence spatial_factor = patch_size * 2 ** (len(encoder_channels) - 1). Temporal stride-2 steps are
    placed on the last log2(temporal_factor) downsamplings (the decoder mirrors this).
    """

    spatial_factor: int = 8
    temporal_factor: int = 4
    latent_channels: int = 16
    patch_size: int = 2
    encoder_channels: tuple[int, ...] = (64, 128, 256)
    decoder_channels: tuple[int, ...] = (64, 128, 256)  # listed from full resolution to the latent
    encoder_blocks: int = 1  # residual blocks per stage
    decoder_blocks: int = 1
    mid_blocks: int = 1  # residual blocks at latent resolution (encoder and decoder each)
    # Time kernel of the residual blocks of the full-resolution stage (after patchify). 1 makes them
    # per-frame 2D convolutions, 3x cheaper; temporal mixing then happens at the lower resolutions.
    full_res_time_kernel: int = 3
    # Kernel (time, height, width) of the sub-pixel convolution in front of each depth-to-space upsampling.
    # It runs at the lower resolution but writes st*4 times its output channels, which makes it the
    # costliest layer of the decoder (32% of the default preset's forward FLOPs at 3x3x3); the residual
    # blocks after it mix in space and time anyway.
    upsample_kernel: tuple[int, int, int] = (3, 3, 3)
    # Parameter-free residual paths around every resolution change and into/out of the latent
    # (DC-AE, Chen et al. 2024): they make the untrained network nearly an invertible rearrangement.
    shortcuts: bool = True
    norm_eps: float = 1e-6
    logvar_clamp: tuple[float, float] = (-30.0, 20.0)

    def __post_init__(self) -> None:
        if self.spatial_factor not in (4, 8, 16):
            raise ConfigError(f"spatial_factor={self.spatial_factor} is not valid; choose 4, 8 or 16")
        if self.temporal_factor not in (1, 2, 4):
            raise ConfigError(f"temporal_factor={self.temporal_factor} is not valid; choose 1, 2 or 4")
        if self.patch_size not in (1, 2, 4):
            raise ConfigError(f"patch_size={self.patch_size} is not valid; choose 1, 2 or 4")
        if self.latent_channels < 1:
            raise ConfigError(f"latent_channels={self.latent_channels} must be >= 1")
        if len(self.encoder_channels) != len(self.decoder_channels):
            raise ConfigError(f"encoder_channels {self.encoder_channels} and decoder_channels "
                              f"{self.decoder_channels} must have the same number of stages")
        n_down = len(self.encoder_channels) - 1
        if self.patch_size * 2 ** n_down != self.spatial_factor:
            valid = self.spatial_factor // self.patch_size
            raise ConfigError(
                f"spatial_factor={self.spatial_factor} needs patch_size * 2**(stages-1) == spatial_factor; "
                f"got patch_size={self.patch_size} with {len(self.encoder_channels)} stages; use "
                f"{int(math.log2(valid)) + 1 if valid >= 1 else '?'} stages for this patch_size")
        if 2 ** self.temporal_downsamples > 2 ** n_down:
            raise ConfigError(f"temporal_factor={self.temporal_factor} needs at least "
                              f"{self.temporal_downsamples} downsampling stages, got {n_down}")
        if self.full_res_time_kernel not in (1, 3):
            raise ConfigError(f"full_res_time_kernel={self.full_res_time_kernel} is not valid; choose 1 or 3")
        if len(self.upsample_kernel) != 3 or any(k not in (1, 3) for k in self.upsample_kernel):
            raise ConfigError(f"upsample_kernel={self.upsample_kernel} is not valid; give (time, height, width) "
                              f"sizes, each 1 or 3")
        for name in ("encoder_blocks", "decoder_blocks", "mid_blocks"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")

    @property
    def temporal_downsamples(self) -> int:
        return int(math.log2(self.temporal_factor))

    @property
    def num_downsamples(self) -> int:
        return len(self.encoder_channels) - 1

    def temporal_steps(self) -> list[bool]:
        """For each downsampling step (encoder order), whether it also halves time."""
        n, k = self.num_downsamples, self.temporal_downsamples
        return [i >= n - k for i in range(n)]

    @staticmethod
    def preset(name: str) -> "VAEConfig":
        if name not in VAE_PRESETS:
            raise ConfigError(f"unknown VAE preset {name!r}; choose one of {', '.join(VAE_PRESETS)}")
        return VAE_PRESETS[name]


# The VAE inside the bundled minisora-tiny, trained (and its transformer on its latents) before the default
# preset moved to cheap upsamplings; the shipped model's history (README) trained it with this preset.
_MINISORA_TINY = VAEConfig(encoder_channels=(32, 64, 128), decoder_channels=(32, 64, 128), full_res_time_kernel=1)

VAE_PRESETS: dict[str, VAEConfig] = {
    # Trains in seconds on a CPU; used by the tests. Same compression as the default.
    "debug": VAEConfig(latent_channels=8, patch_size=2, encoder_channels=(16, 32, 32),
                       decoder_channels=(16, 32, 32), mid_blocks=0),
    # For 64x64x17 clips -> 16 x 5 x 8 x 8 latents (compression 208896 / 5120 = 40.8); 2.80M parameters.
    # Cheaper than the minisora-tiny architecture above in two places, each measured on the 2-core CPU in
    # 20-min runs three side by side (1 thread each, batch 8, lr 6e-4; mean per-frame PSNR on the 200
    # held-out clips of bench/vae.py):
    # - upsamplings are 1x1x1 sub-pixel convolutions (a learned depth-to-space, like a stride-2 transposed
    #   conv of kernel 2); the 3x3x3 ones were 32% of the forward FLOPs, and the residual blocks after them
    #   mix in space and time anyway: 31.37 dB (1x1x1) / 31.32 dB (1x3x3) against 30.46 dB (3x3x3);
    # - no residual block at latent resolution (mid_blocks=0): 31.83 dB against 31.39 dB (both 1x1x1), and
    #   no worse at an equal step count. Dropping the encoder's per-stage blocks instead gave 31.80 dB,
    #   moving them into the decoder (decoder_blocks=2) 31.60 dB.
    # Together an eager training step takes 32-39% less time than minisora-tiny's (2 and 1 threads, batch 4 of
    # 9x32x32 crops, bf16); `make train-vae-default` (30 min, two ranks) reached 35.80 dB held-out in 16289
    # steps, where the same recipe on minisora-tiny's architecture reached 33.05-33.62 dB in ~8-10k steps.
    "default": dataclasses.replace(_MINISORA_TINY, upsample_kernel=(1, 1, 1), mid_blocks=0),
    "minisora-tiny": _MINISORA_TINY,
}


@dataclass(frozen=True)
class VAETrainConfig:
    """One training run of the VAE (`minisora train-vae`)."""

    preset: str = "default"
    data: str = "synthetic"  # "synthetic" (MovingShapes) or a path to a video folder
    steps: int = 20000
    minutes: float = 0.0  # wall-clock budget; 0 = no limit (stops at whichever comes first)
    batch_size: int = 4
    # Measured: 2e-3 makes Adam's per-step change ~10% of the 128-channel conv weights; the latent
    # scale then blows up and training thrashes (21.8 dB after 18 min vs 27.0 dB with 4e-4 in 30 min).
    lr: float = 4e-4
    min_lr_ratio: float = 0.05  # cosine decay to lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # Clip geometry. Videos are trained on random crops (a fully convolutional model sees the same
    # statistics at a quarter of the cost); every `image_every`-th batch is single frames (T = 1).
    height: int = 64
    width: int = 64
    num_frames: int = 17
    crop_size: int = 32  # 0 = no crop
    crop_frames: int = 9  # 0 = all frames; must be 1 + k * temporal_factor
    # Whole-clip video steps (all num_frames, at a batch of about the same pixel count as a crop step):
    # every `long_clip_every`-th video step (0 = never), and every video step once `long_clip_from` of
    # the run has passed (1.0 = never). Why: the causal layers never see frames deeper than
    # crop_frames into a clip otherwise; a 30-min default run trained on 9-frame crops decoded frames
    # 9-16 of 17-frame held-out clips at 32.2 dB, against 33.0 dB for the same frames fed as a clip of
    # their own. Measured on the 2-core CPU (2 ranks, batch 8):
    # - fine-tuning that model 5 min at lr 6e-5 on whole clips: 33.59 dB held-out, against 33.29 dB
    #   for the same 5 min on 9-frame crops (frames 9-16 gain 0.6-1.2 dB, frames 0-8 stay within 0.1 dB);
    # - from scratch in 10 min, whole clips cost more than they give while the model is young: 29.33 dB
    #   (every step), 29.48 (every 3rd), 29.18 (last 30%, behind a ~55 s recompile for the new shape)
    #   against 29.84 dB for crops alone.
    # - 30 min from scratch, same day: long_clip_from=0.8 gave 33.39 dB (8087 steps) against 33.36 dB for
    #   crops alone (8793 steps; the whole-clip run also paid a recompile): a tie on the mean, but frames
    #   9-16 decode 0.4-1.1 dB better and frames 0-8 0.3-0.5 dB worse, so quality is even across the clip.
    # Hence late in a run only: `make train-vae-default` sets long_clip_from=0.8.
    long_clip_every: int = 0
    long_clip_from: float = 1.0
    # 0 = never train on single frames. Images earn their share: a 30-min compiled run without them
    # (23000 video steps) reached 33.9 dB held-out, below the 34.3 dB of the eager run with them.
    image_every: int = 8
    # Exponential moving average of the weights (0 = off): evaluation, the held-out PSNR in the log and
    # the released weights use the average; checkpoints keep both. The average copies the weights until
    # warmup_steps, so it never carries much of the random start.
    # Measured (three 20-min runs, 1 thread each, decay 0.999): 0.2-0.6 dB ahead of the trained weights
    # mid-run, within 0.05 dB at the end of the cosine schedule; so off by default (it costs time per step).
    ema_decay: float = 0.0
    # Loss: squared error + optional L1 and edge term (L1 between spatial/temporal finite differences) + KL.
    # Squared error is the default: measured at equal time (6 min, 1 thread, default preset) it reached
    # 29.1 dB held-out PSNR against 25.8 dB for L1 + edge (weights 1 and 1), and 34.3 dB in a 30-min run
    # against 32.8 dB for the 106 minutes of L1 + edge training behind the leg-5 VAE. 96% of the remaining
    # error sits on the 11% of pixels at object edges, which the squared error already weights most.
    # Tried and dropped: a per-sample log-MSE (mean of ln(mse_i + 3e-4), which targets the mean per-clip
    # PSNR that bench/vae.py reports) reached 28.4 dB held-out in 10 min against 30.2 dB for the pooled
    # squared error (2 ranks, batch 8): it hands most of the gradient to crops of near-flat background.
    mse_weight: float = 1.0
    l1_weight: float = 0.0
    edge_weight: float = 0.0
    kl_weight: float = 1e-6
    # Extra weight of foreground pixels (those unlike their frame's median colour) in every reconstruction
    # term; 0 = unweighted. Small objects otherwise cost almost nothing to blur (vae/losses.py).
    foreground_weight: float = 0.0
    # Data pool (MovingShapes): clips rendered once and reused; random crops make each use new.
    num_train_clips: int = 1000
    num_val_clips: int = 16
    seed: int = 0
    precision: Precision = "auto"  # minisora.precision: bf16 where native (AVX-512 BF16/AMX/CUDA)
    # CPU threads for torch (0 = torch's default). On a machine shared with other jobs, 1 thread can
    # beat 2: OpenMP workers waiting at barriers for a descheduled sibling waste whole time slices.
    threads: int = 0
    log_every: int = 25
    eval_every: int = 250
    save_every: int = 250  # also writes released weights (with fresh latent statistics)
    stats_clips: int = 128  # clips used to compute the latent shift/scale
    run_dir: str = "runs/vae"  # checkpoints, metrics.jsonl, loss curve, rendered data cache
    release_dir: str = ""  # released bf16 weights, written at every save; "" = <run_dir>/release
    keep_last: int = 2  # checkpoints kept
    resume: str = "auto"  # auto: the latest checkpoint in <run_dir>/checkpoints if any; never; or a folder
    # Under torchrun: average (gradients averaged after backward, through shared memory on one host:
    # train/distributed.py GradientAverager) or ddp. See `accumulation` for the 1-process equivalent.
    strategy: Literal["none", "ddp", "average"] = "average"
    # Pieces per rank that each step's batch is cut into (gradient accumulation). A 1-process run with
    # accumulation N computes exactly what N ranks compute between them (same noise per piece).
    accumulation: int = 1
    nan_max_consecutive: int = 5  # a non-finite step is skipped; this many in a row stop the run
    # Folder of rendered MovingShapes clips (.npy); "" = <out>/data. Point it at another run's cache
    # to skip rendering the same clips again (the file name encodes count, geometry and seed).
    data_cache: str = ""
    # Start from released weights (a `save_pretrained` folder), latent statistics included. Its
    # config.json fixes the architecture (the preset must describe the same one).
    init_from: str = ""
    # Decoder-only fine-tuning (as Stable Diffusion's ft-MSE VAE): the encoder and the latent
    # statistics stay bit-identical, so a latent space that a DiT was trained on stays valid; only the
    # decoder learns. The KL term is dropped (it has no gradient left) and statistics are not
    # re-measured at release. Needs `init_from` (a frozen random encoder would be pointless).
    freeze_encoder: bool = False
    # torch.compile the encoder and decoder for the training pass (VideoVAE.compile_training_pass).
    # Measured on the 2-core CPU, default preset: 68 ms per video step against ~88 ms eager, after
    # ~75 s of compiling from a cold cache (~120 s with image steps, a second graph). Alone, in one process,
    # the extra steps did not show up in quality (34.1 dB held-out after 23250 compiled steps against
    # 34.3 dB eager); with two data-parallel ranks they did (33.6 against 33.2 dB eager on one day), so
    # `make train-vae-default` turns it on. Off by default here: needs a C++ compiler on CPU
    # (inductor). Not used with freeze_encoder (that loop calls encode/decode itself).
    compile: bool = False

    def __post_init__(self) -> None:
        if self.preset not in VAE_PRESETS:
            raise ConfigError(f"preset={self.preset!r} is not valid; choose one of {', '.join(VAE_PRESETS)}")
        for name in ("steps", "batch_size", "height", "width", "num_frames", "accumulation", "keep_last",
                     "nan_max_consecutive", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.long_clip_every < 0 or not 0.0 <= self.long_clip_from <= 1.0:
            raise ConfigError(f"long_clip_every={self.long_clip_every} must be >= 0 and long_clip_from="
                              f"{self.long_clip_from} within [0, 1] (1 = never)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay={self.ema_decay} must be within [0, 1) (0 = no weight averaging)")
        if self.foreground_weight < 0:
            raise ConfigError(f"foreground_weight={self.foreground_weight} must be >= 0 (0 = unweighted)")
        if self.freeze_encoder and not self.init_from:
            raise ConfigError("freeze_encoder=True needs init_from=<released VAE folder>: freezing a randomly "
                              "initialised encoder would fix a useless latent space")

    def replace(self, **kw) -> "VAETrainConfig":
        return dataclasses.replace(self, **kw)
