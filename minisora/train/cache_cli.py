"""`minisora cache-latents [CONFIG.yaml] [key=value ...]`: encode a dataset once into latent + text-embedding shards.

    minisora cache-latents configs/minisora-tiny/cache.yaml vae=runs/minisora-tiny/vae/release out=runs/cache
    minisora cache-latents num_samples=2000 "buckets=[17x64x64, 1x64x64=256]" out=runs/cache
    minisora cache-latents --vae runs/vae/release --data path/to/videos --bucket 17x64x64 --out runs/cache

The settings fill a `CacheConfig` (minisora/train/cache_config.py) as every trainer's fill its own;
the flags are aliases of the most used fields (`--bucket` repeats, and all of them replace `buckets`).
DiT training with `data.source: cache` then reads only these shards: the VAE and the text encoder
never run during training.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.cli import thread_count
    from minisora.train.cli import add_settings_arguments

    add_settings_arguments(parser, "YAML file of a CacheConfig (defaults: the dataclass)")
    # aliases of the most used fields (the same as key=value)
    parser.add_argument("--vae", help="= vae=DIR: VAE weights folder (VideoVAE.save_pretrained)")
    parser.add_argument("--data", help="= data=...: 'synthetic' (MovingShapes) or a folder / JSONL index of videos")
    parser.add_argument("--out", help="= out=DIR: a new folder for the shards and index.json")
    parser.add_argument("--bucket", action="append", metavar="TxHxW[=COUNT]",
                        help="repeatable, = buckets=[...]: pixel size of a bucket; =COUNT fixes its share (synthetic)")
    parser.add_argument("--num-samples", type=int, help="= num_samples=N: synthetic clips in all")
    parser.add_argument("--batch-size", type=int, help="= batch_size=N: clips per VAE call")
    parser.add_argument("--threads", type=thread_count, help="= threads=N: torch threads (0: torch's default)")


def load(args: argparse.Namespace):
    from minisora.train.cache_config import CacheConfig, check
    from minisora.train.cli import load_run_config

    cfg = load_run_config(CacheConfig, args, {"vae": args.vae, "data": args.data, "out": args.out,
                                              "buckets": args.bucket, "num_samples": args.num_samples,
                                              "batch_size": args.batch_size, "threads": args.threads})
    check(cfg)
    return cfg


def run(args: argparse.Namespace) -> int:
    from minisora.config import ConfigError
    from minisora.train.cache_config import write_cache
    from minisora.train.cli import resolve_config

    cfg, status = resolve_config("cache-latents", args, lambda: load(args))
    if status is not None:
        return status
    try:
        clips, out = write_cache(cfg)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"minisora cache-latents: {e}", file=sys.stderr)
        return 1
    print(f"wrote {clips} clips to {out}")
    return 0
