"""Wan2.1's video VAE behind the interface of minisora's own VAE (vae/model.py): encode, decode,
tiling, temporal_factor, spatial_factor, latent_shape.

Shapes: video (B, 3, T, H, W) in [-1, 1] with T = 1 + 4k <-> latent (B, 16, 1 + k, H/8, W/8),
normalised per channel with the folder's latents_mean / latents_std.

Clips run through the causal layers in chunks (vae_layers.py keeps each layer's look-back), as Wan
does: the encoder takes frame 0 alone, then 4 frames at a time; the decoder takes latent frame 0
alone, then `decode_chunk` latent frames at a time. Memory therefore stays flat as the clip grows;
only the output grows. Spatial tiling (`enable_tiling`) cuts large frames into blended tiles with
minisora's tiler (vae/tiling.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from minisora.vae.model import causal_latent_shape
from minisora.wan.vae_layers import CausalConv3d, MidBlock, Resample, ResidualBlock, RMSNorm, reset_caches

# Wan2.1's per-channel latent statistics (the defaults of a released folder's vae/config.json).
WAN21_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)


@dataclass
class WanVAEConfig:
    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN  # per-channel latent statistics
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD

    @classmethod
    def from_diffusers(cls, cfg: dict) -> "WanVAEConfig":
        from minisora.wan.folder import WanFolderError

        if cfg.get("_class_name") not in (None, "AutoencoderKLWan"):
            raise WanFolderError(f"component 'vae': _class_name is {cfg.get('_class_name')!r}, expected 'AutoencoderKLWan'")
        for key, ok, valid in (("is_residual", not cfg.get("is_residual", False), "false (Wan2.2's VAE is not supported)"),
                               ("patch_size", cfg.get("patch_size") in (None, 1), "null"),
                               ("attn_scales", not cfg.get("attn_scales"), "[]"),
                               ("decoder_base_dim", cfg.get("decoder_base_dim") in (None, cfg.get("base_dim", 96)), "null"),
                               ("in_channels", cfg.get("in_channels", 3) == 3 and cfg.get("out_channels", 3) == 3, "3")):
            if not ok:
                raise WanFolderError(f"component 'vae': config {key}={cfg.get(key)!r} is not supported (valid: {valid})")
        z = int(cfg.get("z_dim", 16))
        c = cls(base_dim=int(cfg.get("base_dim", 96)), z_dim=z, dim_mult=tuple(cfg.get("dim_mult", (1, 2, 4, 4))),
                num_res_blocks=int(cfg.get("num_res_blocks", 2)),
                temporal_downsample=tuple(cfg.get("temperal_downsample", (False, True, True))),
                latents_mean=tuple(cfg.get("latents_mean", WAN21_LATENTS_MEAN)),
                latents_std=tuple(cfg.get("latents_std", WAN21_LATENTS_STD)))
        if len(c.latents_mean) != z or len(c.latents_std) != z:
            raise WanFolderError(f"component 'vae': latents_mean/latents_std have {len(c.latents_mean)}/"
                                 f"{len(c.latents_std)} values, expected z_dim={z}")
        return c


class Encoder(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        dims = [c.base_dim * m for m in (1, *c.dim_mult)]
        self.conv_in = CausalConv3d(3, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(c.num_res_blocks):
                layers.append(ResidualBlock(d_in, d_out))
                d_in = d_out
            if i < len(c.dim_mult) - 1:
                layers.append(Resample(d_out, "downsample3d" if c.temporal_downsample[i] else "downsample2d"))
        self.down_blocks = nn.ModuleList(layers)
        self.mid_block = MidBlock(dims[-1])
        self.norm_out = RMSNorm(dims[-1])
        self.conv_out = CausalConv3d(dims[-1], 2 * c.z_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,3,T,H,W) -> (B,2z,T',H/8,W/8)
        x = self.conv_in(x)
        for layer in self.down_blocks:
            x = layer(x)
        return self.conv_out(F.silu(self.norm_out(self.mid_block(x))))


class UpBlock(nn.Module):
    def __init__(self, d_in: int, d_out: int, num_res_blocks: int, mode: str | None):
        super().__init__()
        self.resnets = nn.ModuleList(ResidualBlock(d_in if j == 0 else d_out, d_out) for j in range(num_res_blocks + 1))
        self.upsamplers = nn.ModuleList([Resample(d_out, mode)]) if mode else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if self.upsamplers is not None else x


class Decoder(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        mult = c.dim_mult
        dims = [c.base_dim * m for m in (mult[-1], *mult[::-1])]
        up_time = c.temporal_downsample[::-1]
        self.conv_in = CausalConv3d(c.z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        blocks = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            d_in = d_in // 2 if i > 0 else d_in  # the previous upsampler halved the channels
            mode = None if i == len(mult) - 1 else ("upsample3d" if up_time[i] else "upsample2d")
            blocks.append(UpBlock(d_in, d_out, c.num_res_blocks, mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1])
        self.conv_out = CausalConv3d(dims[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B,z,T',h,w) -> (B,3,T,8h,8w)
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class WanVAE(nn.Module):
    """Wan2.1 VAE; see the module docstring for shapes. Parameter names follow the checkpoint."""

    def __init__(self, config: WanVAEConfig | None = None):
        super().__init__()
        self.config = c = config or WanVAEConfig()
        self.encoder = Encoder(c)
        self.quant_conv = CausalConv3d(2 * c.z_dim, 2 * c.z_dim, 1)
        self.post_quant_conv = CausalConv3d(c.z_dim, c.z_dim, 1)
        self.decoder = Decoder(c)
        self.register_buffer("latents_mean", torch.tensor(c.latents_mean, dtype=torch.float32), persistent=False)
        self.register_buffer("latents_std", torch.tensor(c.latents_std, dtype=torch.float32), persistent=False)
        self.tiling = None
        # Latent frames per decoder call after the first: memory grows with it, per-call overhead falls.
        # 4 (16 output frames) decodes 5-8x faster than 1 on CPU (fp32 Conv3d over 1-3 frames takes a slow path).
        self.decode_chunk = 4

    # ------------------------------------------------------------------ geometry (VideoVAE's interface)
    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.config.dim_mult) - 1)

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(bool(t) for t in self.config.temporal_downsample)

    @property
    def latent_channels(self) -> int:
        return self.config.z_dim

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        return causal_latent_shape(num_frames, height, width, self.latent_channels, self.temporal_factor,
                                   self.spatial_factor)

    def enable_tiling(self, tile_frames: int = 16, tile_size: int = 256, tile_overlap: int = 64) -> "WanVAE":
        """Spatial tiles of `tile_size` pixels blended over `tile_overlap` (time is always chunked)."""
        from minisora.vae.tiling import TilingConfig

        self.tiling = TilingConfig(tile_frames, tile_size, tile_overlap).validated(self)
        return self

    def disable_tiling(self) -> "WanVAE":
        self.tiling = None
        return self

    # ------------------------------------------------------------------ encode / decode
    def _chunked(self, net: nn.Module, x: torch.Tensor, first: int, rest: int) -> torch.Tensor:
        """Run `net` over time chunks of x (first `first` frames, then `rest` at a time) as one clip."""
        reset_caches(net)
        try:
            outs = [net(x[:, :, a:a + (first if a == 0 else rest)]) for a in
                    [0, *range(first, x.shape[2], rest)]]
        finally:
            reset_caches(net)
        return torch.cat(outs, dim=2)

    def _spatial(self, fn, x: torch.Tensor, factor: float, out_channels: int, out_frames: int) -> torch.Tensor:
        if self.tiling is None:
            return fn(x)
        from minisora.vae.tiling import _tiled

        sf, t = self.spatial_factor, self.tiling
        if factor > 1:  # decoding: tiles are given in latent cells
            return _tiled(fn, x, t.tile_size // sf, t.tile_overlap // sf, sf, t.tile_overlap, out_channels, out_frames)
        return _tiled(fn, x, t.tile_size, t.tile_overlap, 1 / sf, t.tile_overlap // sf, out_channels, out_frames)

    @torch.no_grad()
    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw posterior (mean, logvar), each (B, z, T', H', W') float32, unnormalised."""
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, T, H, W), got shape {tuple(video.shape)}")
        c, tl, _, _ = self.latent_shape(*video.shape[2:])
        x = video.to(self.quant_conv.weight.dtype)

        def run(v: torch.Tensor) -> torch.Tensor:
            return self.quant_conv(self._chunked(self.encoder, v, 1, self.temporal_factor))

        moments = self._spatial(run, x, 1 / self.spatial_factor, 2 * c, tl).float()
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """video (B,3,T,H,W) in [-1,1] -> normalised latent (B,z,T',H',W') float32 (posterior mean unless sample)."""
        mean, logvar = self.encode_moments(video)
        z = mean
        if sample:
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return self.normalize(z)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latents_mean.float().view(1, -1, 1, 1, 1)) / self.latents_std.float().view(1, -1, 1, 1, 1)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latents_std.float().view(1, -1, 1, 1, 1) + self.latents_mean.float().view(1, -1, 1, 1, 1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latent (B,z,T',H',W') -> video (B,3,1+(T'-1)*4,8H',8W') float32 in [-1,1]."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"latent must be (B, {self.latent_channels}, T', H', W'), got shape {tuple(z.shape)}")
        x = self.denormalize(z.float()).to(self.quant_conv.weight.dtype)
        t_out = 1 + (z.shape[2] - 1) * self.temporal_factor

        def run(v: torch.Tensor) -> torch.Tensor:
            return self._chunked(self.decoder, self.post_quant_conv(v), 1, self.decode_chunk)

        return self._spatial(run, x, self.spatial_factor, 3, t_out).float().clamp_(-1, 1)

    # ------------------------------------------------------------------ weights
    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> Path:
        """minisora's weights-folder format (minisora.weights): config.json + model.safetensors."""
        from minisora.config import to_dict
        from minisora.weights import save_weights

        return save_weights(folder, self.state_dict(), {"model": "WanVAE", "config": to_dict(self.config)}, dtype=dtype)

    @classmethod
    def from_minisora(cls, folder: str | Path, dtype: torch.dtype = torch.float32) -> "WanVAE":
        """Load a folder written by `save_pretrained`."""
        from minisora.config import from_dict
        from minisora.wan.folder import WanFolderError
        from minisora.weights import load_weights

        state, meta = load_weights(folder, dtype=torch.float32)
        if meta.get("model") != "WanVAE":
            raise WanFolderError(f"component 'vae': {folder} holds a {meta.get('model')!r} model, not a WanVAE")
        model = cls(from_dict(WanVAEConfig, meta["config"]))
        model.load_state_dict(state, strict=True)
        return model.to(dtype).eval()

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype = torch.float32) -> "WanVAE":
        """Load a diffusers AutoencoderKLWan folder (`folder/vae`): config.json + safetensors."""
        from minisora.wan.folder import WanFolderError, check_shapes, read_tensors, tensor_shapes

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise WanFolderError(f"component 'vae': {folder / 'config.json'} is missing")
        model = cls(WanVAEConfig.from_diffusers(json.loads((folder / "config.json").read_text())))
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        check_shapes("vae", expected, tensor_shapes(folder, "vae"))
        model.load_state_dict(read_tensors(folder, "vae", dtype=torch.float32), strict=True)
        return model.to(dtype).eval()
