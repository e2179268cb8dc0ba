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

Captions do not depend on the VAE, so their embeddings can be computed ahead (`--text-only FILE`,
then `--text FILE`), leaving only the VAE pass for when the VAE is final.
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


def _init_worker(vae_dir: str | None, max_length: int, threads: int, text_file: str | None,
                 object_slots: int = 0) -> None:
    """Each worker process loads its own VAE (unless text-only) and text encoder or text table once."""
    import torch

    from minisora.text.config import TextEncoderConfig
    from minisora.text.encoder import TextEncoder
    from minisora.vae.model import VideoVAE

    if threads:
        torch.set_num_threads(threads)
    if vae_dir is not None:
        _WORKER["vae"] = VideoVAE.from_pretrained(vae_dir).eval()
    if text_file is not None:
        from safetensors.torch import load_file

        _WORKER["table"] = load_file(text_file)
    else:
        _WORKER["text"] = TextEncoder(TextEncoderConfig(max_length=max_length, object_slots=object_slots))


def _captions(spec, first: str, rng, n: int) -> list[str]:
    from minisora.world.captions import write_caption

    caps = [first]
    for _ in range(4 * n):  # distinct phrasings where the writer offers them
        if len(caps) == n:
            break
        c = write_caption(spec, rng)
        if c not in caps:
            caps.append(c)
    return caps


def _encode_chunk(job: tuple) -> list[tuple]:
    """Render clips [start, stop) of bucket b, encode them once (unless text-only) and their captions
    (or take the captions' rows k0.. of the precomputed table); returns one
    (latent or None, tokens, mask, pooled, caption, prompt, bucket) per caption."""
    import numpy as np
    import torch

    from minisora.world.dataset import MovingShapesDataset

    b, (T, H, W, n), start, stop, split, seed, n_captions, k0, count_probs = job
    ds = MovingShapesDataset(n, height=H, width=W, num_frames=T, split=split, seed=seed + 1000 * b,
                             count_probs=count_probs)
    idx = list(range(start, stop))
    items = [ds[i] for i in idx]
    z = None
    if "vae" in _WORKER:
        with torch.no_grad():
            z = _WORKER["vae"].encode(torch.stack([it["video"] for it in items]))  # B, C, T', H', W'
    captions, owners = [], []
    for j, (i, it) in enumerate(zip(idx, items)):
        spec, _ = ds.scene(i)
        caps = _captions(spec, it["caption"], np.random.default_rng((seed, b, i, 7)), n_captions)
        captions += caps
        owners += [(j, it["prompt"])] * len(caps)
    if "table" in _WORKER:
        t = _WORKER["table"]
        rows = range(k0, k0 + len(captions))
        tokens, mask, pooled = t["tokens"][k0:k0 + len(captions)], t["mask"][k0:k0 + len(captions)], \
            t["pooled"][k0:k0 + len(captions)]
        del rows
    else:
        from minisora.world.slots import slots_for

        emb = _WORKER["text"].encode(captions, slots=slots_for(_WORKER["text"], captions))
        _WORKER["text"].clear_cache()
        tokens, mask, pooled = emb.tokens, emb.mask, emb.pooled
    # Rows travel back as numpy (bf16 bit patterns as int16): torch tensors would be passed as shared-
    # memory file descriptors, and thousands of them exhaust the descriptor limit.
    bits = lambda x: x.to(torch.bfloat16).contiguous().view(torch.int16).numpy().copy()  # noqa: E731
    out = []
    for k, (j, prompt) in enumerate(owners):
        out.append((None if z is None else bits(z[j]), bits(tokens[k]), mask[k].numpy().copy(), bits(pooled[k]),
                    captions[k], prompt, (T, H, W)))
    return out


def _unpack(row: tuple) -> tuple:
    import torch

    t = lambda a: None if a is None else torch.from_numpy(a).view(torch.bfloat16)  # noqa: E731
    return (t(row[0]), t(row[1]), torch.from_numpy(row[2]), t(row[3]), *row[4:])


