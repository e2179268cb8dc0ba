"""`minisora rewrite "red ball going left"`: print the rewrite and the attributes kept, filled, unmapped."""

from __future__ import annotations

import argparse
import json

from minisora.secrets import RefuseSecret, read_secret_file
from minisora.text.config import REWRITER_BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the short prompt to rewrite")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (same seed, same rewrite)")
    parser.add_argument("--num", type=int, default=1, help="rewrites to print, with seeds seed, seed+1, ...")
    parser.add_argument("--json", action="store_true", help="print each result as one JSON line")
    add_rewriter_arguments(parser)


def add_rewriter_arguments(parser: argparse.ArgumentParser) -> None:
    """The rewriter flags; `minisora generate` adds the same ones and calls `rewriter_from_args`."""
    parser.add_argument("--rewriter", choices=REWRITER_BACKENDS, default="builtin", help="backend (default: builtin)")
    parser.add_argument("--rewriter-path", default=None, help="builtin rewriter weights folder (default: shipped)")
    parser.add_argument("--openai-base-url", default=None, help="chat-completions base URL (or MINISORA_OPENAI_BASE_URL)")
    parser.add_argument("--openai-model", default=None, help="model name (or MINISORA_OPENAI_MODEL)")
    # Secrets never on the command line: other users read it from the process list, and it lands in
    # shell history. The key comes from MINISORA_OPENAI_API_KEY / OPENAI_API_KEY or a file.
    parser.add_argument("--openai-api-key-file", default=None, metavar="PATH",
                        help="file holding the API key (default: MINISORA_OPENAI_API_KEY, then OPENAI_API_KEY)")
    parser.add_argument("--openai-api-key", action=RefuseSecret, help=argparse.SUPPRESS,
                        metavar="MINISORA_OPENAI_API_KEY|OPENAI_API_KEY|--openai-api-key-file")
    parser.add_argument("--openai-timeout", type=float, default=None, help="seconds to wait for a reply")
    parser.add_argument("--fallback-to-builtin", action="store_true",
                        help="when the openai endpoint fails, use the builtin rewriter instead of stopping")


def _read_key(path: str) -> str:
    from minisora.text.rewriting import RewriteError

    try:
        return read_secret_file(path)
    except ValueError as e:  # the rewrite command reports RewriteErrors in one line
        raise RewriteError(str(e)) from None


def rewriter_from_args(args: argparse.Namespace):
    """The rewriter the flags ask for (shared with `minisora generate`)."""
    from minisora.text.backends import load_rewriter

    backend = getattr(args, "rewriter", "builtin")
    path = getattr(args, "rewriter_path", None)
    if backend == "openai":
        kw = {k: v for k, v in {"base_url": args.openai_base_url, "model": args.openai_model,
                                "api_key": _read_key(args.openai_api_key_file)
                                if args.openai_api_key_file else None,
                                "timeout": args.openai_timeout}.items()
              if v is not None}
        if args.fallback_to_builtin:
            kw["fallback_to_builtin"] = True
        return load_rewriter("openai", path, **kw)
    return load_rewriter(backend, path) if backend == "builtin" else load_rewriter(backend)


def run(args: argparse.Namespace) -> int:
    from minisora.text.rewriting import RewriteError

    try:
        rewriter = rewriter_from_args(args)
        for i in range(args.num):
            result = rewriter.rewrite(args.prompt, seed=args.seed + i)
            print(json.dumps(result.to_dict()) if args.json else result.summary())
    except (RewriteError, FileNotFoundError) as e:
        print(f"minisora rewrite: {e}")
        return 1
    return 0
