"""The latent-cache stage: its typed config (`CacheConfig`) and `write_cache`, which runs it.

`minisora cache-latents [CONFIG.yaml] key=value ...` fills a CacheConfig the way every trainer fills
its own (`minisora.train.cli.load_run_config`), and `configs/minisora-tiny/cache.yaml` serialises it
for the recipe. The dataclass is the only place a default lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from minisora.config import ConfigError

# storage dtype of the cached tensors (not a compute precision: encoding runs in the VAE's own)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
StorageDtype = Literal["float32", "bfloat16", "float16"]


@dataclass
class CacheConfig:
    vae: str = ""  # VAE weights folder (VideoVAE.save_pretrained); "": the shipped model's, inside the package
    data: str = "synthetic"  # 'synthetic' (MovingShapes) or a folder / JSONL index of videos with captions
    out: str = "runs/cache"  # a new (or empty) folder for the shards and index.json
    # pixel size of each bucket, "FRAMESxHEIGHTxWIDTH"; "=COUNT" fixes its share of num_samples
    # (synthetic only; the buckets without a count share the rest evenly)
    buckets: list[str] = field(default_factory=lambda: ["17x64x64"])
    num_samples: int = 1000  # synthetic: clips in all
    split: Literal["train", "heldout", "any"] = "train"  # synthetic: scene split
    seed: int = 0  # synthetic: dataset seed
    fps: float = 8.0
    # synthetic: this share of the clips start 1..late_start_max frames into their scene instead of
    # at its start (where every object is in view), showing objects leaving or gone as a long clip's
    # later windows do; training only ever gives them as continuations (MovingShapesDataset)
    late_share: float = 0.0
    late_start_max: int = 48
    captions: int = 1  # synthetic: phrasings stored per clip, each with the clip's latents
    max_length: int | None = None  # text tokens per caption; None: the text encoder's own (48)
    object_slots: int = 0  # tokens appended per caption, one per object it names (minisora.world.slots)
    batch_size: int = 8  # clips per VAE call
    shard_size: int = 256  # items per safetensors shard
    dtype: StorageDtype = "float32"
    threads: int = 0  # torch CPU threads (0: torch's default)


def parsed_buckets(cfg: CacheConfig) -> tuple[list[tuple[int, int, int]], list[int | None]]:
    """The (T, H, W) pixel size and the fixed count (or None) of each bucket; errors name the entry."""
    from minisora.train.data import parse_bucket

    if not cfg.buckets:
        raise ConfigError("buckets is empty; give at least one, e.g. buckets=[17x64x64]")
    parsed = []
    for i, text in enumerate(cfg.buckets):
        try:
            parsed.append(parse_bucket(text))
        except ConfigError as e:
            raise ConfigError(f"buckets[{i}]: {e}") from None
    return [b for b, _ in parsed], [c for _, c in parsed]


def check(cfg: CacheConfig) -> None:
    """Value checks that a type cannot express, before any work; each error names the key."""
    from minisora.train.harness import check_outside_package

    at_least = {"num_samples": 1, "captions": 1, "late_start_max": 1, "object_slots": 0, "batch_size": 1,
                "shard_size": 1, "threads": 0}
    for key, low in at_least.items():
        if getattr(cfg, key) < low:
            raise ConfigError(f"{key}={getattr(cfg, key)} is not valid: must be >= {low}")
    if cfg.max_length is not None and cfg.max_length < 1:
        raise ConfigError(f"max_length={cfg.max_length} is not valid: must be >= 1, or null for the text encoder's")
    if not cfg.fps > 0:
        raise ConfigError(f"fps={cfg.fps} is not valid: must be > 0")
    _, counts = parsed_buckets(cfg)
    if cfg.data != "synthetic" and any(c is not None for c in counts):
        raise ConfigError(f"=COUNT in buckets applies to synthetic data only (data={cfg.data!r})")
    if not 0.0 <= cfg.late_share <= 1.0:
        raise ConfigError(f"late_share={cfg.late_share} is not valid: must be a share in [0, 1]")
    if cfg.data != "synthetic" and cfg.late_share:
        raise ConfigError(f"late_share applies to synthetic data only (data={cfg.data!r}); leave it 0")
    if cfg.vae and not Path(cfg.vae).is_dir():
        raise ConfigError(f"vae={cfg.vae!r}: no such folder; give a VAE weights folder (`minisora train-vae` "
                          f"writes <run_dir>/release), or leave vae empty for the shipped model's")
    if not cfg.out:
        raise ConfigError("out is empty; give the folder to write the cache to, e.g. out=runs/cache")
    check_outside_package(cfg.out, "out")


def write_cache(cfg: CacheConfig, progress: bool = True) -> tuple[int, Path]:
    """Encode the dataset `cfg` names into a latent cache at `cfg.out`; returns (clips, folder)."""
    check(cfg)
    previous_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _write(cfg, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _write(cfg: CacheConfig, progress: bool) -> tuple[int, Path]:
    from minisora.text.config import TextEncoderConfig
    from minisora.text.encoder import TextEncoder
    from minisora.train.data import cache_latents, folder_dataset, synthetic_dataset
    from minisora.train.engine import load_vae

    buckets, counts = parsed_buckets(cfg)
    vae = load_vae(cfg.vae)
    for (t, h, w) in buckets:
        vae.latent_shape(t, h, w)  # raises naming valid sizes
    if cfg.data == "synthetic":
        ds = synthetic_dataset(cfg.num_samples, buckets, cfg.split, cfg.seed, cfg.fps, counts, cfg.late_share,
                               cfg.late_start_max)
    else:
        ds = folder_dataset(cfg.data, buckets, cfg.fps)
    text_cfg = TextEncoderConfig(object_slots=cfg.object_slots,
                                 **({"max_length": cfg.max_length} if cfg.max_length is not None else {}))
    out = cache_latents(ds, vae, TextEncoder(text_cfg), cfg.out, batch_size=cfg.batch_size,
                        shard_size=cfg.shard_size, dtype=DTYPES[cfg.dtype], progress=progress,
                        captions_per_clip=cfg.captions)
    return len(ds), out
