"""`minisora recipe RECIPE.yaml [--smoke] [--only STAGE ...] [--run-dir DIR]`: run a declared recipe
(minisora.recipe): its unfinished stages in order, each resumable, into one run folder."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file, e.g. configs/minisora-tiny/recipe.yaml")
    parser.add_argument("--smoke", action="store_true", help="every stage at debug size (minutes; a test)")
    parser.add_argument("--only", nargs="+", default=None, metavar="STAGE", help="run just these stages")
    parser.add_argument("--run-dir", default=None, help="run folder (default: the recipe's run_dir)")


def run(args: argparse.Namespace) -> int:
    from minisora.config import ConfigError
    from minisora.recipe import run_recipe

    try:
        report = run_recipe(args.recipe, smoke=args.smoke, run_dir=args.run_dir, only=args.only)
    except (ConfigError, FileNotFoundError, RuntimeError) as e:
        print(f"minisora recipe: {e}", file=sys.stderr)
        return 1
    for name, r in report.items():
        took = f"{r['seconds'] / 60:6.1f} min" if "seconds" in r else ""
        print(f"  {name:<14} {r['status']:<16} {took}")
    return 0
