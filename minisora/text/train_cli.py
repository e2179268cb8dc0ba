"""`minisora train-rewriter [CONFIG.yaml] [key=value ...]`: train the builtin prompt rewriter and release
it as safetensors + JSON to <run_dir>/release (default runs/rewriter/release), never into the package.

    minisora train-rewriter preset=debug steps=300 num_pairs=3000 --out runs/rewriter-debug
    load_rewriter("builtin", "runs/rewriter/release")   (minisora.text.backends, to use the result)

Resumes from the latest checkpoint in <run_dir>/checkpoints; SIGINT/SIGTERM stop it at the next step
with a checkpoint.
"""

from __future__ import annotations

import argparse

from minisora.text.config import RewriterTrainConfig
from minisora.train.cli import add_run_arguments, load_run_config, run_trainer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "YAML file serialising RewriterTrainConfig (defaults: the dataclass)")
    parser.add_argument("--preset", default=None,
                        help="= preset=NAME: LM size (debug: seconds, for tests; tiny: shipped)")
    parser.add_argument("--steps", type=int, default=None, help="= steps=N")
    parser.add_argument("--out", default=None, help="= run_dir=DIR: run folder (checkpoints, metrics.jsonl, release/)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from minisora.text.train import train_rewriter

    def load() -> RewriterTrainConfig:
        return load_run_config(RewriterTrainConfig, args, {"preset": args.preset, "steps": args.steps,
                                                           "run_dir": args.out})

    def go(cfg: RewriterTrainConfig) -> dict:
        result = train_rewriter(cfg, progress=not args.no_progress, allow_changed=args.allow_changed)
        return {k: v for k, v in result.items() if k not in ("model", "tokenizer")}

    return run_trainer("train-rewriter", args, load, go)
