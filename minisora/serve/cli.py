"""`minisora serve`: the OpenAI Videos API and a web page for a local model, on 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

DEFAULT_DATA = "serve-data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.serve.app import ServeSettings

    d = ServeSettings(data_dir=Path(DEFAULT_DATA))
    parser.add_argument("--model", default=None, metavar="DIR", help="model folder (default: bundled minisora-tiny)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port, printed)")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="require 'Authorization: Bearer KEY' on /v1/; prefer $MINISORA_API_KEY or "
                             "--api-key-file (a key on the command line shows in the process list)")
    parser.add_argument("--api-key-file", default=None, metavar="PATH", help="read the key from this file's first line")
    parser.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                        help=f"job database and videos (default ./{DEFAULT_DATA})")
    parser.add_argument("--threads", type=int, default=d.threads, help="torch threads in the worker process")
    parser.add_argument("--max-seconds", type=int, default=d.max_seconds, help="longest clip a request may ask for")
    parser.add_argument("--max-steps", type=int, default=d.max_steps, help="most sampling steps a request may ask for")
    parser.add_argument("--max-queue", type=int, default=d.max_queue, help="queued + running jobs before 429s")
    parser.add_argument("--max-request-mb", type=float, default=d.max_request_bytes / 2**20,
                        help="largest request body, uploads included")
    parser.add_argument("--ttl-seconds", type=int, default=d.ttl_seconds,
                        help="finished jobs and their files are deleted this long after they finish (default 1 day)")
    parser.add_argument("--cleanup-every", type=float, default=d.cleanup_every, help="seconds between expiry sweeps")
    parser.add_argument("--poll-after-ms", type=int, default=d.poll_after_ms,
                        help="the openai-poll-after-ms header on queued and running jobs")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from minisora.serve.app import ServeSettings, create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(name)s: %(message)s")
    api_key = _api_key(args)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle holds each response's body behind its headers for a delayed ACK (~40 ms a request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))  # bound here so --port 0 can print the port it got
    sock.listen(2048)  # now: a client that connects as soon as "ready" is printed waits in the backlog, not refused
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    settings = ServeSettings(
        data_dir=Path(args.data), model=args.model, api_key=api_key, threads=args.threads,
        max_seconds=args.max_seconds, max_steps=args.max_steps, max_queue=args.max_queue,
        max_request_bytes=int(args.max_request_mb * 2**20), ttl_seconds=args.ttl_seconds,
        cleanup_every=args.cleanup_every, poll_after_ms=args.poll_after_ms,
        ready_message=f"minisora serve: ready at http://{host}:{port}/ (model {{model}}, data {args.data})")
    config = uvicorn.Config(create_app(settings), log_level=args.log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _api_key(args: argparse.Namespace) -> str | None:
    """The bearer key: --api-key-file, else $MINISORA_API_KEY, else --api-key (issue 31 names the flag;
    it stays, with a warning, because secrets on the command line are visible to other users)."""
    from minisora.secrets import read_secret_file

    given = [n for n, v in (("--api-key", args.api_key), ("--api-key-file", args.api_key_file)) if v]
    if len(given) > 1:
        raise SystemExit("minisora serve: give either --api-key or --api-key-file, not both")
    if args.api_key_file:
        try:
            return read_secret_file(args.api_key_file)
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"minisora serve: {e}") from None
    if args.api_key:
        print("minisora serve: warning: --api-key is visible in the process list; prefer $MINISORA_API_KEY "
              "or --api-key-file", file=sys.stderr)
        return args.api_key
    return os.environ.get("MINISORA_API_KEY") or None
