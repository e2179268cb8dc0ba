"""A job's files: the finished video and its two previews, and the inputs a job is accepted with.

Folder per job (the store's `job_dir`): video.mp4, thumbnail.webp, spritesheet.jpg, rewrite.json (the
caption the prompt became and what it could not show), and when given, input.png (the reference
image) or source.mp4 (the clip a remix or extension starts from). Every
file is written to a temporary name and renamed, so a reader or a crash never sees half a file.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from minisora.serve.errors import APIError

# variant -> (file name, media type); the one list of what /content serves
VARIANTS: dict[str, tuple[str, str]] = {
    "video": ("video.mp4", "video/mp4"),
    "thumbnail": ("thumbnail.webp", "image/webp"),
    "spritesheet": ("spritesheet.jpg", "image/jpeg"),
}
REWRITE_NAME = "rewrite.json"  # what the prompt became: caption, words not understood, what was given up
REFERENCE_NAME = "input.png"
SOURCE_NAME = "source.mp4"
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


def write_rewrite(folder: Path, report: dict | None) -> None:
    """The rewriter's report, reduced to what a user reads (the full one is large)."""
    from minisora.weights import atomic_write_bytes

    if not report:
        return
    keep = {k: report.get(k) for k in ("caption", "unmapped", "lost", "adjusted")}
    atomic_write_bytes(folder / REWRITE_NAME, json.dumps(keep).encode())


def read_rewrite(folder: Path) -> dict | None:
    """`write_rewrite`'s record, or None (no rewriter, an older job, or an unreadable file)."""
    try:
        data = json.loads((folder / REWRITE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_outputs(folder: Path, frames: np.ndarray, fps: float) -> None:
    """frames uint8 (T, H, W, 3) -> the three variants."""
    from PIL import Image

    from minisora.io import contact_sheet, export_to_video
    from minisora.weights import atomic_write_bytes

    folder.mkdir(parents=True, exist_ok=True)
    export_to_video(frames, folder / VARIANTS["video"][0], fps=fps, pad_odd=True)  # renames into place
    buf = io.BytesIO()
    Image.fromarray(frames[0]).save(buf, format="WEBP", quality=90)
    atomic_write_bytes(folder / VARIANTS["thumbnail"][0], buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(contact_sheet(frames)).save(buf, format="JPEG", quality=90)
    atomic_write_bytes(folder / VARIANTS["spritesheet"][0], buf.getvalue())


def decode_reference_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Uploaded image bytes -> uint8 (H, W, 3). 413 when it has more than max_pixels (checked from the
    header, before decoding, so a decompression bomb is never expanded); 422 when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in IMAGE_FORMATS:
                raise APIError(422, f"input_reference is a {im.format} image; use one of {', '.join(IMAGE_FORMATS)}",
                               "invalid_image", "input_reference")
            w, h = im.size
            if w * h > max_pixels:
                raise APIError(413, f"input_reference is {w}x{h} pixels; at most {max_pixels} pixels are accepted",
                               "image_too_large", "input_reference")
            if w < 2 or h < 2:
                raise APIError(422, f"input_reference is {w}x{h} pixels; it must be at least 2x2",
                               "invalid_image", "input_reference")
            return np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:  # PIL's own guard, for sizes far past ours
        raise APIError(413, f"input_reference has far more than {max_pixels} pixels", "image_too_large",
                       "input_reference") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise APIError(422, f"input_reference could not be read as an image ({type(e).__name__})", "invalid_image",
                       "input_reference") from None


def decode_data_url(url: str, max_bytes: int) -> bytes:
    """`data:image/...;base64,...` -> bytes. Other URLs are refused: this server never fetches."""
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise APIError(400, "input_reference.image_url must be a base64 data URL (data:image/png;base64,...); "
                            "this server does not fetch remote URLs", "invalid_value", "input_reference")
    payload = url.split(",", 1)[1]
    if len(payload) * 3 // 4 > max_bytes:
        raise APIError(413, f"input_reference is larger than {max_bytes} bytes", "image_too_large", "input_reference")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "input_reference.image_url is not valid base64", "invalid_value", "input_reference") from None


def save_reference_image(folder: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    from minisora.weights import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    atomic_write_bytes(folder / REFERENCE_NAME, buf.getvalue())


def copy_source_video(source_folder: Path, folder: Path) -> None:
    """The finished video a remix or extension starts from, copied into the new job's folder so the
    job stands alone (deleting the original later does not break it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{SOURCE_NAME}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source_folder / VARIANTS["video"][0], tmp)
        os.replace(tmp, folder / SOURCE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_reference_image(folder: Path) -> np.ndarray | None:
    from PIL import Image

    path = folder / REFERENCE_NAME
    if not path.is_file():
        return None
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
