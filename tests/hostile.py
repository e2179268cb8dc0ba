"""Shared pieces of the hostile-input suite (tests/test_hostile_*.py): tree snapshots that prove nothing
outside a command's named output changed, and a tiny debug model folder to attack."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "minisora"


def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` (Python's byte-code caches excluded: the
    interpreter writes those, not the command under test)."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def changed(before: dict[str, str], root: Path) -> set[str]:
    """Paths added, removed or altered under `root` since `before`."""
    after = snapshot(root)
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def fingerprint(root: Path) -> dict[str, tuple[int, int, int]]:
    """{relative path: (size, mtime_ns, inode)}: any write, in place or by rename, changes one of them.
    Cheap enough to take around every case; `snapshot` hashes contents where that matters."""
    return {str(p.relative_to(root)): (st.st_size, st.st_mtime_ns, st.st_ino)
            for p in sorted(Path(root).rglob("*")) if p.is_file() for st in [p.stat()]}


@pytest.fixture(autouse=True)
def bundled_models_unchanged():
    """Imported by every hostile test module: no case may alter the bundled model folders."""
    before = fingerprint(PACKAGE_DIR / "assets")
    yield
    assert fingerprint(PACKAGE_DIR / "assets") == before, "a case altered the bundled model folders"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A debug pipeline folder shared by a module's cases (trained at 64x64 only); the cases that must
    alter one copy it first, and at the end of the module the shared one must be as it was saved."""
    folder = debug_model(tmp_path_factory.mktemp("hostile") / "debug", trained_sizes=[(64, 64)])
    before = snapshot(folder)
    yield folder
    assert not changed(before, folder)


def debug_model(folder: Path, trained_sizes=None) -> Path:
    """A debug-preset pipeline folder (VAE + DiT + upscaler), saved with checksums."""
    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT
    from minisora.pipeline import ModelIndex, Pipeline
    from minisora.upscale.config import UpscalerConfig
    from minisora.upscale.model import Upscaler
    from minisora.vae.config import VAEConfig
    from minisora.vae.model import VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("debug"))
    dit = DiT(DiTConfig.preset("debug", latent_channels=vae.latent_channels))
    up = Upscaler(UpscalerConfig.preset("debug"))
    index = ModelIndex(name="debug", trained_sizes=list(trained_sizes or []))
    return Pipeline(vae=vae, transformer=dit, index=index, upscaler=up).save_pretrained(folder)


def flip_byte(path: Path, offset_from_end: int = 100) -> None:
    """XOR one byte of the tensor data (near the end, past the safetensors header) with 0x01."""
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def damaged_video(path: Path) -> Path:
    """A 17-frame H.264 clip with one byte flipped inside its coded frames, at the first offset (from 25%
    of the file on) where FFmpeg's decoder notices; most flips there are noticed (21 of 24 probed)."""
    import numpy as np

    from minisora.io import export_to_video, read_video

    x = np.zeros((17, 64, 64, 3), np.uint8)
    x[..., 2] = np.linspace(0, 200, 64, dtype=np.uint8)[None, None, :]
    for t in range(17):
        x[t, 20:40, 5 + 2 * t:25 + 2 * t] = (255, 0, 0)
    export_to_video(x, path)
    good = path.read_bytes()
    for offset in range(len(good) // 4, len(good) * 9 // 10, 7):
        data = bytearray(good)
        data[offset] ^= 0x55
        path.write_bytes(bytes(data))
        errors: list[str] = []
        try:
            read_video(path, errors)
        except ValueError:
            continue
        if errors:
            return path
    raise AssertionError("no single-byte flip was noticed by the decoder")
