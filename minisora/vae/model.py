"""The causal 3D convolutional VAE that maps video to a spacetime latent and back.

    video (B, 3, T, H, W) in [-1, 1], T = 1 + k * tf
      -> patchify p x p                                  (B, 3 p^2, T, H/p, W/p)
      -> stages of residual blocks, stride-2 causal downsamplings (time halves on the last log2 tf)
      -> mean, logvar                                    (B, C, 1 + k, H/sf, W/sf)
      -> z = (mean [+ std * eps] - shift) / scale        the normalised latent the DiT sees
    decode mirrors it with sub-pixel (depth-to-space) upsampling.

Every layer is causal in time (see `layers.py`), so the first frame is encoded on its own and an
image is a 1-frame video. `shift`/`scale` are per-channel latent statistics measured on training
data after training (`set_latent_stats`) and stored with the weights, so `encode` returns latents of
roughly zero mean and unit variance per channel.

Memory: `enable_tiling()` makes `encode`/`decode` process clips in chunks of frames (exact, thanks
to causal caches) and in overlapping spatial tiles blended linearly (see `tiling.py`), so peak memory
stays flat as frames and resolution grow.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
from torch import nn

from minisora.config import from_dict, to_dict
from minisora.precision import Precision, autocast as precision_autocast, check as check_precision
from minisora.vae.config import VAEConfig
from minisora.vae.layers import (CausalConv3d, ChannelRMSNorm, Downsample, ResBlock, Upsample, channel_average,
                                 patchify, unpatchify)
from minisora.weights import load_weights, save_weights


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        p, ch = cfg.patch_size, cfg.encoder_channels
        self.p = p
        self.conv_in = CausalConv3d(3 * p * p, ch[0], 3)
        temporal = cfg.temporal_steps()
        layers: list[nn.Module] = []
        c = ch[0]
        for i, c_out in enumerate(ch):
            if i > 0:
                layers.append(Downsample(c, c_out, temporal[i - 1], cfg.shortcuts))
                c = c_out
            tk = cfg.full_res_time_kernel if i == 0 else 3
            layers += [ResBlock(c, c_out, cfg.norm_eps, tk) for _ in range(cfg.encoder_blocks)]
        layers += [ResBlock(c, c, cfg.norm_eps) for _ in range(cfg.mid_blocks)]
        self.layers = nn.Sequential(*layers)
        self.norm_out = ChannelRMSNorm(c, cfg.norm_eps)
        self.conv_out = CausalConv3d(c, 2 * cfg.latent_channels, 3)
        self.latent_channels = cfg.latent_channels
        self.shortcut = cfg.shortcuts and c % cfg.latent_channels == 0
        # Start with a small posterior std (exp(-2) ~ 0.14): with logvar ~ 0 the sampling noise would
        # swamp the still-small latent means and stall early training.
        with torch.no_grad():
            self.conv_out.conv.bias[cfg.latent_channels:].fill_(-4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,3,T,H,W) -> (B,2C,T',H/sf,W/sf)
        h = self.conv_in(patchify(x, self.p))  # (B,ch0,T,H/p,W/p)
        h = self.layers(h)
        moments = self.conv_out(nn.functional.silu(self.norm_out(h)))  # (B,2C,T',h,w)
        if self.shortcut:  # the mean gets the channel-averaged features (DC-AE shortcut)
            mean, logvar = moments.chunk(2, dim=1)
            moments = torch.cat([mean + channel_average(h, self.latent_channels), logvar], dim=1)
        return moments


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        p, ch = cfg.patch_size, cfg.decoder_channels
        self.p = p
        temporal = cfg.temporal_steps()[::-1]  # decoder order: from the latent upwards
        c = ch[-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, c, 3)
        self.repeats = c // cfg.latent_channels if cfg.shortcuts and c % cfg.latent_channels == 0 else 0
        layers: list[nn.Module] = [ResBlock(c, c, cfg.norm_eps) for _ in range(cfg.mid_blocks)]
        for i, c_out in enumerate(reversed(ch)):
            if i > 0:
                layers.append(Upsample(c, c_out, temporal[i - 1], cfg.shortcuts, cfg.upsample_kernel))
                c = c_out
            tk = cfg.full_res_time_kernel if i == len(ch) - 1 else 3
            layers += [ResBlock(c, c_out, cfg.norm_eps, tk) for _ in range(cfg.decoder_blocks)]
        self.layers = nn.Sequential(*layers)
        self.norm_out = ChannelRMSNorm(c, cfg.norm_eps)
        self.conv_out = CausalConv3d(c, 3 * p * p, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B,C,T',h,w) -> (B,3,T,h*sf,w*sf)
        h = self.conv_in(z)  # (B,ch,T',h,w)
        if self.repeats:
            h = h + z.repeat_interleave(self.repeats, dim=1)
        h = self.layers(h)
        h = self.conv_out(nn.functional.silu(self.norm_out(h)))  # (B,3p^2,T,H/p,W/p)
        return unpatchify(h, self.p)


def causal_latent_shape(num_frames: int, height: int, width: int, channels: int, temporal_factor: int,
                        spatial_factor: int) -> tuple[int, int, int, int]:
    """(C, T', H', W') of a causal video VAE's latent (the first frame alone, then temporal_factor frames
    per latent frame); a ValueError naming the nearest valid sizes for an invalid clip. Every video VAE
    here (minisora's and Wan's) shares this rule."""
    sf, tf = spatial_factor, temporal_factor
    if num_frames < 1 or (num_frames - 1) % tf:
        lo = (max(num_frames - 1, 0) // tf) * tf + 1
        raise ValueError(f"num_frames={num_frames} is not valid for temporal_factor={tf}: use 1 + k*{tf} "
                         f"frames (e.g. {lo} or {lo + tf})")
    for name, v in (("height", height), ("width", width)):
        if v < sf or v % sf:
            raise ValueError(f"{name}={v} is not valid: it must be a positive multiple of "
                             f"spatial_factor={sf} (e.g. {max(sf, v // sf * sf)})")
    return channels, 1 + (num_frames - 1) // tf, height // sf, width // sf


class VideoVAE(nn.Module):
    """Causal video VAE. See the module docstring for shapes; `config` is a `VAEConfig`."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        c = self.config.latent_channels
        # Per-channel latent statistics (saved with the weights): z_normalised = (z - shift) / scale.
        self.register_buffer("latent_shift", torch.zeros(c))
        self.register_buffer("latent_scale", torch.ones(c))
        self.precision: Precision = "auto"  # minisora.precision: bf16 only where it is native
        self.tiling = None  # a tiling.TilingConfig once enable_tiling() is called
        # (encoder, decoder) wrapped by torch.compile for the training pass only (compile_training_pass);
        # a plain tuple, so the wrappers are not submodules and the state dict keeps its names.
        self._compiled: tuple[nn.Module, nn.Module] | None = None

    # ----------------------------------------------------------------- geometry
    @property
    def spatial_factor(self) -> int:
        return self.config.spatial_factor

    @property
    def temporal_factor(self) -> int:
        return self.config.temporal_factor

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(C, T', H', W') of the latent of a (3, num_frames, height, width) clip; raises if invalid."""
        return causal_latent_shape(num_frames, height, width, self.latent_channels, self.temporal_factor,
                                   self.spatial_factor)

    def compression_ratio(self, num_frames: int, height: int, width: int) -> float:
        c, t, h, w = self.latent_shape(num_frames, height, width)
        return 3 * num_frames * height * width / (c * t * h * w)

    def _check_video(self, video: torch.Tensor) -> None:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, T, H, W), got shape {tuple(video.shape)}")
        self.latent_shape(*video.shape[2:])

    def _check_latent(self, z: torch.Tensor) -> None:
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"latent must be (B, {self.latent_channels}, T', H', W'), got shape {tuple(z.shape)}")

    # ----------------------------------------------------------------- precision and tiling
    def set_precision(self, precision: Precision) -> "VideoVAE":
        """'auto' (default: bf16 where the device multiplies bf16 natively, see minisora.precision),
        'bf16' (autocast; ~10x faster 3D convs on CPUs with AVX-512 bf16) or 'fp32'."""
        self.precision = check_precision(precision)
        return self

    def autocast(self) -> contextlib.AbstractContextManager:
        return precision_autocast(self.precision, next(self.parameters()).device)

    def enable_tiling(self, tile_frames: int = 16, tile_size: int = 128, tile_overlap: int = 32) -> "VideoVAE":
        """Encode/decode in chunks of `tile_frames` frames (exact) and overlapping `tile_size`-pixel
        spatial tiles with `tile_overlap` pixels blended linearly, keeping peak memory flat."""
        from minisora.vae.tiling import TilingConfig

        self.tiling = TilingConfig(tile_frames, tile_size, tile_overlap).validated(self)
        return self

    def disable_tiling(self) -> "VideoVAE":
        self.tiling = None
        return self

    # ----------------------------------------------------------------- encode / decode
    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw posterior (mean, logvar), each (B, C, T', H', W') float32, unnormalised."""
        self._check_video(video)
        if self.tiling is not None:
            from minisora.vae.tiling import tiled_encode

            moments = tiled_encode(self.encoder, video, self.tiling, self.spatial_factor, self.temporal_factor)
        else:
            moments = self.encoder(video)
        return self._posterior(moments)

    def _posterior(self, moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = moments.float().chunk(2, dim=1)
        return mean, logvar.clamp(*self.config.logvar_clamp)

    def encode(self, video: torch.Tensor, sample: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """video (B,3,T,H,W) in [-1,1] -> normalised latent (B,C,T',H',W') float32.

        `sample=True` draws from the posterior (with `generator`), otherwise returns its mean."""
        with self.autocast():
            mean, logvar = self.encode_moments(video)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        return self.normalize(z)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_shift.view(1, -1, 1, 1, 1)) / self.latent_scale.view(1, -1, 1, 1, 1)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_scale.view(1, -1, 1, 1, 1) + self.latent_shift.view(1, -1, 1, 1, 1)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised latent -> video (B,3,T,H,W) float32, not clamped."""
        self._check_latent(z)
        if self.tiling is not None:
            from minisora.vae.tiling import tiled_decode

            out = tiled_decode(self.decoder, z, self.tiling, self.spatial_factor, self.temporal_factor)
        else:
            out = self.decoder(z)
        return out.float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latent (B,C,T',H',W') -> video (B,3,1+(T'-1)*tf,H'*sf,W'*sf) in [-1,1]."""
        with self.autocast():
            return self.decode_raw(self.denormalize(z.float())).clamp_(-1, 1)  # in place: a fresh tensor

    def compile_training_pass(self) -> "VideoVAE":
        """Run `forward` (the training pass) through torch.compile'd encoder and decoder.

        Measured on the 2-core CPU (default preset, 4 x 9 x 32 x 32 crops, bf16): a training step
        falls from ~88 to ~68 ms, as inductor fuses the norms, activations and autocast casts around
        the convolutions; compiling costs ~75 s per input shape from a cold cache. `encode`/`decode` (evaluation, latent statistics,
        inference) stay eager, so their other shapes never trigger a recompile."""
        self._compiled = (torch.compile(self.encoder, dynamic=False), torch.compile(self.decoder, dynamic=False))
        return self

    def forward(self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, mean, logvar); no autocast or clamping (the caller decides).

        `noise` (the latent's shape) is the posterior sample's standard normal draw, when the caller owns
        it (data-parallel training draws it for the global batch); otherwise it is drawn with `generator`."""
        compiled = self._compiled if self.tiling is None else None
        if compiled is not None:
            self._check_video(video)
            mean, logvar = self._posterior(compiled[0](video))
        else:
            mean, logvar = self.encode_moments(video)
        z = mean
        if sample:
            eps = (noise.to(mean.dtype) if noise is not None else
                   torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype))
            z = mean + torch.exp(0.5 * logvar) * eps
        return (compiled[1](z).float() if compiled is not None else self.decode_raw(z)), mean, logvar

    # ----------------------------------------------------------------- latent statistics
    @torch.no_grad()
    def set_latent_stats(self, shift: torch.Tensor, scale: torch.Tensor) -> None:
        if shift.shape != (self.latent_channels,) or scale.shape != (self.latent_channels,):
            raise ValueError(f"shift and scale must have shape ({self.latent_channels},), got "
                             f"{tuple(shift.shape)} and {tuple(scale.shape)}")
        if not torch.all(scale > 0):
            raise ValueError(f"latent scale must be positive, got {scale.tolist()}")
        self.latent_shift.copy_(shift)
        self.latent_scale.copy_(scale)

    # ----------------------------------------------------------------- weights
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = torch.bfloat16) -> Path:
        """Write `config.json` + `model.safetensors` (weights cast to `dtype`; latent stats kept fp32)."""
        state = self.state_dict()
        out = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() and not k.startswith("latent_") else v)
               for k, v in state.items()}
        return save_weights(folder, out, to_dict(self.config))

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> "VideoVAE":
        state, config = load_weights(folder, dtype=torch.float32)
        model = cls(from_dict(VAEConfig, config))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{folder}: weights do not match the config: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        return model.to(device).eval()


def count_flops_per_frame(model: VideoVAE, height: int = 64, width: int = 64) -> float:
    """Approximate multiply-add FLOPs (x2) of encode + decode per frame, from the conv shapes."""
    total = 0.0
    hooks = []

    def hook(mod: nn.Conv3d, inp, out) -> None:
        nonlocal total
        k = math.prod(mod.kernel_size)
        total += 2.0 * out.numel() * mod.in_channels * k / mod.groups

    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            hooks.append(m.register_forward_hook(hook))
    t = 1 + 4 * model.temporal_factor
    with torch.no_grad(), model.autocast():
        model.decode_raw(model.encode_moments(torch.zeros(1, 3, t, height, width))[0])
    for h in hooks:
        h.remove()
    return total / t
