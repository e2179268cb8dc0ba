"""The VAE's training data: a pool of clips rendered (MovingShapes) or read (video folder) once, kept
as uint8, and random space-time crops of it (with horizontal flips) drawn by a checkpointed generator;
plus the evaluation helpers (reconstruction, latent statistics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from minisora.io import pixels_to_unit, unit_to_pixels
from minisora.vae.model import VideoVAE

# --------------------------------------------------------------------------- data


def _to_uint8(video: torch.Tensor) -> torch.Tensor:
    """float (3,T,H,W) in [-1,1] -> uint8 (3,T,H,W)."""
    return unit_to_pixels(video)


def to_float(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (...) -> float32 in [-1, 1]."""
    return pixels_to_unit(clips)


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
    pool = torch.stack([_to_uint8(ds[i]["video"]) for i in tqdm(idx, desc="read clips", disable=not progress, leave=False)])
    print(ds.summary())  # files skipped (unreadable video or caption), padded, damaged: after reading them
    return pool


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


