"""`minisora train-vae [CONFIG.yaml] [key=value ...]`: train the causal video VAE and release its weights.

Examples:
    minisora train-vae preset=debug steps=200 run_dir=runs/vae-debug
    minisora train-vae configs/vae.yaml minutes=28 --out runs/vae
    minisora train-vae data=path/to/videos crop_size=48 kl_weight=1e-5
    minisora train-vae freeze_encoder=true init_from=minisora/assets/minisora-tiny/vae lr=2e-4 \\
        minutes=30 run_dir=runs/vae-decoder-ft

A run resumes from the latest checkpoint in <run_dir>/checkpoints; SIGINT/SIGTERM stop it at the next
step with a checkpoint. Released weights go to <run_dir>/release unless release_dir says otherwise.
"""

from __future__ import annotations

import argparse

from minisora.train.cli import add_run_arguments, load_run_config, run_trainer
from minisora.vae.config import VAETrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, "YAML file of a VAETrainConfig (key=value overrides follow)")
    # aliases of the most used fields (the same as key=value)
    p.add_argument("--steps", type=int, help="= steps=N: maximum optimizer steps")
    p.add_argument("--minutes", type=float, help="= minutes=M: wall-clock budget (0 = none)")
    p.add_argument("--out", help="= run_dir=DIR: run folder (checkpoints, metrics.jsonl, release)")
    p.add_argument("--status-file", help="append a line here whenever released weights are updated")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> VAETrainConfig:
    return load_run_config(VAETrainConfig, args, {"steps": args.steps, "minutes": args.minutes, "run_dir": args.out})


def run(args: argparse.Namespace) -> int:
    from minisora.vae.train import train_vae

    def go(cfg: VAETrainConfig) -> dict:
        _, history = train_vae(cfg, progress=not args.no_progress, status_file=args.status_file,
                               allow_changed=args.allow_changed)
        return {"final": history[-1] if history else {}, "run_dir": cfg.run_dir}

    return run_trainer("train-vae", args, lambda: config_from_args(args), go)
