"""Released weights: a folder holding `config.json`, `model.safetensors` and `checksums.sha256`, written atomically.

Every component (VAE, transformer, rewriter, upscaler) saves and loads through these functions, so
the model-folder format is defined once. Nothing here unpickles: safetensors holds tensors only and
the config is JSON.

Integrity. A flipped bit in a weights file still parses as a valid safetensors file and loads into a
model that quietly generates noise, so each folder records the SHA-256 of its weights file when it
is saved (`checksums.sha256`, the format `sha256sum -c` reads), and loading compares it before
anything is built. Loading also refuses a truncated file and non-finite weights, naming the file
(and tensor). `verify=False` (the CLIs' `--no-verify`, or the `verification(False)` context for
components loaded lazily) skips the checksum comparison, for weights edited on purpose; the
structural and finiteness checks always run. Folders saved before checksums existed load with a
warning; record theirs once with

    python -m minisora.weights record FOLDER [FOLDER ...]

(this is how the bundled folders under minisora/assets got theirs; it reads, never rewrites, the
weights).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CHECKSUMS_NAME = "checksums.sha256"

_verify_default = [True]  # the process-wide switch behind `verification()`


class WeightsError(ValueError):
    """A weights folder is corrupt, truncated or altered; the message names the file."""


class UnverifiedWeightsWarning(UserWarning):
    """A weights folder has no checksum record, so its bytes could not be verified."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; released files must be readable by everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_weights(folder: str | Path, state_dict: dict[str, torch.Tensor], config: dict,
                 dtype: torch.dtype | None = None) -> Path:
    """Save `state_dict` (optionally cast to `dtype`, e.g. bf16 for release), `config` and the weights'
    SHA-256 to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{WEIGHTS_NAME}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        digest = sha256_file(tmp)  # of the bytes on disk, i.e. exactly what loading will read
        os.chmod(tmp, 0o644)
        # The record goes first: a crash between the two renames leaves a record that names the new
        # bytes next to the old ones, which loading refuses loudly rather than accepting silently.
        write_checksums(folder, {WEIGHTS_NAME: digest})
        os.replace(tmp, folder / WEIGHTS_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_bytes(folder / CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode())
    return folder


def write_checksums(folder: str | Path, digests: dict[str, str]) -> Path:
    """`checksums.sha256` in `sha256sum` format: one `<hex>  <file name>` line per weights file."""
    text = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))
    path = Path(folder) / CHECKSUMS_NAME
    atomic_write_bytes(path, text.encode())
    return path


def read_checksums(folder: str | Path) -> dict[str, str] | None:
    """{file name: hex digest} from `folder/checksums.sha256`; None when the folder has no record."""
    path = Path(folder) / CHECKSUMS_NAME
    if not path.is_file():
        return None
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not line.strip():
            continue
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdef" for c in parts[0]):
            raise WeightsError(f"{path}:{n}: not a sha256sum line ('<64 hex digits>  <file name>'): {line[:80]!r}")
        out[parts[1].lstrip("*")] = parts[0]
    return out


@contextlib.contextmanager
def verification(enabled: bool):
    """Within this block, `load_weights(..., verify=None)` checks checksums only if `enabled`.
    For lazily loaded pipelines: `with verification(False): Pipeline.from_pretrained(p)(prompt)`."""
    before = _verify_default[0]
    _verify_default[0] = bool(enabled)
    try:
        yield
    finally:
        _verify_default[0] = before


def verify_folder(folder: str | Path) -> dict[str, str] | None:
    """Compare every file named in `folder`'s checksum record with its bytes; raise WeightsError naming
    the first file that differs. Returns the record (None when there is none)."""
    folder = Path(folder)
    record = read_checksums(folder)
    if record is None:
        return None
    for name, want in record.items():
        path = folder / name
        if not path.is_file():
            raise WeightsError(f"{path} is missing; {folder / CHECKSUMS_NAME} lists it")
        got = sha256_file(path)
        if got != want:
            raise WeightsError(
                f"{path} is corrupt or was altered: its SHA-256 is {got[:16]}..., but {CHECKSUMS_NAME} recorded "
                f"{want[:16]}... when it was saved. Restore the file (or retrain); to load it anyway, pass "
                f"--no-verify (Python: verify=False)")
    return record


def load_weights(folder: str | Path, dtype: torch.dtype | None = torch.float32,
                 verify: bool | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load (state_dict, config) from `folder`; floating tensors are cast to `dtype` (None keeps them).

    verify: compare the weights' SHA-256 with the folder's record (None = the `verification()`
    setting, on by default). Raises WeightsError naming the file for a checksum mismatch, a truncated
    or unparsable weights file, and non-finite weights; ConfigError for an invalid config.json.
    """
    from minisora.config import read_json

    folder = Path(folder)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a minisora weights folder: {name} is missing")
    config = read_json(folder / CONFIG_NAME)
    path = folder / WEIGHTS_NAME
    if _verify_default[0] if verify is None else verify:
        if verify_folder(folder) is None:
            warnings.warn(f"{folder} has no {CHECKSUMS_NAME}: its weights cannot be checked for corruption; "
                          f"record them with `python -m minisora.weights record {folder}`",
                          UnverifiedWeightsWarning, stacklevel=2)
    state = read_tensors(path)
    if dtype is not None:
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    return state, config


def read_tensors(path: str | Path, finite: bool = True) -> dict[str, torch.Tensor]:
    """A safetensors file -> {name: tensor}. Raises FileNotFoundError, or WeightsError naming the file for
    a truncated or unparsable file and (finite=True) for a floating tensor holding NaN or inf."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    data = path.read_bytes()
    try:
        state = load_safetensors_bytes(data)
    except Exception as e:  # safetensors raises its own error type (and others) for bad headers and sizes
        raise WeightsError(f"{path} is not a readable safetensors file ({len(data)} bytes; truncated or "
                           f"corrupt?): {type(e).__name__}: {e}") from None
    if finite:
        for k, v in state.items():
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                bad = int((~torch.isfinite(v)).sum())
                raise WeightsError(f"{path}: tensor {k!r} holds {bad} non-finite value(s) (NaN or inf) of "
                                   f"{v.numel()}; the weights are corrupt or come from a diverged run")
    return state


def record_checksums(root: str | Path) -> list[Path]:
    """Write `checksums.sha256` in every folder under `root` (itself included) that holds a
    `model.safetensors`, from the bytes as they are. Returns the records written."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{str(root)!r} is not a folder")
    written = []
    for weights in sorted(root.rglob(WEIGHTS_NAME)):
        written.append(write_checksums(weights.parent, {WEIGHTS_NAME: sha256_file(weights)}))
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m minisora.weights record|verify FOLDER ...`."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m minisora.weights",
                                description="record or verify the SHA-256 of weights folders")
    p.add_argument("action", choices=("record", "verify"))
    p.add_argument("folders", nargs="+")
    args = p.parse_args(argv)
    try:
        for root in args.folders:
            if args.action == "record":
                for path in record_checksums(root):
                    print(f"recorded {path}")
            else:
                found = sorted(Path(root).rglob(WEIGHTS_NAME))
                for weights in found:
                    if verify_folder(weights.parent) is None:
                        print(f"no record {weights.parent / CHECKSUMS_NAME}")
                        return 1
                    print(f"ok       {weights}")
    except (WeightsError, FileNotFoundError) as e:
        print(f"python -m minisora.weights: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
