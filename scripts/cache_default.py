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


_WORKER: dict = {}


def _init_worker(vae_dir: str, max_length: int, threads: int) -> None:
    """Each worker process loads its own VAE and text encoder once."""
    import torch

    from minisora.text.config import TextEncoderConfig
    from minisora.text.encoder import TextEncoder
    from minisora.vae.model import VideoVAE

    if threads:
        torch.set_num_threads(threads)
    _WORKER["vae"] = VideoVAE.from_pretrained(vae_dir).eval()
    _WORKER["text"] = TextEncoder(TextEncoderConfig(max_length=max_length))


def _encode_chunk(job: tuple) -> list[tuple]:
    """Render clips [start, stop) of bucket b, encode them once and their captions; returns one
    (latent, tokens, mask, pooled, caption, prompt, bucket) per caption."""
    import numpy as np
    import torch

    from minisora.data.captions import write_caption
    from minisora.data.synthetic import MovingShapesDataset

    b, (T, H, W, n), start, stop, split, seed, n_captions = job
    vae, text = _WORKER["vae"], _WORKER["text"]
    ds = MovingShapesDataset(n, height=H, width=W, num_frames=T, split=split, seed=seed + 1000 * b)
    idx = list(range(start, stop))
    items = [ds[i] for i in idx]
    with torch.no_grad():
        z = vae.encode(torch.stack([it["video"] for it in items]))  # B, C, T', H', W'
    captions, owners = [], []
    for j, (i, it) in enumerate(zip(idx, items)):
        spec, _ = ds.scene(i)
        caps = [it["caption"]]
        rng = np.random.default_rng((seed, b, i, 7))
        for _ in range(4 * n_captions):  # distinct phrasings where the writer offers them
            if len(caps) == n_captions:
                break
            c = write_caption(spec, rng)
            if c not in caps:
                caps.append(c)
        captions += caps
        owners += [(j, it["prompt"])] * len(caps)
    emb = text.encode(captions)
    text.clear_cache()
    out = []
    for k, (j, prompt) in enumerate(owners):
        out.append((z[j].to(torch.bfloat16).clone(), emb.tokens[k].to(torch.bfloat16).clone(), emb.mask[k].clone(),
                    emb.pooled[k].to(torch.bfloat16).clone(), captions[k], prompt, (T, H, W)))
    return out


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor

    import torch
    from tqdm import tqdm

    from minisora.train.data import CacheMeta, CacheWriter
    from minisora.vae.model import VideoVAE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--videos", type=int, default=1200, help="17-frame clips per size")
    ap.add_argument("--images", type=int, default=300, help="single frames per size")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--captions", type=int, default=2, help="captions drawn per clip (cache items per clip)")
    ap.add_argument("--max-length", type=int, default=80, help="text tokens kept per caption")
    ap.add_argument("--split", default="train", choices=("train", "heldout", "any"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=8, help="clips per VAE call")
    ap.add_argument("--workers", type=int, default=2, help="encoding processes (1 torch thread each)")
    args = ap.parse_args(argv)

    vae_dir = Path(args.vae)
    vae = VideoVAE.from_pretrained(vae_dir)  # geometry checks only; workers load their own
    meta = CacheMeta(latent_channels=vae.latent_channels, spatial_factor=vae.spatial_factor,
                     temporal_factor=vae.temporal_factor, text_dim=384, text_len=args.max_length)
    writer = CacheWriter(args.out, meta, shard_size=512, dtype=torch.bfloat16)
    buckets = [(args.frames, h, w, args.videos) for h, w in SIZES] + [(1, h, w, args.images) for h, w in SIZES]
    for T, H, W, _ in buckets:
        vae.latent_shape(T, H, W)  # raises naming valid sizes
    del vae
    jobs = [(b, bk, s, min(bk[3], s + args.batch_size), args.split, args.seed, args.captions)
            for b, bk in enumerate(buckets) for s in range(0, bk[3], args.batch_size)]
    total = sum(b[3] for b in buckets)
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="cache", unit="clip")
    # Several 1-thread processes: on a shared CPU one process with 2 OpenMP threads is far slower.
    with ProcessPoolExecutor(args.workers, initializer=_init_worker,
                             initargs=(str(vae_dir), args.max_length, 1)) as pool:
        for job, rows in zip(jobs, pool.map(_encode_chunk, jobs)):  # map keeps the order: deterministic cache
            for row in rows:
                writer.add(*row)
            bar.update(job[3] - job[2])
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
