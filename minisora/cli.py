"""The `minisora` command: argument parsing only; every subcommand calls library code.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`,
so a component's command line sits next to the component. The table below is the one list of them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

# subcommand -> (module, one-line help). Modules are imported only when their command runs, so
# `minisora --help` stays fast and a broken optional component cannot break the others.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("minisora.data.synth_cli", "render MovingShapes clips with captions"),
    "train-vae": ("minisora.vae.train_cli", "train the video VAE"),
    "train": ("minisora.train.cli", "train the diffusion transformer from a YAML config"),
    "scale": ("minisora.scale.cli", "scaling study: a grid of sizes x compute budgets, fits and figures"),
    "cache-latents": ("minisora.train.cache_cli", "encode a dataset once into latent + text shards"),
    "train-rewriter": ("minisora.text.train_cli", "train the builtin prompt rewriter"),
    "rewrite": ("minisora.text.rewrite_cli", "rewrite a short prompt into a descriptive caption"),
    "generate": ("minisora.generate_cli", "generate a video from a prompt"),
    "eval": ("minisora.eval.eval_cli", "judge a model on held-out prompts"),
    "train-upscaler": ("minisora.upscale.train_cli", "train the super-resolution stage"),
    "upscale": ("minisora.upscale.upscale_cli", "upscale a video clip"),
    "export": ("minisora.export_cli", "assemble a model folder from trained components"),
    "recipe": ("minisora.recipe_cli", "run a declared recipe's stages (resumable) into a run folder"),
    "serve": ("minisora.serve.cli", "serve the OpenAI Videos API and a web page for a local model"),
    "convert": ("minisora.convert_cli", "convert a Wan2.1 folder (diffusers layout) into a minisora model folder"),
}


def thread_count(text: str) -> int:
    """argparse type of every `--threads`: 0 (torch's default) or 1 .. the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= cores:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count: use 0 (torch's default) or 1 to "
                                         f"{cores} (the cores available here)")
    return n


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minisora", description="Text-to-video, Sora's recipe at laptop scale.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only=command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    from minisora.malloc import keep_freed_memory
    module = importlib.import_module(COMMANDS[args.command][0])
    plain = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        # minisora's own warnings (untrained size, damaged video, unverified weights) read as one line
        if category.__module__.startswith("minisora"):
            print(f"minisora {args.command}: warning: {message}", file=sys.stderr)
        else:
            plain(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        keep_freed_memory()  # before the command allocates anything big (minisora/malloc.py says why)
        return int(module.run(args) or 0)
    except user_errors() as e:
        # Bad input (a corrupt weights file, invalid YAML/JSON, an unreadable video, ...) is reported
        # as one line naming the file or key, whichever command met it; a traceback means a bug.
        print(f"minisora {args.command}: {e}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = plain


def user_errors() -> tuple[type[BaseException], ...]:
    """The project's own error types for bad input (each names the file or key and what is valid)."""
    from minisora.config import ConfigError
    from minisora.generation_checks import MemoryEstimateError, NonFiniteError
    from minisora.io import VideoReadError
    from minisora.weights import WeightsError

    return (ConfigError, WeightsError, VideoReadError, MemoryEstimateError, NonFiniteError, FileNotFoundError)


if __name__ == "__main__":
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun (e.g. `train-vae` data parallel): leave without interpreter teardown, where gloo's
        # threads can abort an already finished process (minisora/train/__main__.py has the details).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
