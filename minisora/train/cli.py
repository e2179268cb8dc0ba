"""`minisora train CONFIG.yaml [key=value ...]`: parse, then call `minisora.train.engine.train`.

Every trainer (`train`, `train-vae`, `train-upscaler`, `train-rewriter`) is entered the same way:
an optional YAML file serialising its typed config, then `key=value` overrides, then a few flags
(`--allow-changed`, `--print-config`). `add_run_arguments` and `run_trainer` below are that one way in.

The same command runs under torchrun (`torchrun --nproc_per_node=N -m minisora.train CONFIG.yaml`):
the process group and the parallel wrapping come from the config and torchrun's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from minisora.config import ConfigError

# exit status of a run stopped by SIGINT/SIGTERM after writing its checkpoint (128 + SIGTERM, as a shell reports)
INTERRUPTED_EXIT = 143


def add_settings_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    """`[CONFIG.yaml] key=value ...` and `--print-config`: how every stage command takes its typed config."""
    parser.add_argument("settings", nargs="*", metavar="[CONFIG.yaml] key=value",
                        help=f"{config_help}, then overrides of single fields, e.g. lr=1e-4 (nested: optim.lr=1e-4)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def add_run_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    add_settings_arguments(parser, config_help)
    parser.add_argument("--allow-changed", action="store_true",
                        help="resume although the config differs from the checkpoint's in more than the budget")


def load_run_config(cls: type, args: argparse.Namespace, aliases: dict[str, Any] | None = None):
    """`cls` from the YAML file (or the dataclass defaults), the flag aliases, then key=value overrides.

    aliases: {field name: flag value or None}, e.g. {"steps": args.steps}; None means not given.
    """
    from minisora.config import apply_overrides, load_yaml

    files = [a for a in args.settings if "=" not in a]
    overrides = [a for a in args.settings if "=" in a]
    if len(files) > 1:
        raise ConfigError(f"give at most one config file (then key=value overrides), got {files}")
    cfg = load_yaml(cls, files[0]) if files else cls()
    given = [f"{k}={_yaml_value(v)}" for k, v in (aliases or {}).items() if v is not None]
    return apply_overrides(cfg, given + overrides)


def _yaml_value(v: Any) -> str:
    # strings quoted too: a path such as "~" or "123" stays the string it is
    return json.dumps(v) if isinstance(v, (bool, list, tuple, str)) else str(v)


def resolve_config(prog: str, args: argparse.Namespace, load: Callable[[], Any]) -> tuple[Any, int | None]:
    """(config, None) to go on with; or (None, exit status) when a config error was printed (2) or,
    with --print-config, the resolved config (0)."""
    try:
        cfg = load()
    except (ConfigError, ValueError) as e:
        print(f"minisora {prog}: config error: {e}", file=sys.stderr)
        return None, 2
    if args.print_config:
        import yaml

        from minisora.config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return None, 0
    return cfg, None


def run_trainer(prog: str, args: argparse.Namespace, load: Callable[[], Any], train: Callable[[Any], dict]) -> int:
    """Load the config, then print it or train; the errors a user can fix become one line on stderr
    and an exit status (2: the config, 1: the run, 143: stopped by a signal after a checkpoint)."""
    from minisora.train.checkpoint import CheckpointError
    from minisora.train.harness import Interrupted
    from minisora.train.monitor import DivergedError

    cfg, status = resolve_config(prog, args, load)
    if status is not None:
        return status
    try:
        summary = train(cfg)
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        return INTERRUPTED_EXIT
    except (ConfigError, CheckpointError, FileNotFoundError, DivergedError) as e:
        print(f"minisora {prog}: {e}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {k: v for k, v in summary.items() if k not in ("history", "step_records", "step_times")}
        print(json.dumps(summary, indent=2, default=str))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "YAML file serialising TrainConfig (see configs/)")
    parser.add_argument("--export", metavar="DIR", default=None,
                        help="after training, export the EMA weights as a release folder (safetensors + config.json)")


def run(args: argparse.Namespace) -> int:
    from minisora.train.config import TrainConfig, check, dit_config
    from minisora.train.engine import train

    def load() -> TrainConfig:
        cfg = load_run_config(TrainConfig, args)
        check(cfg)
        dit_config(cfg.model)  # validate the model section now, not after the data has loaded
        return cfg

    def go(cfg: TrainConfig) -> dict:
        summary = train(cfg, allow_changed=args.allow_changed)
        if args.export and summary["checkpoint"] and int(os.environ.get("RANK", "0")) == 0:
            from minisora.train.export import export_release

            summary["release"] = str(export_release(summary["checkpoint"], args.export))
        return summary

    return run_trainer("train", args, load, go)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
