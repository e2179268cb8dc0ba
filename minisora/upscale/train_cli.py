"""`minisora train-upscaler [CONFIG.yaml] [key=value ...]`: train the super-resolution stage on MovingShapes pairs.

    minisora train-upscaler minutes=25 --out runs/upscaler
    minisora train-upscaler my.yaml batch_size=4 lr=3e-4

Resumes from the latest checkpoint in <run_dir>/checkpoints when there is one; SIGINT/SIGTERM stop it
at the next step with a checkpoint. Released weights go to <run_dir>/release unless release_dir says otherwise.
"""

from __future__ import annotations

import argparse

from minisora.train.cli import add_run_arguments, load_run_config, run_trainer
from minisora.upscale.config import UpscaleTrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, "YAML file serialising UpscaleTrainConfig (defaults: the dataclass)")
    p.add_argument("--steps", type=int, help="= steps=N")
    p.add_argument("--minutes", type=float, help="= minutes=M: wall-clock budget")
    p.add_argument("--out", help="= run_dir=DIR: run folder (checkpoints, metrics.jsonl, release)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from minisora.upscale.train import train_upscaler

    def load() -> UpscaleTrainConfig:
        return load_run_config(UpscaleTrainConfig, args, {"steps": args.steps, "minutes": args.minutes,
                                                          "run_dir": args.out})

    return run_trainer("train-upscaler", args, load,
                       lambda cfg: train_upscaler(cfg, progress=not args.no_progress, allow_changed=args.allow_changed))
