"""Building blocks of the causal video VAE.

Causality in time is the one idea every layer here respects: an output frame depends only on the
same and earlier input frames. Two consequences follow:

- an image is a 1-frame video (the first frame never sees anything but itself);
- a long clip can be processed in chunks of frames, each causal convolution carrying the last few
  frames it saw into the next chunk (its "cache"). Chunked ("streaming") processing then equals
  whole-clip processing exactly, while memory stays flat in the number of frames.

Normalisation is per position over channels (RMSNorm, as in Wan's VAE): GroupNorm would mix
statistics across frames (breaking causality) and across tiles (breaking tiled decoding).

Memory format: plain contiguous (B,C,T,H,W). Measured on the 2-core CPU in bf16 with the default preset's
shapes (batch 4, 9x32x32 crops): channels_last_3d makes the convolutions alone 5-7% faster forward and
backward, but a whole training step 15% slower (104 against 89 ms), because the norms, folds and
depth-to-space reshapes around them then copy between layouts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv3d(nn.Module):
    """Conv3d padded causally in time (replicating the first frame) and symmetrically in space.

    With time kernel kt and stride st, output frame j sees input frames st*j - (kt-1) .. st*j, so for
    T = 1 + st*k input frames there are 1 + k outputs and output 0 sees only frame 0.
    In streaming mode (`self.streaming = True`) the left context comes from the previous chunk.
    """

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int, int] = 3,
                 stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        kt, kh, kw = (kernel,) * 3 if isinstance(kernel, int) else kernel
        self.kt, self.st = kt, stride[0]
        if self.st > kt:
            raise ValueError(f"time stride {self.st} larger than time kernel {kt} would skip frames")
        self.conv = nn.Conv3d(cin, cout, (kt, kh, kw), stride=stride, padding=(0, kh // 2, kw // 2))
        self.streaming = False
        self.cache: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,Cin,T,H,W) -> (B,Cout,T',H',W')
        if self.kt > 1 or self.st > 1:
            if self.streaming and self.cache is not None:
                x = torch.cat([self.cache.to(x.dtype), x], dim=2)
            else:
                x = torch.cat([x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1), x], dim=2)
            if self.streaming:
                # The next window starts right after the windows consumed by this chunk.
                n_out = (x.shape[2] - self.kt) // self.st + 1
                self.cache = x[:, :, n_out * self.st:].detach().clone()
        return self.conv(x)


class ChannelRMSNorm(nn.Module):
    """RMS normalisation over channels at every (t, h, w) position, with a learned gain."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,C,T,H,W)
        # Statistics in fp32 for stability; the result goes back to the input dtype. (Measured on
        # this CPU: faster than F.rms_norm over a channels-last (B,T,H,W,C) view, fwd + bwd.)
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(dim=1, keepdim=True) + self.eps)
        return (y * self.weight.view(1, -1, 1, 1, 1)).to(x.dtype)


