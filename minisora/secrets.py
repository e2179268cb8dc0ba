"""Secrets (API keys) come from the environment or a file, never from the command line: a value on the
command line is visible to every user of the machine (`ps`, /proc/PID/cmdline) and lands in shell history.

`RefuseSecret` is the argparse action for a flag that used to take a key: it stops with a message that
says where the key goes instead, without echoing the value. `read_secret_file` reads a key file.
"""

from __future__ import annotations

import argparse
from pathlib import Path


class RefuseSecret(argparse.Action):
    """`--some-key VALUE` stops (exit 2) without echoing VALUE. The flag's metavar says where the key goes
    instead, as "ENV_VAR|OTHER_ENV_VAR|--key-file-flag" (argparse actions take no extra arguments)."""

    def __call__(self, parser, namespace, values, option_string=None):
        *env, file_flag = (self.metavar or "|--key-file").split("|")
        where = " or ".join(env) if env else "the environment"
        parser.error(f"{option_string} is not accepted: a key on the command line is visible to other users "
                     f"(process list, shell history). Set {where}, or pass {file_flag} PATH")


def read_secret_file(path: str | Path) -> str:
    """The first line of a key file, stripped. FileNotFoundError for a missing file, ValueError naming the
    file for an empty or non-UTF-8 one."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"key file {str(p)!r} does not exist")
    try:
        lines = p.read_text(encoding="utf-8").strip().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"key file {str(p)!r} is not UTF-8 text") from None
    if not lines or not lines[0].strip():
        raise ValueError(f"key file {str(p)!r} is empty")
    return lines[0].strip()