def _probs(text: str) -> tuple[float, ...]:
    from minisora.world import vocabulary as V
    from minisora.world.scenes import check_count_probs

    try:
        values = tuple(float(v) for v in text.split(","))
        check_count_probs(values, V.MAX_OBJECTS)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return values


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor

    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    from minisora.train.data import CacheMeta, CacheWriter
    from minisora.vae.model import VideoVAE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", help="VAE weights folder (not needed with --text-only)")
    ap.add_argument("--out", help="empty folder for the cache")
    ap.add_argument("--videos", type=int, default=1200, help="17-frame clips per size")
    ap.add_argument("--images", type=int, default=300, help="single frames per size")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--captions", type=int, default=2, help="captions drawn per clip (cache items per clip)")
    ap.add_argument("--max-length", type=int, default=80, help="text tokens kept per caption")
    ap.add_argument("--object-slots", type=int, default=0,
                    help="object slot tokens appended after the caption tokens (text/object_slots.py)")
    ap.add_argument("--split", default="train", choices=("train", "heldout", "any"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count-probs", type=_probs, default=None, metavar="P1,P2,P3",
                    help="chance of 1, 2, 3 objects per scene (default: uniform); weigh crowded scenes more")
    ap.add_argument("--batch-size", type=int, default=8, help="clips per VAE call")
    ap.add_argument("--workers", type=int, default=2, help="encoding processes (1 torch thread each)")
    ap.add_argument("--text-only", metavar="FILE", help="only embed the captions, into FILE (.safetensors)")
    ap.add_argument("--text", metavar="FILE", help="caption embeddings precomputed with --text-only (same clip options)")
    args = ap.parse_args(argv)
    if not args.text_only and not (args.vae and args.out):
        ap.error("--vae and --out are required (unless --text-only)")

    buckets = [(args.frames, h, w, args.videos) for h, w in SIZES] + [(1, h, w, args.images) for h, w in SIZES]
    plan = {"buckets": buckets, "captions": args.captions, "split": args.split, "seed": args.seed,
            "max_length": args.max_length, "batch_size": args.batch_size}
    if args.object_slots:
        plan["object_slots"] = args.object_slots
    if args.count_probs:
        plan["count_probs"] = list(args.count_probs)
    starts = [(b, bk, s, min(bk[3], s + args.batch_size)) for b, bk in enumerate(buckets) for s in range(0, bk[3], args.batch_size)]
    offsets = [0] * len(starts)
    if args.text:
        side = json.loads(Path(args.text).with_suffix(".json").read_text())
        if side["plan"] != json.loads(json.dumps(plan)):
            raise SystemExit(f"{args.text} was made for other clip options: {side['plan']}; these are {plan}")
        counts = side["counts"]  # captions per job
        for j in range(1, len(starts)):
            offsets[j] = offsets[j - 1] + counts[j - 1]
    jobs = [(b, bk, s, e, args.split, args.seed, args.captions, offsets[j], args.count_probs)
            for j, (b, bk, s, e) in enumerate(starts)]
    total = sum(b[3] for b in buckets)
    t0 = time.perf_counter()
    writer = None
    if not args.text_only:
        vae = VideoVAE.from_pretrained(args.vae)  # geometry checks only; workers load their own
        for T, H, W, _ in buckets:
            vae.latent_shape(T, H, W)  # raises naming valid sizes
        meta = CacheMeta(latent_channels=vae.latent_channels, spatial_factor=vae.spatial_factor,
                         temporal_factor=vae.temporal_factor, text_dim=384, text_len=args.max_length + args.object_slots)
        writer = CacheWriter(args.out, meta, shard_size=512, dtype=torch.bfloat16)
        del vae
    text_rows: list[tuple] = []
    counts: list[int] = []
    bar = tqdm(total=total, desc="text" if args.text_only else "cache", unit="clip")
    # Several 1-thread processes: on a shared CPU one process with 2 OpenMP threads is far slower.
    init = (None if args.text_only else args.vae, args.max_length, 1, args.text, args.object_slots)
    with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=init) as pool:
        for job, rows in zip(jobs, pool.map(_encode_chunk, jobs)):  # map keeps the order: deterministic cache
            rows = [_unpack(r) for r in rows]
            if args.text_only:
                text_rows += [(r[1], r[2], r[3], r[4]) for r in rows]
                counts.append(len(rows))
            else:
                for row in rows:
                    writer.add(*row)
            bar.update(job[3] - job[2])
    bar.close()
    if args.text_only:
        out = Path(args.text_only)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file({"tokens": torch.stack([r[0] for r in text_rows]), "mask": torch.stack([r[1] for r in text_rows]),
                   "pooled": torch.stack([r[2] for r in text_rows])}, str(out))
        out.with_suffix(".json").write_text(json.dumps({"plan": plan, "counts": counts,
                                                        "captions": [r[3] for r in text_rows]}) + "\n")
        print(f"embedded {len(text_rows)} captions of {total} clips into {out} in "
              f"{(time.perf_counter() - t0) / 60:.1f} min")
        return 0
    if args.text:
        stored = json.loads(Path(args.text).with_suffix(".json").read_text())["captions"]
        if stored != [it["caption"] for it in writer.items]:
            raise SystemExit(f"captions in {args.text} do not match the clips: not writing the index")
    out = writer.close()
    info = {"vae": str(args.vae), "vae_sha256_16": weights_digest(Path(args.vae)), "items": len(writer.items),
            "clips": total, "captions_per_clip": args.captions, "max_length": args.max_length,
            "object_slots": args.object_slots, "count_probs": args.count_probs,
            "split": args.split, "seconds": round(time.perf_counter() - t0, 1), "text_from": args.text}
    (Path(args.out) / "cache_info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {len(writer.items)} items ({total} clips) to {out} in {info['seconds'] / 60:.1f} min; "
          f"VAE {info['vae_sha256_16']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
