"""`minisora train CONFIG.yaml [key=value ...]`: parse, then call `minisora.train.engine.train`.

The same command runs under torchrun (`torchrun --nproc_per_node=N -m minisora.train CONFIG.yaml`):
the process group and the parallel wrapping come from the config and torchrun's environment.
"""

from __future__ import annotations

import argparse
import json
import sys

from minisora.config import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML file serialising TrainConfig (see configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="override single fields, e.g. optim.lr=1e-4 schedule.max_steps=200")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--export", metavar="DIR", default=None,
                        help="after training, export the EMA weights as a release folder (safetensors + config.json)")


def run(args: argparse.Namespace) -> int:
    from minisora.train.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except (ConfigError, ValueError) as e:
        print(f"minisora train: config error: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        from minisora.config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return 0
    from minisora.train.checkpoint import CheckpointError
    from minisora.train.engine import train
    from minisora.train.monitor import DivergedError

    try:
        summary = train(cfg)
    except (ConfigError, CheckpointError, FileNotFoundError, DivergedError) as e:
        print(f"minisora train: {e}", file=sys.stderr)
        return 1
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        if args.export and summary["checkpoint"]:
            from minisora.train.export import export_release

            export_release(summary["checkpoint"], args.export)
            summary["release"] = args.export
        summary.pop("step_records", None)  # per-step timings stay in <run_dir>/summary.json
        print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
