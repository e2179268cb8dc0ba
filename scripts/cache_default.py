"""Latent cache for minisora-tiny: MovingShapes train-split clips, each encoded once by the VAE and
stored with several independently drawn descriptive captions (one cache item per caption).

    python scripts/cache_default.py --vae minisora/assets/minisora-tiny/vae --out runs/minisora-tiny/cache \
        --videos 2400 --images 600 --captions 2

Why not `minisora cache-latents` as is: the VAE is the expensive part (~0.1 s per 17-frame clip on
2 cores) while a caption costs a few ms, so drawing several phrasings per clip multiplies the text
variety the transformer sees (it is judged on unseen phrasings) at almost no cost. The files are
written with the engine's own `CacheWriter`, so `data.source: cache` reads them unchanged. Text is
encoded with `--max-length` tokens (80: MovingShapes captions run to ~74 MiniLM tokens; 48 would
cut the third object off 37% of them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ((64, 64), (48, 80), (80, 48))  # (H, W) of the three buckets per frame count


def weights_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from minisora.data.captions import write_caption
    from minisora.data.synthetic import MovingShapesDataset
    from minisora.text.config import TextEncoderConfig
    from minisora.text.encoder import TextEncoder
    from minisora.train.data import CacheMeta, CacheWriter
    from minisora.vae.model import VideoVAE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--videos", type=int, default=2400, help="17-frame clips per size")
    ap.add_argument("--images", type=int, default=600, help="single frames per size")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--captions", type=int, default=2, help="captions drawn per clip (cache items per clip)")
    ap.add_argument("--max-length", type=int, default=80, help="text tokens kept per caption")
    ap.add_argument("--split", default="train", choices=("train", "heldout", "any"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    vae_dir = Path(args.vae)
    vae = VideoVAE.from_pretrained(vae_dir).eval()
    text = TextEncoder(TextEncoderConfig(max_length=args.max_length))
    meta = CacheMeta(latent_channels=vae.latent_channels, spatial_factor=vae.spatial_factor,
                     temporal_factor=vae.temporal_factor, text_dim=text.dim, text_len=args.max_length)
    writer = CacheWriter(args.out, meta, shard_size=512, dtype=torch.bfloat16)
    buckets = [(args.frames, h, w, args.videos) for h, w in SIZES] + [(1, h, w, args.images) for h, w in SIZES]
    total = sum(b[3] for b in buckets)
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="cache", unit="clip")
    for b, (T, H, W, n) in enumerate(buckets):
        if n <= 0:
            continue
        vae.latent_shape(T, H, W)  # raises naming valid sizes
        ds = MovingShapesDataset(n, height=H, width=W, num_frames=T, split=args.split, seed=args.seed + 1000 * b)
        for start in range(0, n, args.batch_size):
            idx = list(range(start, min(n, start + args.batch_size)))
            items = [ds[i] for i in idx]
            with torch.no_grad():
                z = vae.encode(torch.stack([it["video"] for it in items]))  # B, C, T', H', W'
            captions, owners = [], []
            for j, (i, it) in enumerate(zip(idx, items)):
                spec, _ = ds.scene(i)
                caps = [it["caption"]]
                rng = np.random.default_rng((args.seed, b, i, 7))
                for _ in range(4 * args.captions):  # distinct phrasings where the writer offers them
                    if len(caps) == args.captions:
                        break
                    c = write_caption(spec, rng)
                    if c not in caps:
                        caps.append(c)
                captions += caps
                owners += [(j, it["prompt"])] * len(caps)
            emb = text.encode(captions)
            for k, (j, prompt) in enumerate(owners):
                writer.add(z[j], emb.tokens[k], emb.mask[k], emb.pooled[k], captions[k], prompt, (T, H, W))
            text.clear_cache()
            bar.update(len(idx))
    bar.close()
    out = writer.close()
    info = {"vae": str(vae_dir), "vae_sha256_16": weights_digest(vae_dir), "items": len(writer.items),
            "clips": total, "captions_per_clip": args.captions, "max_length": args.max_length,
            "split": args.split, "seconds": round(time.perf_counter() - t0, 1)}
    (Path(args.out) / "cache_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {len(writer.items)} items ({total} clips) to {out} in {info['seconds'] / 60:.1f} min; "
          f"VAE {info['vae_sha256_16']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
