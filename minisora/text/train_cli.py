"""`minisora train-rewriter`: train the builtin prompt rewriter and release it as safetensors + JSON."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.text.train import DEFAULT_REWRITER_DIR

    parser.add_argument("--preset", choices=("debug", "tiny"), default="tiny",
                        help="model + schedule preset (debug: seconds, for tests; tiny: the shipped model)")
    parser.add_argument("--out", default=str(DEFAULT_REWRITER_DIR), help="output folder (default: the shipped model's)")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's optimizer steps")
    parser.add_argument("--pairs", type=int, default=None, help="override the number of training pairs")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 instead of bf16 autocast")


def run(args: argparse.Namespace) -> int:
    from minisora.text.config import RewriterTrainConfig
    from minisora.text.train import train_rewriter

    cfg = RewriterTrainConfig.preset_named(args.preset)
    overrides = {"steps": args.steps, "num_pairs": args.pairs, "batch_size": args.batch_size, "lr": args.lr,
                 "seed": args.seed, "threads": args.threads}
    cfg = cfg.with_(**{k: v for k, v in overrides.items() if v is not None})
    if args.no_bf16:
        cfg = cfg.with_(bf16=False)
    result = train_rewriter(cfg, out_dir=args.out)
    print(f"saved to {args.out}")
    return 0 if result["metrics"]["val_loss"] == result["metrics"]["val_loss"] else 1  # NaN loss fails
