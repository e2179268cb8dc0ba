"""Typed configuration of the super-resolution stage and of its training run, with named presets.

The upscaler is the project's DiT run in *pixel* space on a residual, the recipe of the cascaded
super-resolution stages of Imagen Video (Ho et al. 2022) and Cascaded Diffusion Models (Ho et al.
2021): the low-resolution clip is upsampled with bicubic interpolation (and linearly in time for
the 2x frame-rate option); the DiT, conditioned on that upsampled clip as extra input channels,
generates only the missing detail `x_hi - bicubic(x_lo)`. Pixel space, not the VAE latent,
because the stage must beat bicubic interpolation by 2 dB: bicubic already reaches ~36 dB on
MovingShapes, above what a 40x-compressing VAE reconstructs, so any result routed through the VAE
would lose to the baseline before the DiT did anything.

`UpscalerConfig` fixes the model (and how it tiles a clip); `UpscaleTrainConfig` fixes a run.
Defaults live here and nowhere else; JSON/YAML only serialise them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from minisora.config import ConfigError
from minisora.dit.config import DiTConfig
from minisora.precision import PRECISIONS, Precision

# Channels of the DiT's extra condition, in order: bicubic-upsampled RGB (3), the condition's
# noise-augmentation level (1, constant map), and the mask of frames synthesised by temporal
# interpolation (1). One place, read by the model and by the training loop.
COND_RGB, COND_NOISE, COND_INTERP = slice(0, 3), slice(3, 4), slice(4, 5)
EXTRA_COND_CHANNELS = 5
SCALES: tuple[int, ...] = (1, 2, 4)  # space; 4 = two chained 2x passes, 1 only with time_scale 2
TIME_SCALES: tuple[int, ...] = (1, 2)
PREDICTIONS: tuple[str, ...] = ("x", "v")


def _dit(**kw) -> DiTConfig:
    # latent_channels=3: the "latent" is the RGB residual. No frame conditioning (the whole clip is
    # given through extra_cond) and a 1-token null text of width 16: the upscaler ignores text (it
    # must follow the low-res clip, not the prompt), so the text path is kept minimal.
    base = dict(latent_channels=3, extra_cond_channels=EXTRA_COND_CHANNELS, frame_conditioning=False,
                patch_size=(1, 4, 4), text_dim=16, text_len=1)
    return DiTConfig(**{**base, **kw})


@dataclass
class UpscalerConfig:
    """The 2x spatial (optionally 2x temporal) super-resolution stage; see the module docstring."""

    dit: DiTConfig = field(default_factory=lambda: _dit(hidden_size=128, depth=4, num_heads=2))
    scale: int = 2  # spatial factor of one pass; 4x chains two passes
    # The residual x_hi - bicubic(x_lo) (pixels in [-1, 1]) has std ~0.04; multiplying it by this
    # brings it near the unit scale of the flow's Gaussian noise end.
    residual_scale: float = 10.0
    # Noise augmentation of the condition (CDM, Ho et al. 2021, Sec. 3.2): training adds Gaussian
    # noise of std sigma ~ U(0, cond_noise_max) (in [-1, 1] pixel units) to half of the low-res clips
    # and tells the model sigma, so the stage learns to tolerate stage-1 artefacts.
    cond_noise_max: float = 0.04
    # Memory stays flat: the clip is processed in windows of frames and spatial tiles (output
    # pixels), overlapping and blended linearly; tiles of the same shape run as one batch.
    # The DiT sees the same tile size at inference as in training (UpscaleTrainConfig.crop). Windows
    # of 3 frames start on an input frame, so at 2x fps every new frame sees both of its neighbours.
    window_frames: int = 3
    window_overlap: int = 1
    tile_size: int = 32
    tile_overlap: int = 8
    max_tile_batch: int = 32
    # Iterative back-projection (Irani & Peleg 1991) on the output: x += bicubic(x_lo - box_down(x)),
    # so the result, box-downsampled, reproduces the input (faithfulness); 0 turns it off. Box
    # averaging is the renderer's own 2x relation (the 64 px render equals the box-downsampled 128 px
    # one to ~53 dB). Only frames that exist in the input are back-projected.
    back_projection: int = 3
    # Average the residual over this many flipped copies of the clip (1 = off; up to 8: horizontal,
    # vertical and time flips), each a full pass of the DiT: less variance for more compute.
    ensemble: int = 1
    # What the DiT's output means. "x": the clean (scaled) residual, turned into the flow's velocity
    # v = (x_t - x_hat) / max(t, t_min) outside the model (Li & He 2025, "Back to Basics: Let
    # Denoising Generative Models Denoise"): a pixel patch carries as many noise values as the token
    # is wide (4x4x3 = 48 here; 8x8x3 = 192 in a first version with 128-wide tokens), so predicting
    # v = noise - data means carrying the noise through the network (measured with 8x8 patches: "v"
    # left the residual error 5x above predicting zero), while the clean residual is low-dimensional. One Euler step from t = 1 returns x_hat itself. "v": plain
    # velocity prediction, as in the text-to-video DiT.
    prediction: str = "x"
    t_min: float = 0.05
    steps: int = 1  # default Euler steps (1 = the posterior mean x_hat, the PSNR-optimal estimate)
    shift: float = 1.0  # sampling-schedule shift (training uses the same, without token dependence)

    def __post_init__(self) -> None:
        d = self.dit
        if d.latent_channels != 3 or d.extra_cond_channels != EXTRA_COND_CHANNELS or d.frame_conditioning:
            raise ConfigError(f"dit must have latent_channels=3, extra_cond_channels={EXTRA_COND_CHANNELS}, "
                              f"frame_conditioning=False; got {d.latent_channels}, {d.extra_cond_channels}, "
                              f"{d.frame_conditioning}")
        if d.patch_size[0] != 1:
            raise ConfigError(f"dit.patch_size={d.patch_size}: the time patch must be 1 (windows have any length)")
        if self.scale != 2:
            raise ConfigError(f"scale={self.scale} is not valid; one pass upscales by 2 (chain passes for 4)")
        ph, pw = d.patch_size[1:]
        for name in ("tile_size", "tile_overlap"):
            v = getattr(self, name)
            if v % ph or v % pw or v % self.scale:
                raise ConfigError(f"{name}={v} must be a multiple of the patch {ph}x{pw} and of scale={self.scale}")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ConfigError(f"tile_overlap={self.tile_overlap} must lie in [0, tile_size={self.tile_size})")
        if self.window_frames < 1 or not 0 <= self.window_overlap < self.window_frames:
            raise ConfigError(f"window_frames={self.window_frames} must be >= 1 and window_overlap="
                              f"{self.window_overlap} in [0, window_frames)")
        for name in ("residual_scale", "shift"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be > 0")
        if not 1 <= self.ensemble <= 8:
            raise ConfigError(f"ensemble={self.ensemble} must lie in [1, 8]")
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"prediction={self.prediction!r} is not valid; choose one of {', '.join(PREDICTIONS)}")
        if not 0 < self.t_min < 1:
            raise ConfigError(f"t_min={self.t_min} must lie in (0, 1)")
        if self.cond_noise_max < 0 or self.steps < 1 or self.max_tile_batch < 1 or self.back_projection < 0:
            raise ConfigError("cond_noise_max and back_projection must be >= 0, steps and max_tile_batch >= 1")

    @property
    def pixel_align(self) -> int:
        """Output sizes must be multiples of this (the DiT patch): inputs are padded to it / scale."""
        return max(self.dit.patch_size[1:])

    @staticmethod
    def preset(name: str) -> "UpscalerConfig":
        if name not in UPSCALER_PRESETS:
            raise ConfigError(f"unknown upscaler preset {name!r}; choose one of {', '.join(UPSCALER_PRESETS)}")
        return UPSCALER_PRESETS[name]()


UPSCALER_PRESETS = {
    # Trains in seconds; used by the tests.
    "debug": lambda: UpscalerConfig(dit=_dit(hidden_size=32, depth=1, num_heads=1), steps=2),
    # The shipped stage.
    "default": lambda: UpscalerConfig(),
}


@dataclass
class UpscaleTrainConfig:
    """One training run of the upscaler (`minisora train-upscaler`)."""

    preset: str = "default"
    steps: int = 2500
    minutes: float = 0.0  # wall-clock budget; 0 = no limit (stops at whichever comes first)
    batch_size: int = 16
    lr: float = 8e-4
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # Timestep density of the flow loss (see train.flow_config): t = sigmoid(logit_mean + n). 2.5 puts
    # ~60% of the samples at t > 0.9, where the model learns the posterior mean that its one-step
    # output is; with 1.2 the t ~ 1 prediction stayed at the level of predicting zero for 1000 steps.
    logit_mean: float = 2.5
    loss_space: str = "x"  # "x": |x_hat - x|^2 (train.x_space_loss); "v": flow.training.flow_matching_loss
    ema_decay: float = 0.995
    ema_start: int = 200
    # Pairs: the same MovingShapes scene rendered at the low-res size and at 2x (and at 2x frames
    # and fps for the temporal option). Low-res (H, W) sizes, one drawn per batch.
    sizes: list[tuple[int, int]] = field(default_factory=lambda: [(64, 64), (48, 80), (80, 48)])
    num_frames: int = 17
    fps: float = 8.0
    # Training crops (output pixels, 0 = whole frames): the DiT works tile by tile at inference
    # (tile_size), so it trains on crops of that size, cut after the condition is built on whole frames.
    crop: int = 32
    time_prob: float = 0.25  # share of batches trained for 2x frame rate
    pool_size: int = 240  # scenes rendered once (lazily) and reused with flips, time reversal, windows
    cond_noise_prob: float = 0.2  # share of samples whose condition is noise-augmented
    val_clips: int = 4  # held-out scenes for the PSNR printed at each eval
    seed: int = 0
    precision: Precision = "auto"  # minisora.precision: "auto" (bf16 where native), "bf16" autocast or "fp32"
    threads: int = 0  # torch CPU threads (0 = torch's default)
    log_every: int = 25
    eval_every: int = 250
    save_every: int = 250  # a checkpoint and released weights
    keep_last: int = 2
    run_dir: str = "runs/upscaler"  # checkpoints, metrics.jsonl, loss curve
    release_dir: str = ""  # released weights, written at every save; "" = <run_dir>/release
    resume: str = "auto"  # auto: the latest checkpoint in <run_dir>/checkpoints if any; never; or a folder
    nan_max_consecutive: int = 5  # a non-finite step is skipped; this many in a row stop the run

    def __post_init__(self) -> None:
        if self.preset not in UPSCALER_PRESETS:
            raise ConfigError(f"preset={self.preset!r} is not valid; choose one of {', '.join(UPSCALER_PRESETS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision={self.precision!r} is not valid; choose one of {', '.join(PRECISIONS)}")
        for name in ("steps", "batch_size", "num_frames", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.loss_space not in ("x", "v"):
            raise ConfigError(f"loss_space={self.loss_space!r} is not valid; choose 'x' or 'v'")
        for name in ("time_prob", "cond_noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}={getattr(self, name)} must lie in [0, 1]")
        self.sizes = [tuple(int(v) for v in s) for s in self.sizes]
        if self.crop < 0 or self.crop % 8:
            raise ConfigError(f"crop={self.crop} must be 0 (whole frames) or a positive multiple of 8")
        for h, w in self.sizes:
            if h < 4 or w < 4 or h % 4 or w % 4:
                raise ConfigError(f"sizes entry {(h, w)}: low-res sizes must be positive multiples of 4 "
                                  f"(2x outputs must divide into 8x8 patches)")

    def replace(self, **kw) -> "UpscaleTrainConfig":
        return dataclasses.replace(self, **kw)
