"""`minisora rewrite "red ball going left"`: print the rewrite and the attributes kept, filled, unmapped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    parser.add_argument("--openai-api-key", action=_RefuseSecret, help=argparse.SUPPRESS)
    parser.add_argument("--openai-timeout", type=float, default=None, help="seconds to wait for a reply")
    parser.add_argument("--fallback-to-builtin", action="store_true",
                        help="when the openai endpoint fails, use the builtin rewriter instead of stopping")


class _RefuseSecret(argparse.Action):
    """`--openai-api-key VALUE` stops with a message that does not echo VALUE."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not accepted: a key on the command line is visible to other users "
                     f"(process list, shell history). Set MINISORA_OPENAI_API_KEY (or OPENAI_API_KEY), "
                     f"or pass --openai-api-key-file PATH")


def read_secret_file(path: str) -> str:
    """The first line of a secret file, stripped; a clear error for a missing, empty or unreadable one."""
    from minisora.text.rewriting import RewriteError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"API key file {str(p)!r} does not exist")
    try:
        key = p.read_text(encoding="utf-8").strip().splitlines()
    except UnicodeDecodeError:
        raise RewriteError(f"API key file {str(p)!r} is not UTF-8 text") from None
    if not key or not key[0].strip():
        raise RewriteError(f"API key file {str(p)!r} is empty")
    return key[0].strip()


def rewriter_from_args(args: argparse.Namespace):
    """The rewriter the flags ask for (shared with `minisora generate`)."""
    from minisora.text.backends import load_rewriter

    backend = getattr(args, "rewriter", "builtin")
    path = getattr(args, "rewriter_path", None)
    if backend == "openai":
        kw = {k: v for k, v in {"base_url": args.openai_base_url, "model": args.openai_model,
                                "api_key": read_secret_file(args.openai_api_key_file)
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
