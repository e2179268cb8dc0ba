"""`minisora cache-latents`: encode a dataset once into latent + text-embedding shards.

    minisora cache-latents --vae minisora/assets/minisora-tiny/vae --data synthetic --num-samples 2000 \\
        --bucket 17x64x64 --bucket 17x48x80 --bucket 17x80x48 --bucket 1x64x64=256 --out data/cache/train

DiT training with `data.source: cache` then reads only these shards: the VAE and the text
encoder never run during training.
"""

from __future__ import annotations

import argparse
import sys

import torch

from minisora.config import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.cli import thread_count

    parser.add_argument("--vae", required=True, help="VAE weights folder (VideoVAE.save_pretrained)")
    parser.add_argument("--data", required=True,
                        help="'synthetic' (MovingShapes) or a folder / JSONL index of videos with captions")
    parser.add_argument("--out", required=True, help="empty folder for the shards and index.json")
    parser.add_argument("--bucket", action="append", default=None, metavar="TxHxW[=COUNT]",
                        help="pixel size of a bucket, repeatable (default 17x64x64); =COUNT fixes its share "
                             "of --num-samples (synthetic only)")
    parser.add_argument("--num-samples", type=int, default=1000, help="synthetic: clips in all")
    parser.add_argument("--split", default="train", choices=("train", "heldout", "any"), help="synthetic scene split")
    parser.add_argument("--seed", type=int, default=0, help="synthetic: dataset seed")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--captions", type=int, default=1,
                        help="synthetic: phrasings stored per clip, each with the clip's latents (default 1)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="text tokens per caption (default: the text encoder's, 48; minisora-tiny uses 80)")
    parser.add_argument("--object-slots", type=int, default=0,
                        help="tokens appended per caption, one per object it names (minisora.world.slots)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per VAE call")
    parser.add_argument("--shard-size", type=int, default=256, help="items per safetensors shard")
    parser.add_argument("--dtype", default="float32", choices=tuple(DTYPES), help="storage dtype of the tensors")
    parser.add_argument("--threads", type=thread_count, default=0, help="torch threads (0: torch's default)")


def run(args: argparse.Namespace) -> int:
    from minisora.train.data import cache_latents, folder_dataset, parse_bucket, synthetic_dataset
    from minisora.train.engine import load_vae

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        parsed = [parse_bucket(b) for b in (args.bucket or ["17x64x64"])]
        buckets, counts = [b for b, _ in parsed], [c for _, c in parsed]
        vae = load_vae(args.vae)
        for (t, h, w) in buckets:
            vae.latent_shape(t, h, w)  # raises naming valid sizes
        if args.data == "synthetic":
            ds = synthetic_dataset(args.num_samples, buckets, args.split, args.seed, args.fps, counts)
        else:
            if any(c is not None for c in counts):
                raise ConfigError("=COUNT in --bucket applies to synthetic data only")
            ds = folder_dataset(args.data, buckets, args.fps)
        from minisora.text.config import TextEncoderConfig
        from minisora.text.encoder import TextEncoder

        text_cfg = TextEncoderConfig(object_slots=args.object_slots,
                                     **({"max_length": args.max_length} if args.max_length else {}))
        out = cache_latents(ds, vae, TextEncoder(text_cfg), args.out, batch_size=args.batch_size,
                            shard_size=args.shard_size, dtype=DTYPES[args.dtype], captions_per_clip=args.captions)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"minisora cache-latents: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(ds)} clips to {out}")
    return 0
