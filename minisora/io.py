"""Reading and writing videos: the one place minisora touches video files.

Frames are always uint8 RGB arrays of shape (T, H, W, 3). Formats:

- ``.mp4`` (and for reading any container FFmpeg knows: .mov, .mkv, .avi, .webm): H.264, yuv420p,
  via PyAV (FFmpeg bundled in its wheel). yuv420p stores colour at half resolution, so H and W
  must be even: odd sizes raise a ValueError unless ``pad_odd=True``, which repeats the last
  row/column (the decoded video is then one pixel larger; we never crop or pad silently).
- ``.gif``: via Pillow, 256-colour palette. GIF stores frame durations in 1/100 s, so fps read back
  is the nearest value 100/k (8 fps -> 8.33); the exact fps and frame count are kept in the GIF
  comment and read back from it. (Pillow merges identical consecutive frames into one longer
  frame; the reader expands them again from their durations.)
- ``.png``: a contact sheet: the frames in a grid, in reading order, separated by a 2-pixel gap.
  The grid layout and fps are stored in a PNG text chunk, so `read_video` splits the sheet back
  into frames losslessly. A plain image (no such chunk) reads as a one-frame video at
  DEFAULT_FPS.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

WRITE_FORMATS: tuple[str, ...] = (".mp4", ".gif", ".png")
READ_FORMATS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif", ".png")
DEFAULT_FPS = 8.0
# x264 constant rate factor: 0 is lossless, 23 is FFmpeg's default. On saturated MovingShapes
# clips at 64x64 the round trip is ~32.5 dB PSNR at any CRF from 0 to 18 (measured: 32.7 at 0, 32.4
# at 18): the loss is yuv420p's half-resolution colour at sharp colour edges, not the CRF, so 18
# (visually lossless, ~4.7 kB per 17-frame clip) is the default.
DEFAULT_CRF = 18
_SHEET_GAP = 2
_SHEET_KEY = "minisora_contact_sheet"
_GIF_COMMENT_PREFIX = "minisora "


class VideoReadError(ValueError):
    """A video file exists but cannot be decoded (corrupt, truncated, not a video)."""


class CorruptVideoWarning(UserWarning):
    """The decoder reported errors inside a video that still decoded: some frames may be damaged."""


IMAGE_FORMATS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def read_image(path) -> np.ndarray:
    """Decode one image file -> uint8 (H, W, 3) RGB. Raises FileNotFoundError for a missing file and
    VideoReadError naming the file for one that is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {str(path)!r}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:  # Pillow's errors for bad files
        raise VideoReadError(f"cannot read {str(path)!r} as an image ({type(e).__name__}: {e}); "
                             f"valid: a readable {', '.join(IMAGE_FORMATS)} file") from None


