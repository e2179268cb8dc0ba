"""`minisora train-vae`: train the causal video VAE and release its weights.

Examples:
    minisora train-vae --preset debug --steps 200 --out runs/vae-debug
    minisora train-vae --preset default --minutes 28 --out runs/vae \\
        --release-dir minisora/assets/minisora-tiny/vae
    minisora train-vae --data path/to/videos --set crop_size=48 --set kl_weight=1e-5
    minisora train-vae --freeze-encoder --init-from minisora/assets/minisora-tiny/vae --lr 2e-4 \
        --minutes 30 --out runs/vae-decoder-ft --release-dir runs/vae-decoder-ft/release
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from minisora.config import apply_overrides, load_yaml, to_dict
from minisora.vae.config import VAE_PRESETS, VAETrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of a VAETrainConfig (flags below override it)")
    p.add_argument("--preset", choices=list(VAE_PRESETS), help="VAE architecture preset (default: default)")
    p.add_argument("--data", help="'synthetic' (MovingShapes, default) or a folder of videos")
    p.add_argument("--steps", type=int, help="maximum optimizer steps")
    p.add_argument("--minutes", type=float, help="wall-clock budget in minutes (0 = none)")
    p.add_argument("--batch-size", type=int, help="clips per step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--out", help="run folder (checkpoint, log.jsonl, rendered data cache)")
    p.add_argument("--release-dir", help="write released bf16 weights here at every save and at the end")
    p.add_argument("--threads", type=int, help="torch CPU threads (0 = torch default)")
    p.add_argument("--data-cache", help="folder of rendered clips to reuse (default: <out>/data)")
    p.add_argument("--init-from", metavar="DIR", help="start from released VAE weights (incl. latent statistics)")
    p.add_argument("--freeze-encoder", action="store_true", default=None,
                   help="decoder-only fine-tuning (needs --init-from): encoder and latent statistics stay "
                        "bit-identical, so latents a DiT was trained on remain valid")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint if present")
    p.add_argument("--status-file", help="append a line here whenever released weights are updated")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any VAETrainConfig field, e.g. --set kl_weight=1e-5 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> VAETrainConfig:
    cfg = load_yaml(VAETrainConfig, args.config) if args.config else VAETrainConfig()
    flags = {"preset": args.preset, "data": args.data, "steps": args.steps, "minutes": args.minutes,
             "batch_size": args.batch_size, "lr": args.lr, "out": args.out, "release_dir": args.release_dir,
             "threads": args.threads, "data_cache": args.data_cache, "init_from": args.init_from,
             "freeze_encoder": args.freeze_encoder}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    return apply_overrides(cfg, args.set)


def run(args: argparse.Namespace) -> int:
    from minisora.vae.train import train_vae

    cfg = config_from_args(args)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    if main_rank:
        print("train-vae config:", to_dict(cfg))
    vae, history = train_vae(cfg, resume=args.resume, progress=not args.no_progress, status_file=args.status_file)
    if not history:
        return 0
    final = history[-1]
    print(f"done: {final['step']} steps in {final['elapsed_s'] / 60:.1f} min, held-out PSNR "
          f"{final['val_psnr']:.2f} dB; checkpoint in {cfg.out}/checkpoint"
          + (f"; released weights in {cfg.release_dir}" if cfg.release_dir else ""))
    return 0
