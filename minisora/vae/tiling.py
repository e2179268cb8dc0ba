"""Memory-flat encoding and decoding: chunks of frames in time, overlapping blended tiles in space.

Time. Every layer of the VAE is causal, so a clip can be run through the encoder (decoder) a chunk
of frames at a time, each causal convolution keeping the last frames it saw as left context for
the next chunk (`streaming`). The result equals whole-clip processing exactly; memory holds one
chunk's activations whatever the clip length. Chunks: the first holds 1 frame (+ a multiple of the
temporal factor), the later ones a multiple of the temporal factor, matching the causal layout
T = 1 + k * tf.

Space. Convolutions see a finite neighbourhood, so a large frame is cut into overlapping tiles;
each tile is encoded (decoded) on its own and the overlaps are blended with linear ramps, which
hides the seams (the approach of diffusers' tiled VAEs). This is approximate near tile borders;
the overlap trades speed for fidelity.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from minisora.vae.layers import CausalConv3d, Downsample, Upsample


@dataclass(frozen=True)
class TilingConfig:
    tile_frames: int = 16  # frames per chunk after the first (a multiple of temporal_factor)
    tile_size: int = 128  # spatial tile side in pixels (a multiple of spatial_factor)
    tile_overlap: int = 32  # pixels shared by neighbouring tiles (a multiple of spatial_factor)

    def validated(self, model) -> "TilingConfig":
        sf, tf = model.spatial_factor, model.temporal_factor
        if self.tile_frames < tf or self.tile_frames % tf:
            raise ValueError(f"tile_frames={self.tile_frames} must be a positive multiple of temporal_factor={tf}")
        if self.tile_size < 2 * sf or self.tile_size % sf:
            raise ValueError(f"tile_size={self.tile_size} must be a multiple of spatial_factor={sf} and >= {2 * sf}")
        if self.tile_overlap % sf or not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError(f"tile_overlap={self.tile_overlap} must be a multiple of spatial_factor={sf} "
                             f"in [0, tile_size={self.tile_size})")
        return self


@contextlib.contextmanager
def streaming(module: nn.Module) -> Iterator[None]:
    """Within this context the causal layers of `module` carry their left context across calls."""
    layers = [m for m in module.modules() if isinstance(m, (CausalConv3d, Downsample, Upsample))]
    for m in layers:
        m.streaming, m.cache, m.first_done = True, None, False
    try:
        yield
    finally:
        for m in layers:
            m.streaming, m.cache, m.first_done = False, None, False


def _chunks(n: int, first: int, rest: int) -> list[tuple[int, int]]:
    """[start, end) of a first chunk of `first` items, then chunks of `rest` items."""
    out, s = [(0, min(first, n))], min(first, n)
    while s < n:
        out.append((s, min(s + rest, n)))
        s += rest
    return out


def _stream(net: nn.Module, x: torch.Tensor, first: int, rest: int, out_frames: int) -> torch.Tensor:
    """Run `net` over time chunks of x (B,C,T,H,W) with causal caches; the outputs in order along T.

    Each chunk's output goes straight into one float32 result of `out_frames` frames, so memory holds
    the result and one chunk, not a list of chunks plus their concatenation."""
    if x.shape[2] <= first:
        return net(x)
    out, t = None, 0
    with streaming(net):
        for a, b in _chunks(x.shape[2], first, rest):
            y = net(x[:, :, a:b])
            if out is None:
                out = torch.empty(*y.shape[:2], out_frames, *y.shape[3:], dtype=torch.float32, device=y.device)
            out[:, :, t:t + y.shape[2]] = y
            t += y.shape[2]
    if t != out_frames:
        raise RuntimeError(f"streamed {t} output frames, expected {out_frames}")
    return out


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(n: int, overlap: int, left: bool, right: bool) -> torch.Tensor:
    """1-D blending weight of a tile: linear ramps over `overlap` at edges shared with neighbours."""
    w = torch.ones(n)
    if overlap > 0:
        r = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if left:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if right:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def _tiled(fn, x: torch.Tensor, tile_in: int, overlap_in: int, factor: float, overlap_out: int,
           out_channels: int, out_frames: int) -> torch.Tensor:
    """Apply `fn` to overlapping spatial tiles of x (B,C,T,H,W) and blend the outputs.

    `factor` = output pixels per input pixel; output tiles overlap by `overlap_out` pixels."""
    B, _, _, H, W = x.shape
    stride = tile_in - overlap_in
    hs, ws = _starts(H, tile_in, stride), _starts(W, tile_in, stride)
    if len(hs) == 1 and len(ws) == 1:
        return fn(x)
    Ho, Wo = int(H * factor), int(W * factor)
    out = torch.zeros(B, out_channels, out_frames, Ho, Wo, device=x.device)
    weight = torch.zeros(1, 1, 1, Ho, Wo, device=x.device)
    for i, h0 in enumerate(hs):
        for j, w0 in enumerate(ws):
            tile = fn(x[:, :, :, h0:h0 + tile_in, w0:w0 + tile_in]).float()  # (B,Co,To,th,tw)
            th, tw = tile.shape[-2:]
            wy = _ramp(th, overlap_out, i > 0, i < len(hs) - 1)
            wx = _ramp(tw, overlap_out, j > 0, j < len(ws) - 1)
            wt = (wy[:, None] * wx[None, :]).view(1, 1, 1, th, tw).to(x.device)
            oh, ow = int(h0 * factor), int(w0 * factor)
            out[:, :, :, oh:oh + th, ow:ow + tw] += tile * wt
            weight[:, :, :, oh:oh + th, ow:ow + tw] += wt
    return out / weight


def tiled_encode(encoder: nn.Module, video: torch.Tensor, cfg: TilingConfig, sf: int, tf: int) -> torch.Tensor:
    """video (B,3,T,H,W) -> moments (B,2C,T',H/sf,W/sf), chunked in time and tiled in space."""
    t_lat = 1 + (video.shape[2] - 1) // tf
    c_out = encoder.conv_out.conv.out_channels

    def run(x: torch.Tensor) -> torch.Tensor:
        return _stream(encoder, x, 1 + cfg.tile_frames, cfg.tile_frames, t_lat)

    return _tiled(run, video, cfg.tile_size, cfg.tile_overlap, 1 / sf, cfg.tile_overlap // sf, c_out, t_lat)


def tiled_decode(decoder: nn.Module, z: torch.Tensor, cfg: TilingConfig, sf: int, tf: int) -> torch.Tensor:
    """latent (B,C,T',h,w) -> video (B,3,1+(T'-1)tf,h*sf,w*sf), chunked in time and tiled in space."""
    per_chunk = cfg.tile_frames // tf
    t_out = 1 + (z.shape[2] - 1) * tf

    def run(x: torch.Tensor) -> torch.Tensor:
        return _stream(decoder, x, 1 + per_chunk, per_chunk, t_out)

    return _tiled(run, z, cfg.tile_size // sf, cfg.tile_overlap // sf, sf, cfg.tile_overlap, 3, t_out)