@contextlib.contextmanager
def decoder_errors(path: Path, errors: list | None):
    """Collect the error messages FFmpeg's decoders log while the block runs (a damaged H.264 slice
    is concealed, not raised: the log is the only sign), then report them: appended to `errors`
    when a list is given, else one CorruptVideoWarning naming the file and the count."""
    import av.logging

    before, skip_before = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # else reading the same damaged file twice reports nothing
    found: list[str] = []
    try:
        # local=False: frame-threaded decoding logs from FFmpeg's worker threads
        with av.logging.Capture(local=False) as logs:
            yield found
        found.extend(f"{name}: {msg.strip()}" for level, name, msg in logs if level <= av.logging.ERROR)
    finally:
        av.logging.set_level(before)
        av.logging.set_skip_repeated(skip_before)
    if not found:
        return
    if errors is not None:
        errors.extend(found)
    else:
        warnings.warn(f"{path}: the decoder reported {len(found)} error(s) (first: {found[0]}); "
                      f"some frames may be damaged", CorruptVideoWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def _as_frames(frames) -> np.ndarray:
    """Check and convert frames to a contiguous uint8 (T, H, W, 3) array."""
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise ValueError("no frames given: expected a uint8 array (T, H, W, 3) with T >= 1 "
                             "or a non-empty list of (H, W, 3) frames")
        frames = [_to_numpy(f) for f in frames]
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"all frames must have the same shape, got {sorted(shapes)}")
        dtypes = {f.dtype for f in frames}
        if dtypes != {np.dtype(np.uint8)}:
            raise ValueError(f"frames must be uint8 (values 0-255), got dtype {sorted(map(str, dtypes))}; "
                             "convert with ((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8) "
                             "for [-1, 1] data")
        if frames[0].ndim != 3:
            raise ValueError(f"each frame in a list must be (H, W, 3), got shape {frames[0].shape}")
        arr = np.stack(frames)
    else:
        arr = _to_numpy(frames)
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (values 0-255), got dtype {arr.dtype}; convert with "
                         "((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8) for [-1, 1] data")
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3) (RGB, channels last), got {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"frames must be non-empty, got shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    raise ValueError(f"frames must be a numpy array, a torch tensor or a list of them, got {type(x).__name__}")


def checked_suffix(path: Path, valid: Sequence[str], action: str) -> str:
    ext = path.suffix.lower()
    if ext not in valid:
        raise ValueError(f"cannot {action} {str(path)!r}: unknown extension {ext or '(none)'!r}; "
                         f"valid: {', '.join(valid)}")
    return ext


def check_output_path(path) -> Path:
    """Check, before any work, that a video can be written to `path`: a known extension, not an existing
    folder, and a folder that exists (or can be made) and is writable. Returns the Path; raises ValueError."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; name a video file, e.g. {str(path / 'clip.mp4')!r}")
    checked_suffix(path, WRITE_FORMATS, "write")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the first folder that exists: export_to_video creates the rest
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {str(path)!r}: no write permission in {str(parent)!r}")
    return path


def sidecar_path(path) -> Path:
    """The JSON sidecar of an output file: its full name + `.json` (`x.gif` -> `x.gif.json`), so `x.gif`
    and `x.png` in one folder never share (and overwrite) one sidecar."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _check_fps(fps) -> float:
    if not isinstance(fps, (int, float, np.integer, np.floating)) or isinstance(fps, bool) \
            or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def export_to_video(frames, path, fps: float = DEFAULT_FPS, *, pad_odd: bool = False,
                    crf: int = DEFAULT_CRF) -> Path:
    """Write frames (uint8 (T, H, W, 3) array/tensor, or list of (H, W, 3)) to `path`.

    The format follows the extension (.mp4, .gif, .png contact sheet). Parent folders are
    created; the file is written to a temporary name first and renamed, so a crash never leaves
    a half-written video under the final name. Returns the path.
    """
    path = Path(path)
    ext = checked_suffix(path, WRITE_FORMATS, "write")
    arr = _as_frames(frames)
    fps = _check_fps(fps)
    if ext == ".mp4" and (arr.shape[1] % 2 or arr.shape[2] % 2):
        if not pad_odd:
            raise ValueError(f"H.264 yuv420p needs even height and width, got {arr.shape[1]}x{arr.shape[2]}; "
                             "crop or pad the frames, pass pad_odd=True to repeat the last row/column, "
                             "or write .gif/.png")
        arr = np.pad(arr, ((0, 0), (0, arr.shape[1] % 2), (0, arr.shape[2] % 2), (0, 0)), mode="edge")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{ext}")
    try:
        if ext == ".mp4":
            _write_mp4(arr, tmp, fps, crf)
        elif ext == ".gif":
            _write_gif(arr, tmp, fps)
        else:
            _write_png_sheet(arr, tmp, fps)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_mp4(arr: np.ndarray, path: Path, fps: float, crf: int) -> None:
    import av

    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        # The bytes are a function of the frames alone: one encoder and one lookahead thread, no macroblock
        # tree (with it, one clip gave 6 different files in 60 encodes, by heap state; without, 1 in 60 at
        # five sizes; tests/test_io.py). The cost is a larger file at the same CRF.
        stream.options = {"crf": str(int(crf)), "preset": "medium", "threads": "1",
                          "x264-params": "threads=1:lookahead-threads=1:mbtree=0"}
        for frame in arr:
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(vf.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():  # flush delayed frames
            container.mux(packet)


def _write_gif(arr: np.ndarray, path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in arr]
    comment = _GIF_COMMENT_PREFIX + json.dumps({"fps": fps, "frames": int(arr.shape[0])})
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps,
                   loop=0, comment=comment.encode(), disposal=1)


def _sheet_layout(num_frames: int) -> tuple[int, int]:
    cols = min(num_frames, max(1, math.ceil(math.sqrt(num_frames * 16 / 9))))  # roughly 16:9
    rows = math.ceil(num_frames / cols)
    return rows, cols


def contact_sheet(frames, cols: int | None = None, gap: int = _SHEET_GAP, fill: int = 255) -> np.ndarray:
    """Frames (T, H, W, 3) laid out in a grid (reading order) -> uint8 (rows*(H+gap)-gap, ..., 3)."""
    arr = _as_frames(frames)
    T, H, W, _ = arr.shape
    rows, c = _sheet_layout(T)
    if cols is not None:
        if cols < 1:
            raise ValueError(f"cols must be >= 1, got {cols}")
        c, rows = cols, math.ceil(T / cols)
    sheet = np.full((rows * (H + gap) - gap, c * (W + gap) - gap, 3), fill, dtype=np.uint8)
    for i, f in enumerate(arr):
        r, q = divmod(i, c)
        sheet[r * (H + gap):r * (H + gap) + H, q * (W + gap):q * (W + gap) + W] = f
    return sheet


def _write_png_sheet(arr: np.ndarray, path: Path, fps: float) -> None:
    from PIL import Image, PngImagePlugin

    T, H, W, _ = arr.shape
    rows, cols = _sheet_layout(T)
    info = PngImagePlugin.PngInfo()
    info.add_text(_SHEET_KEY, json.dumps({"frames": T, "height": H, "width": W, "rows": rows, "cols": cols,
                                          "gap": _SHEET_GAP, "fps": fps}))
    Image.fromarray(contact_sheet(arr, cols=cols)).save(path, format="PNG", pnginfo=info)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def read_video(path, decode_errors: list | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file -> (frames uint8 (T, H, W, 3), fps as float).

    Raises FileNotFoundError for a missing file, ValueError for an unknown extension and
    VideoReadError (a ValueError) for a file that cannot be decoded or holds no frames.
    Errors the decoder reports inside a file that still decodes (damaged frames) are appended to
    `decode_errors` when given, else warned once as a CorruptVideoWarning with their count.
    """
    path = Path(path)
    ext = checked_suffix(path, READ_FORMATS, "read")
    if not path.is_file():
        raise FileNotFoundError(f"no such video file: {str(path)!r}")
    if path.stat().st_size == 0:
        raise VideoReadError(f"cannot read {str(path)!r}: the file is empty (0 bytes)")
    try:
        if ext == ".gif":
            return _read_gif(path)
        if ext == ".png":
            return _read_png(path)
        with decoder_errors(path, decode_errors) as found:
            frames, fps, expected = _read_av(path)
            if expected and frames.shape[0] != expected:
                found.append(f"container: its header lists {expected} frames but {frames.shape[0]} decoded")
        return frames, fps
    except VideoReadError:
        raise
    except Exception as e:  # FFmpeg/Pillow errors come in many types; name the file and the cause
        raise VideoReadError(f"cannot read {str(path)!r}: {type(e).__name__}: {e}") from e


def _read_av(path: Path) -> tuple[np.ndarray, float, int]:
    """-> (frames, fps, frame count stated by the header or 0)."""
    import av

    with av.open(str(path), mode="r") as container:
        if not container.streams.video:
            raise VideoReadError(f"cannot read {str(path)!r}: it holds no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        expected = int(stream.frames or 0)
    if not frames:
        raise VideoReadError(f"cannot read {str(path)!r}: no frame could be decoded")
    if not rate:
        raise VideoReadError(f"cannot read {str(path)!r}: the stream states no frame rate")
    return np.stack(frames), float(rate), expected


def _read_gif(path: Path) -> tuple[np.ndarray, float]:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        comment = im.info.get("comment", b"")
        frames, durations = [], []
        for f in ImageSequence.Iterator(im):
            frames.append(np.asarray(f.convert("RGB")))
            durations.append(f.info.get("duration", 0) or 0)
    if not frames:
        raise VideoReadError(f"cannot read {str(path)!r}: no frame could be decoded")
    meta = {}
    if isinstance(comment, bytes) and comment.startswith(_GIF_COMMENT_PREFIX.encode()):
        meta = json.loads(comment[len(_GIF_COMMENT_PREFIX):].decode())
    positive = [d for d in durations if d > 0]
    fps = float(meta["fps"]) if "fps" in meta else (1000.0 / float(np.median(positive)) if positive else DEFAULT_FPS)
    # Expand frames that Pillow merged (identical consecutive frames, one longer duration).
    step = 1000.0 / fps
    counts = [max(1, round(d / step)) if d > 0 else 1 for d in durations]
    out = np.stack([f for f, k in zip(frames, counts) for _ in range(k)])
    if "frames" in meta and out.shape[0] != meta["frames"]:
        if out.shape[0] > meta["frames"]:
            out = out[:meta["frames"]]
        else:  # rounding lost a frame: repeat the last one (a GIF cannot say which)
            out = np.concatenate([out, np.repeat(out[-1:], meta["frames"] - out.shape[0], axis=0)])
    return out, fps


def _read_png(path: Path) -> tuple[np.ndarray, float]:
    from PIL import Image

    with Image.open(path) as im:
        meta_text = im.info.get(_SHEET_KEY)
        img = np.asarray(im.convert("RGB"))
    if meta_text is None:  # a plain image: a one-frame video
        return img[None].copy(), DEFAULT_FPS
    m = json.loads(meta_text)
    H, W, gap, cols = m["height"], m["width"], m["gap"], m["cols"]
    frames = []
    for i in range(m["frames"]):
        r, q = divmod(i, cols)
        frames.append(img[r * (H + gap):r * (H + gap) + H, q * (W + gap):q * (W + gap) + W])
    return np.stack(frames), float(m["fps"])


# ---------------------------------------------------------------------------------------------
# The pixel scale: uint8 [0, 255] on disk and in outputs, float [-1, 1] inside every model.
# These two functions are the only place the scale is written; the axis order is the caller's.
# ---------------------------------------------------------------------------------------------

PIXEL_HALF_RANGE = 127.5  # uint8 v <-> float v / 127.5 - 1


def pixels_to_unit(pixels):
    """uint8 pixels (numpy array or tensor, any shape) -> float32 tensor in [-1, 1], same shape."""
    import torch

    x = torch.as_tensor(np.asarray(pixels) if not isinstance(pixels, torch.Tensor) else pixels)
    if x.dtype != torch.uint8:
        raise TypeError(f"pixels must be uint8 (0..255), got {x.dtype}")
    return x.float() / PIXEL_HALF_RANGE - 1.0


def unit_to_pixels(x):
    """float tensor in [-1, 1] (any shape; values outside are clamped) -> uint8 tensor, same shape."""
    import torch

    return ((x.float().clamp(-1, 1) + 1.0) * PIXEL_HALF_RANGE).round().to(torch.uint8)
