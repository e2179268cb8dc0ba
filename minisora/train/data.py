"""Training data: pixel datasets (MovingShapes, video folders), the latent cache, and batching.

Two kinds of source feed the same training step:

- pixel sources (`synthetic`, `folder`) yield videos + captions; `PixelEncoder` runs the frozen VAE
  and text encoder on each batch during training;
- the latent cache (`cache`), written once by `cache_latents` (`minisora cache-latents`), yields
  latents + text embeddings directly, so DiT training never re-runs the VAE or the text encoder.

Cache layout (one folder):
    shard_00000.safetensors ...  per item i: `latents.{i}` (C,T',H',W'), `tokens.{i}` (L,Dt),
                                 `mask.{i}` (L,) bool, `pooled.{i}` (Dt,)
    index.json                   {"meta": {...VAE/text facts...}, "items": [{"shard", "caption", "prompt",
                                 "bucket": [T,H,W] pixel size, "latent_shape": [C,T',H',W']}, ...]}

Every item is a pure function of its index, so the position in the data stream (the sampler's
state) is all a checkpoint needs to resume the exact same batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset
from tqdm import tqdm

from minisora.config import ConfigError
from minisora.world.slots import slots_for

INDEX_NAME = "index.json"
CACHE_FORMAT = "minisora-latent-cache/1"


# --------------------------------------------------------------------------------------------
# bucket parsing


def parse_bucket(text: str) -> tuple[tuple[int, int, int], int | None]:
    """'17x64x64' or '17x64x64=300' -> ((T, H, W), count or None)."""
    from minisora.sizes import parse_dims

    spec, _, count = text.partition("=")
    try:
        t, h, w = parse_dims(spec, ("FRAMES", "HEIGHT", "WIDTH"), "17x64x64")
        n = int(count) if count else None
    except ValueError:
        raise ConfigError(f"bucket {text!r} must look like FRAMESxHEIGHTxWIDTH, optionally =COUNT "
                          f"(for example 17x64x64 or 1x64x64=200)") from None
    return (t, h, w), n


def split_counts(total: int, buckets: list, counts: list[int | None]) -> list[int]:
    """Given per-bucket counts where stated, share the rest of `total` evenly among the others."""
    fixed = sum(c for c in counts if c is not None)
    free = [i for i, c in enumerate(counts) if c is None]
    rest = max(total - fixed, 0)
    out = list(counts)
    for j, i in enumerate(free):
        out[i] = rest // len(free) + (1 if j < rest % len(free) else 0)
    return [int(c) for c in out]


# --------------------------------------------------------------------------------------------
# pixel sources


class BucketedPixelDataset(Dataset):
    """Concatenation of one pixel dataset per bucket; `bucket_of(i)` says which bucket item i is in."""

    def __init__(self, parts: list[Dataset], buckets: list[tuple[int, int, int]]):
        self.parts, self.buckets = parts, buckets
        self.offsets = [0]
        for p in parts:
            self.offsets.append(self.offsets[-1] + len(p))

    def __len__(self) -> int:
        return self.offsets[-1]

    def _locate(self, i: int) -> tuple[int, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range for {len(self)} items")
        for b in range(len(self.parts)):
            if i < self.offsets[b + 1]:
                return b, i - self.offsets[b]
        raise AssertionError("unreachable")

    def bucket_of(self, i: int) -> int:
        return self._locate(i)[0]

    def captions(self, i: int, n: int) -> list[str]:
        """Up to n captions of item i: several phrasings where its dataset writes them (MovingShapes),
        else its one caption."""
        b, j = self._locate(i)
        part = self.parts[b]
        return part.captions(j, n) if hasattr(part, "captions") else [part[j]["caption"]]

    def bucket_ids(self) -> list[int]:
        return [b for b, p in enumerate(self.parts) for _ in range(len(p))]

    def __getitem__(self, i: int) -> dict:
        b, j = self._locate(i)
        item = self.parts[b][j]
        return {"video": item["video"], "caption": item["caption"], "prompt": item.get("prompt", item["caption"]),
                "window_start": item.get("window_start", 0)}


def synthetic_dataset(num_samples: int, buckets: list[tuple[int, int, int]], split: str, seed: int,
                      fps: float = 8.0, counts: list[int | None] | None = None,
                      late_share: float = 0.0, late_start_max: int = 48) -> BucketedPixelDataset:
    """MovingShapes rendered on the fly: `num_samples` clips shared among the buckets (late_share of
    them cut later in their scene's take: MovingShapesDataset)."""
    from minisora.world.dataset import MovingShapesDataset

    counts = split_counts(num_samples, buckets, counts or [None] * len(buckets))
    # each bucket draws its scenes from its own seed so adding a bucket does not reshuffle the others
    parts = [MovingShapesDataset(n, height=h, width=w, num_frames=t, fps=fps, split=split, seed=seed + 1000 * b,
                                 late_share=late_share, late_start_max=late_start_max)
             for b, ((t, h, w), n) in enumerate(zip(buckets, counts))]
    return BucketedPixelDataset(parts, buckets)


def folder_dataset(root: str, buckets: list[tuple[int, int, int]], fps: float | None = None) -> BucketedPixelDataset:
    """A folder of videos (+ captions). With several buckets, video k goes to bucket k % len(buckets)."""
    from minisora.data.video_folder import VideoFolderDataset

    path = Path(root)
    if not path.exists():
        raise ConfigError(f"dataset folder {root!r} does not exist")
    try:
        full = [VideoFolderDataset(root, num_frames=t, height=h, width=w, fps=fps) for (t, h, w) in buckets]
    except ValueError as e:
        raise ConfigError(f"dataset folder {root!r}: {e}") from None
    n = len(full[0])
    if n == 0:
        raise ConfigError(f"dataset folder {root!r} holds no readable videos")
    print(full[0].summary())  # files skipped while listing (unreadable captions), missing captions
    parts = [torch.utils.data.Subset(d, list(range(b, n, len(buckets)))) for b, d in enumerate(full)]
    return BucketedPixelDataset(parts, buckets)


def window_starts(items: list[dict]) -> torch.Tensor:
    """(B,) int64: the frame of its scene at which each clip starts (> 0: a late window, which
    trainers only ever give as a continuation; see MovingShapesDataset)."""
    return torch.tensor([int(it.get("window_start", 0)) for it in items], dtype=torch.int64)


def collate_pixels(items: list[dict]) -> dict:
    return {"video": torch.stack([it["video"] for it in items]),  # (B,3,T,H,W)
            "caption": [it["caption"] for it in items], "window_start": window_starts(items)}


class PixelEncoder:
    """Frozen VAE + text encoder turning a pixel batch into a training batch (used without cache)."""

    def __init__(self, vae, text_encoder, dtype: torch.dtype | None = None):
        self.vae, self.text = vae.eval().requires_grad_(False), text_encoder
        self.dtype = dtype

    @torch.no_grad()
    def __call__(self, batch: dict, device: torch.device) -> dict:
        z = self.vae.encode(batch["video"].to(device))  # (B,C,T',H',W'), already normalised
        emb = self.text.encode(batch["caption"], slots=slots_for(self.text, batch["caption"]))
        return {"latents": z.float(), "tokens": emb.tokens.to(device), "mask": emb.mask.to(device),
                "pooled": emb.pooled.to(device), "caption": batch["caption"], "window_start": batch["window_start"]}


# --------------------------------------------------------------------------------------------
# latent cache


@dataclass
class CacheMeta:
    latent_channels: int
    spatial_factor: int
    temporal_factor: int
    text_dim: int
    text_len: int


class LatentCacheDataset(Dataset):
    """Items of a latent cache: dict(latents (C,T',H',W'), tokens (L,Dt), mask (L,), pooled (Dt,), caption)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"latent cache folder {str(self.root)!r} does not exist; "
                                    f"write one with `minisora cache-latents ... --out {self.root}`")
        index = self.root / INDEX_NAME
        if not index.is_file():
            raise ConfigError(f"{str(self.root)!r} is not a latent cache: {INDEX_NAME} is missing "
                              f"(an interrupted `minisora cache-latents`?)")
        data = json.loads(index.read_text())
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"{str(index)!r} has format {data.get('format')!r}, expected {CACHE_FORMAT!r}")
        self.items: list[dict] = data["items"]
        if not self.items:
            raise ConfigError(f"latent cache {str(self.root)!r} is empty (0 items)")
        self.meta = CacheMeta(**data["meta"])
        shapes = sorted({tuple(it["latent_shape"]) for it in self.items})
        self.bucket_shapes: list[tuple[int, ...]] = shapes  # latent (C,T',H',W') per bucket
        self._bucket = [shapes.index(tuple(it["latent_shape"])) for it in self.items]
        self._files: dict[str, object] = {}  # opened lazily, per process (DataLoader workers)

    def __len__(self) -> int:
        return len(self.items)

    def bucket_of(self, i: int) -> int:
        return self._bucket[i]

    def bucket_ids(self) -> list[int]:
        return list(self._bucket)

    def _file(self, name: str):
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = safe_open(str(self.root / name), framework="pt")
        return f

    def __getitem__(self, i: int) -> dict:
        it = self.items[i]
        f = self._file(it["shard"])
        return {"latents": f.get_tensor(f"latents.{i}").float(), "tokens": f.get_tensor(f"tokens.{i}").float(),
                "mask": f.get_tensor(f"mask.{i}"), "pooled": f.get_tensor(f"pooled.{i}").float(),
                "caption": it["caption"], "window_start": it.get("window_start", 0)}

    def __getstate__(self):  # open safetensors handles do not cross into worker processes
        state = dict(self.__dict__)
        state["_files"] = {}
        return state


def collate_latents(items: list[dict]) -> dict:
    return {"latents": torch.stack([it["latents"] for it in items]),  # (B,C,T,H,W)
            "tokens": torch.stack([it["tokens"] for it in items]),  # (B,L,Dt)
            "mask": torch.stack([it["mask"] for it in items]),  # (B,L)
            "pooled": torch.stack([it["pooled"] for it in items]),  # (B,Dt)
            "caption": [it["caption"] for it in items], "window_start": window_starts(items)}


class CacheWriter:
    """Appends encoded items to safetensors shards of `shard_size` items, then writes index.json."""

    def __init__(self, out: str | Path, meta: CacheMeta, shard_size: int = 256, dtype: torch.dtype = torch.float32):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        if (self.out / INDEX_NAME).exists():
            raise FileExistsError(f"{str(self.out)!r} already holds a latent cache; choose an empty folder (cache-latents: out=DIR)")
        self.meta, self.shard_size, self.dtype = meta, shard_size, dtype
        self.items: list[dict] = []
        self._pending: dict[str, torch.Tensor] = {}
        self._shard = 0

    def add(self, latents: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor,
            caption: str, prompt: str, bucket: tuple[int, int, int], window_start: int = 0) -> None:
        i = len(self.items)
        self._pending.update({f"latents.{i}": latents.to(self.dtype).contiguous(),
                              f"tokens.{i}": tokens.to(self.dtype).contiguous(),
                              f"mask.{i}": mask.bool().contiguous(), f"pooled.{i}": pooled.to(self.dtype).contiguous()})
        self.items.append({"shard": f"shard_{self._shard:05d}.safetensors", "caption": caption, "prompt": prompt,
                           "bucket": list(bucket), "latent_shape": list(latents.shape)})
        if window_start:  # a late window (MovingShapesDataset); absent = 0, as in older caches
            self.items[-1]["window_start"] = int(window_start)
        if len(self._pending) // 4 >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            save_file(self._pending, str(self.out / f"shard_{self._shard:05d}.safetensors"))
            self._pending, self._shard = {}, self._shard + 1

    def close(self) -> Path:
        """Write the last shard and the index (the index last: a cache without it is incomplete)."""
        from minisora.weights import atomic_write_bytes

        self._flush()
        body = {"format": CACHE_FORMAT, "meta": self.meta.__dict__, "items": self.items}
        atomic_write_bytes(self.out / INDEX_NAME, (json.dumps(body, indent=1) + "\n").encode())
        return self.out


@torch.no_grad()
def cache_latents(dataset: BucketedPixelDataset, vae, text_encoder, out: str | Path, batch_size: int = 8,
                  shard_size: int = 256, dtype: torch.dtype = torch.float32, progress: bool = True,
                  captions_per_clip: int = 1) -> Path:
    """Encode every item of `dataset` once (VAE mean latents + text embeddings) into a latent cache.

    captions_per_clip > 1: each clip is stored once per phrasing its dataset writes (up to that many),
    with the same latents: the VAE is the expensive part, a caption costs milliseconds, and the
    transformer is judged on phrasings it has not seen."""
    if captions_per_clip < 1:
        raise ConfigError(f"captions_per_clip={captions_per_clip} must be >= 1")
    vae = vae.eval()
    emb0 = text_encoder.encode(["probe"], slots=slots_for(text_encoder, ["probe"]))
    meta = CacheMeta(latent_channels=vae.latent_channels, spatial_factor=vae.spatial_factor,
                     temporal_factor=vae.temporal_factor, text_dim=emb0.tokens.shape[-1], text_len=emb0.tokens.shape[1])
    writer = CacheWriter(out, meta, shard_size=shard_size, dtype=dtype)
    ids = dataset.bucket_ids()
    # batch items of one bucket together (equal shapes), in index order
    batches = []
    for b in range(len(dataset.buckets)):
        members = [i for i in range(len(dataset)) if ids[i] == b]
        batches += [members[k:k + batch_size] for k in range(0, len(members), batch_size)]
    encoded: dict[int, tuple] = {}
    for batch in tqdm(batches, desc="cache-latents", unit="batch", disable=not progress):
        items = [dataset[i] for i in batch]
        z = vae.encode(torch.stack([it["video"] for it in items]))  # (B,C,T',H',W')
        per_clip = [dataset.captions(i, captions_per_clip) if captions_per_clip > 1 else [it["caption"]]
                    for i, it in zip(batch, items)]
        captions = [c for caps in per_clip for c in caps]
        emb = text_encoder.encode(captions, slots=slots_for(text_encoder, captions))
        row = 0
        for k, i in enumerate(batch):
            encoded[i] = []
            for cap in per_clip[k]:
                encoded[i].append((z[k].clone(), emb.tokens[row], emb.mask[row], emb.pooled[row], cap, items[k]["prompt"],
                                   items[k].get("window_start", 0)))
                row += 1
    for i in range(len(dataset)):  # write in index order: clip i's captions follow clip i - 1's
        for z, tok, m, p, cap, pr, start in encoded.pop(i):
            writer.add(z, tok, m, p, cap, pr, dataset.buckets[ids[i]], window_start=start)
    return writer.close()


def cache_is_compatible(meta: CacheMeta, dit_cfg) -> list[str]:
    """Problems that would make a cache unusable with a DiT config (empty list: compatible)."""
    problems = []
    if meta.latent_channels != dit_cfg.latent_channels:
        problems.append(f"latent channels: cache {meta.latent_channels}, model.latent_channels {dit_cfg.latent_channels}")
    if meta.text_dim != dit_cfg.text_dim:
        problems.append(f"text dim: cache {meta.text_dim}, model.text_dim {dit_cfg.text_dim}")
    return problems


def check_divisible(latent_shape: tuple[int, ...], patch: tuple[int, int, int], where: str) -> None:
    """Latent (C,T',H',W') must tile into (pt,ph,pw) patches; the error names sizes that would."""
    _, t, h, w = latent_shape
    pt, ph, pw = patch
    if t % pt or h % ph or w % pw:
        raise ConfigError(f"{where}: latent size (T'={t}, H'={h}, W'={w}) is not divisible by the DiT patch "
                          f"(pt={pt}, ph={ph}, pw={pw}); pixel sizes must be multiples of VAE factor x patch")



def write_random_cache(out: str | Path, n: int, latent_shapes: list[tuple[int, int, int, int]], text_len: int,
                       text_dim: int, seed: int = 0, spatial_factor: int = 8, temporal_factor: int = 4,
                       shard_size: int = 256) -> Path:
    """A latent cache of Gaussian latents and text embeddings with the exact layout of a real one.

    For tests and throughput benchmarks of the DiT training path, which reads the cache only and
    never needs a VAE or text encoder. Item i goes to bucket i % len(latent_shapes).
    """
    g = torch.Generator().manual_seed(seed)
    meta = CacheMeta(latent_channels=latent_shapes[0][0], spatial_factor=spatial_factor,
                     temporal_factor=temporal_factor, text_dim=text_dim, text_len=text_len)
    writer = CacheWriter(out, meta, shard_size=shard_size)
    for i in range(n):
        c, t, h, w = latent_shapes[i % len(latent_shapes)]
        mask = torch.arange(text_len) < 2 + i % max(text_len - 2, 1)  # L: varying caption lengths
        pixel = (1 + (t - 1) * temporal_factor, h * spatial_factor, w * spatial_factor)
        writer.add(torch.randn(c, t, h, w, generator=g), torch.randn(text_len, text_dim, generator=g), mask,
                   torch.randn(text_dim, generator=g), f"random item {i}", f"random item {i}", pixel)
    return writer.close()
