"""`minisora train-upscaler`: train the super-resolution stage on MovingShapes pairs.

    minisora train-upscaler --out runs/upscaler --minutes 25 --release-dir minisora/assets/minisora-tiny/upscaler
    minisora train-upscaler --config my.yaml --set batch_size=4 --set lr=3e-4

Resumes from the latest checkpoint in --out when there is one.
"""

from __future__ import annotations

import argparse
import json

from minisora.config import apply_overrides, load_yaml
from minisora.upscale.config import UPSCALER_PRESETS, UpscaleTrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file serialising UpscaleTrainConfig (defaults: the dataclass)")
    p.add_argument("--preset", choices=list(UPSCALER_PRESETS), help="model preset (overrides the config's)")
    p.add_argument("--steps", type=int)
    p.add_argument("--minutes", type=float, help="wall-clock budget; stops at whichever of steps/minutes comes first")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is often fastest on a busy machine)")
    p.add_argument("--out", help="run folder (checkpoints, log.jsonl)")
    p.add_argument("--release-dir", help="write released bf16 weights here at every checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any UpscaleTrainConfig field, e.g. --set lr=3e-4 (repeatable)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from minisora.upscale.train import train_upscaler

    cfg = load_yaml(UpscaleTrainConfig, args.config) if args.config else UpscaleTrainConfig()
    direct = {"preset": args.preset, "steps": args.steps, "minutes": args.minutes, "batch_size": args.batch_size,
              "threads": args.threads, "out": args.out, "release_dir": args.release_dir}
    cfg = cfg.replace(**{k: v for k, v in direct.items() if v is not None})
    cfg = apply_overrides(cfg, args.set)
    summary = train_upscaler(cfg, progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    return 0