class ResBlock(nn.Module):
    """norm -> SiLU -> conv -> norm -> SiLU -> conv, plus a (1x1x1 projected) skip."""

    def __init__(self, cin: int, cout: int, eps: float = 1e-6, time_kernel: int = 3) -> None:
        super().__init__()
        k = (time_kernel, 3, 3)
        self.norm1 = ChannelRMSNorm(cin, eps)
        self.conv1 = CausalConv3d(cin, cout, k)
        self.norm2 = ChannelRMSNorm(cout, eps)
        self.conv2 = CausalConv3d(cout, cout, k)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()
        # Start as (almost) the identity: the residual branch is learned from a small init, which
        # makes deep stacks train quickly without normalisation tricks elsewhere.
        nn.init.zeros_(self.conv2.conv.weight)
        nn.init.zeros_(self.conv2.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,Cin,T,H,W) -> (B,Cout,T,H,W)
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Stride-2 causal conv: halves H and W, and T (as 1 + 2k -> 1 + k) when `temporal`.

    With `shortcut`, a parameter-free path is added (DC-AE's "residual autoencoding", Chen et al.
    2024): space(-time)-to-channel folding, then averaging groups of channels down to `cout`. The
    block then only has to learn a residual over a lossless-ish rearrangement, which makes high
    compression train much faster. In time the fold pairs frames (0, 0), (1, 2), (3, 4), ... so it
    stays causal and frame 0 is folded with itself.
    """

    def __init__(self, cin: int, cout: int, temporal: bool, shortcut: bool = True) -> None:
        super().__init__()
        self.st = 2 if temporal else 1
        self.cin, self.cout = cin, cout
        self.conv = CausalConv3d(cin, cout, 3, stride=(self.st, 2, 2))
        self.shortcut = shortcut and (cin * self.st * 4) % cout == 0
        self.streaming = False
        self.first_done = False

    def _fold(self, x: torch.Tensor) -> torch.Tensor:  # (B,C,T,H,W) -> (B,Cout,T',H/2,W/2)
        if self.st > 1:
            if not (self.streaming and self.first_done):
                x = torch.cat([x[:, :, :1], x], dim=2)  # frame 0 pairs with itself: (B,C,T+1,H,W)
            if self.streaming:
                self.first_done = True
        B, C, T, H, W = x.shape
        x = x.view(B, C, T // self.st, self.st, H // 2, 2, W // 2, 2)  # (B,C,T',st,H',sh,W',sw)
        x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)  # (B,C,st,sh,sw,T',H',W')
        x = x.reshape(B, self.cout, C * self.st * 4 // self.cout, T // self.st, H // 2, W // 2)  # (B,Cout,g,T',H',W')
        return x.mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,Cin,T,H,W) -> (B,Cout,T',H/2,W/2)
        h = self.conv(x)
        return h + self._fold(x) if self.shortcut else h


class Upsample(nn.Module):
    """Causal conv to cout * (st * 2 * 2) channels, then depth-to-space (sub-pixel convolution).

    In time, latent frame 0 stands for input frame 0 alone and latent frame j > 0 for frames
    2j-1, 2j; so of the 2 frames produced from latent frame 0 the first (which would be "frame -1")
    is dropped: 1 + k frames -> 1 + 2k frames.
    """

    def __init__(self, cin: int, cout: int, temporal: bool, shortcut: bool = True,
                 kernel: tuple[int, int, int] = (3, 3, 3)) -> None:
        super().__init__()
        self.st = 2 if temporal else 1
        self.cout = cout
        self.conv = CausalConv3d(cin, cout * self.st * 4, kernel)
        # Parameter-free shortcut (DC-AE): repeat channels, then the same depth-to-space; the mirror
        # of Downsample's fold-and-average.
        n = cout * self.st * 4
        self.repeats = n // cin if shortcut and n % cin == 0 else 0
        self.streaming = False
        self.first_done = False
        self._icnr_init()

    def _icnr_init(self) -> None:
        # ICNR (Aitken et al. 2017): all sub-pixel outputs start identical, so the freshly initialised
        # upsampler equals a nearest-neighbour upsampler followed by a conv: no checkerboard at start.
        w = self.conv.conv.weight  # (cout*s, Cin, kt, kh, kw), channel index = c * s + sub
        base = torch.empty(self.cout, *w.shape[1:])
        nn.init.kaiming_uniform_(base, a=5 ** 0.5)
        with torch.no_grad():
            w.copy_(base.repeat_interleave(self.st * 4, dim=0))
            self.conv.conv.bias.copy_(self.conv.conv.bias[:: self.st * 4].repeat_interleave(self.st * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,Cin,T,H,W) -> (B,Cout,T',2H,2W)
        h = self.conv(x)  # (B,Cout*st*4,T,H,W)
        if self.repeats:
            h = h + x.repeat_interleave(self.repeats, dim=1)
        B, _, T, H, W = h.shape
        h = h.view(B, self.cout, self.st, 2, 2, T, H, W)  # (B,C,st,sh,sw,T,H,W)
        h = h.permute(0, 1, 5, 2, 6, 3, 7, 4)  # (B,C,T,st,H,sh,W,sw)
        h = h.reshape(B, self.cout, T * self.st, H * 2, W * 2)  # (B,C,T*st,2H,2W)
        if self.st > 1 and not (self.streaming and self.first_done):
            h = h[:, :, self.st - 1:]  # drop the frames "before" frame 0
        if self.streaming:
            self.first_done = True
        return h


def channel_average(x: torch.Tensor, cout: int) -> torch.Tensor:
    """(B,C,...) -> (B,cout,...) by averaging groups of C // cout consecutive channels."""
    B, C = x.shape[:2]
    return x.reshape(B, cout, C // cout, *x.shape[2:]).mean(dim=2)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """Space-to-depth: (B,C,T,H,W) -> (B,C*p*p,T,H/p,W/p)."""
    if p == 1:
        return x
    B, C, T, H, W = x.shape
    x = x.view(B, C, T, H // p, p, W // p, p)  # (B,C,T,h,p,w,q)
    x = x.permute(0, 1, 4, 6, 2, 3, 5)  # (B,C,p,q,T,h,w)
    return x.reshape(B, C * p * p, T, H // p, W // p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """Depth-to-space: (B,C*p*p,T,H,W) -> (B,C,T,H*p,W*p)."""
    if p == 1:
        return x
    B, Cpp, T, H, W = x.shape
    x = x.view(B, Cpp // (p * p), p, p, T, H, W)  # (B,C,p,q,T,h,w)
    x = x.permute(0, 1, 4, 5, 2, 6, 3)  # (B,C,T,h,p,w,q)
    return x.reshape(B, Cpp // (p * p), T, H * p, W * p)
