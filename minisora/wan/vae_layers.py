"""Layers of Wan2.1's causal video VAE, each able to run a clip chunk by chunk with a feature cache.

Every layer that looks back in time keeps what it needs from the previous chunk in `self.cache`
(the last input frames of a causal convolution; the unpaired frame of a stride-2 time convolution;
whether the first frame was seen, for the time up/down-samplers that treat frame 0 alone). Running
a clip in chunks therefore equals running it whole, and memory holds one chunk's activations.
`reset_caches` starts a new clip. Module and parameter names follow the released checkpoint's keys
(diffusers' AutoencoderKLWan), so its state dict loads without a table.

Wan's conventions, which differ from minisora's own VAE (vae/layers.py): time padding is with zeros,
not a copy of frame 0; norms are RMS norms over channels scaled by sqrt(C) * gamma; downsampling is a
stride-2 2D conv per frame plus a stride-2 (3,1,1) time conv; upsampling is nearest x2 + 2D conv,
after a (3,1,1) time conv whose 2C outputs become two frames (depth-to-time).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reset_caches(module: nn.Module) -> None:
    """Forget every layer's look-back: the next call starts a new clip."""
    for m in module.modules():
        if hasattr(m, "cache"):
            m.cache = None


def per_frame(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D map to every frame: (B, C, T, H, W) -> (B, C', T, H', W')."""
    B, C, T, H, W = x.shape
    y = fn(x.transpose(1, 2).reshape(B * T, C, H, W))  # B*T, C', H', W'
    return y.reshape(B, T, *y.shape[1:]).transpose(1, 2)  # B, C', T, H', W'


class CausalConv3d(nn.Conv3d):
    """A 3D conv padded spatially on both sides and in time only on the left, with zeros (or, after
    the first chunk, with the cached last kt-1 input frames)."""

    def __init__(self, c_in: int, c_out: int, kernel, padding=0):
        super().__init__(c_in, c_out, kernel, padding=0)
        self.pad_t, self.pad_h, self.pad_w = (padding,) * 3 if isinstance(padding, int) else padding
        self.cache = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        look_back = 2 * self.pad_t  # frames of left context the kernel needs
        pad_left = look_back
        if look_back:
            if self.cache is not None:
                pad_left = look_back - self.cache.shape[2]
                x = torch.cat([self.cache, x], dim=2)  # B, C, cached + t, H, W
            self.cache = x[:, :, -look_back:].clone()  # a copy: a view would keep all of x alive
        x = F.pad(x, (self.pad_w, self.pad_w, self.pad_h, self.pad_h, pad_left, 0))
        return super().forward(x)


class RMSNorm(nn.Module):
    """x / ||x||_channels * sqrt(C) * gamma: an RMS norm over channels at every position."""

    def __init__(self, dim: int, images: bool = False):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim, *((1, 1) if images else (1, 1, 1))))
        self.scale = dim ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * (self.scale * self.gamma)


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1 = RMSNorm(c_in)
        self.conv1 = CausalConv3d(c_in, c_out, 3, padding=1)
        self.norm2 = RMSNorm(c_out)
        self.conv2 = CausalConv3d(c_out, c_out, 3, padding=1)
        self.conv_shortcut = CausalConv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return self.conv2(F.silu(self.norm2(h))) + self.conv_shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame (the mid block's; no mixing in time)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def _frame(self, x: torch.Tensor) -> torch.Tensor:  # (B*T, C, H, W)
        N, C, H, W = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(N, 3 * C, H * W).transpose(1, 2)  # N, HW, 3C
        q, k, v = qkv.unsqueeze(1).chunk(3, dim=-1)  # N, 1, HW, C each
        out = F.scaled_dot_product_attention(q, k, v)  # N, 1, HW, C
        return self.proj(out.squeeze(1).transpose(1, 2).reshape(N, C, H, W))  # N, C, H, W

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + per_frame(self._frame, x)


class MidBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(dim, dim), ResidualBlock(dim, dim)])
        self.attentions = nn.ModuleList([AttentionBlock(dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Resample(nn.Module):
    """"downsample2d"/"downsample3d" (x1/2 in space; 3d also x1/2 in time) or "upsample2d"/"upsample3d"
    (x2 in space, channels halved; 3d also x2 in time). Frame 0 is never resampled in time: the causal
    layout is T = 1 + k * 2 at each stage."""

    def __init__(self, dim: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode.startswith("up"):
            self.resample = nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                                          nn.Conv2d(dim, dim // 2, 3, padding=1))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = nn.Conv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))
        self.cache = None  # upsample3d: True once frame 0 is seen; downsample3d: frames not yet consumed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "upsample3d":
            x = self._time_up(x)
        x = per_frame(self.resample, x)
        if self.mode == "downsample3d":
            x = self._time_down(x)
        return x

    def _time_up(self, x: torch.Tensor) -> torch.Tensor:
        """Frame 0 passes as it is; every later frame becomes two (the time conv's two channel halves)."""
        first = None
        if self.cache is None:
            first, x = x[:, :, :1], x[:, :, 1:]
            self.cache = True
        if x.shape[2]:
            B, C, T, H, W = x.shape
            y = self.time_conv(x).reshape(B, 2, C, T, H, W)  # the two output frames of each input frame
            x = y.permute(0, 2, 3, 1, 4, 5).reshape(B, C, 2 * T, H, W)  # B, C, 2T, H, W (interleaved)
        return x if first is None else torch.cat([first, x], dim=2)

    def _time_down(self, x: torch.Tensor) -> torch.Tensor:
        """Frame 0 passes as it is; then windows (0,1,2), (2,3,4), ... of the whole clip, stride 2."""
        first = None
        if self.cache is None:
            first, seq = x[:, :, :1], x
        else:
            seq = torch.cat([self.cache, x], dim=2)
        n = (seq.shape[2] - 1) // 2 if seq.shape[2] >= 3 else 0  # complete windows
        self.cache = seq[:, :, 2 * n:].clone()  # the frame(s) the next window starts from
        out = self.time_conv(seq[:, :, :2 * n + 1]) if n else seq[:, :, :0]
        return out if first is None else torch.cat([first, out], dim=2)
