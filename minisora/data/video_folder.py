"""A torch Dataset over real video files with captions.

Sources (`root_or_index`):
- a folder: every video file below it (extensions in `VIDEO_EXTENSIONS`), captioned by a sidecar
  text file with the same name and `.txt` extension (`clip.mp4` + `clip.txt`); a video without
  one gets the empty caption (trained as unconditional) and is counted in `.report()`;
- a `.jsonl` file (one JSON object per line) or a `.csv` file (header row) with a `path` column
  and a `caption` column; relative paths are relative to the index file's folder.
  (`minisora synth` writes such a `captions.jsonl`.)

Each item is a clip of `num_frames` frames sampled at `fps` (frame indices step by
source_fps / fps, rounded; fps=None keeps the source rate, i.e. consecutive frames), resized so it
covers (height, width) and centre-cropped, as float32 (3, T, H, W) in [-1, 1]:
{"video", "caption", "path"}.

Choices, stated once:
- Clip start: "random" (default; from a generator seeded by (seed, index, epoch), so a run is
  reproducible and `set_epoch` varies it) or "start" (always frame 0).
- Files shorter than the clip are PADDED by repeating their last frame (so short clips and
  near-still videos remain usable); how many items were padded is counted in `.report()`.
- Unreadable files (corrupt, truncated, not a video), and videos whose caption file is not UTF-8
  text, are skipped: ONE warning per file, counted in `.report()`, and `__getitem__` falls through to the next readable index, so an epoch never
  crashes on a bad file. Only if every file is unreadable does it raise. With DataLoader
  workers, each worker keeps its own tally; call `.validate()` in the main process for a full
  report up front. Files that decode but with decoder errors (damaged frames) are kept and counted
  in `.report()["damaged"]`; `.summary()` is the one-line tally the CLIs print.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from minisora.frame_reader import probe_video, read_frames
from minisora.io import PIXEL_HALF_RANGE, READ_FORMATS, VideoReadError

VIDEO_EXTENSIONS: tuple[str, ...] = tuple(e for e in READ_FORMATS if e != ".png")
INDEX_EXTENSIONS: tuple[str, ...] = (".jsonl", ".csv")
CLIP_STARTS: tuple[str, ...] = ("random", "start")


def cover_size(h: int, w: int, height: int, width: int) -> tuple[int, int]:
    """Smallest (nh, nw) with the aspect ratio of (h, w) that covers (height, width)."""
    scale = max(height / h, width / w)
    return max(height, round(h * scale)), max(width, round(w * scale))


def resize_center_crop(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(T, C, h, w) float -> (T, C, height, width): scale (antialiased bilinear) so the frame covers
    the target, then cut the centre. Aspect ratio is kept; nothing is stretched."""
    T, C, h, w = video.shape
    nh, nw = cover_size(h, w, height, width)
    if (nh, nw) != (h, w):
        video = F.interpolate(video, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - height) // 2, (nw - width) // 2
    return video[:, :, top:top + height, left:left + width]


class VideoFolderDataset(torch.utils.data.Dataset):
    """Clips from real videos (see module docstring)."""

    def __init__(self, root_or_index, num_frames: int, height: int, width: int, fps: float | None = None,
                 clip_start: str = "random", seed: int = 0) -> None:
        for name, v in (("num_frames", num_frames), ("height", height), ("width", width)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number or None (keep the source rate), got {fps!r}")
        if clip_start not in CLIP_STARTS:
            raise ValueError(f"unknown clip_start {clip_start!r}; valid: {', '.join(CLIP_STARTS)}")
        self.num_frames, self.height, self.width = num_frames, height, width
        self.fps = None if fps is None else float(fps)
        self.clip_start, self.seed, self.epoch = clip_start, int(seed), 0
        self.source = Path(root_or_index)
        self._bad: dict[str, str] = {}  # path -> reason
        self._damaged: dict[str, int] = {}  # path -> decoder errors seen while reading it
        self.items: list[tuple[Path, str]] = self._list(self.source, self._bad)
        if not self.items and not self._bad:
            raise ValueError(f"no videos found in {str(self.source)!r} (looked for {', '.join(VIDEO_EXTENSIONS)})")
        if not self.items:
            raise ValueError(f"none of the {len(self._bad)} videos in {str(self.source)!r} is usable; "
                             f"first failure: {next(iter(self._bad.items()))}")
        self._probe: dict[int, tuple[int, float, int, int]] = {}
        self._padded: set[str] = set()
        self._skipped_at_listing = len(self._bad)  # not in self.items: listed, but their caption was unreadable
        self._missing_captions = sum(1 for _, c in self.items if c is None)
        self.items = [(p, c or "") for p, c in self.items]

    # -- listing ---------------------------------------------------------------------------

    @staticmethod
    def _list(source: Path, bad: dict[str, str]) -> list[tuple[Path, str | None]]:
        """(video, caption or None) pairs; videos whose caption file cannot be read go to `bad`."""
        if not source.exists():
            raise FileNotFoundError(f"no such folder or index file: {str(source)!r}")
        if source.is_dir():
            out = []
            for p in sorted(source.rglob("*")):
                if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."):
                    txt = p.with_suffix(".txt")
                    try:
                        out.append((p, txt.read_text(encoding="utf-8").strip() if txt.is_file() else None))
                    except (UnicodeDecodeError, OSError) as e:
                        reason = (f"caption file {txt} is not UTF-8 text (byte {e.start}: {e.reason})"
                                  if isinstance(e, UnicodeDecodeError) else f"caption file {txt}: {e}")
                        bad[str(p)] = reason
                        warnings.warn(f"skipping {p}: {reason}", RuntimeWarning, stacklevel=3)
            return out
        ext = source.suffix.lower()
        if ext not in INDEX_EXTENSIONS:
            raise ValueError(f"{str(source)!r} is neither a folder nor an index file; valid index "
                             f"extensions: {', '.join(INDEX_EXTENSIONS)}")
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{source}: not UTF-8 text (byte {e.start}); an index file must be UTF-8") from None
        if ext == ".jsonl":
            rows = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{source}:{n}: not valid JSON ({e})") from None
        else:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        out = []
        for n, row in enumerate(rows, 1):
            missing = [k for k in ("path", "caption") if k not in row]
            if missing:
                raise ValueError(f"{source}: row {n} lacks column(s) {missing}; found {sorted(row)}; "
                                 "an index needs 'path' and 'caption'")
            p = Path(row["path"])
            out.append((p if p.is_absolute() else source.parent / p, str(row["caption"])))
        return out

    # -- sampling --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random clip starts per epoch (deterministically)."""
        self.epoch = int(epoch)

    def _indices(self, index: int, num_source: int, source_fps: float) -> list[int]:
        step = 1.0 if self.fps is None else source_fps / self.fps
        span = (self.num_frames - 1) * step  # source frames between the first and last sample
        start = 0.0
        room = num_source - 1 - span
        if self.clip_start == "random" and room > 0:
            rng = np.random.default_rng([self.seed, index, self.epoch])
            start = float(rng.uniform(0, room))
        return [int(round(start + k * step)) for k in range(self.num_frames)]

    def _load(self, index: int) -> torch.Tensor:
        path, _ = self.items[index]
        if index not in self._probe:
            self._probe[index] = probe_video(path)
        num_source, source_fps, h, w = self._probe[index]
        idx = self._indices(index, num_source, source_fps)
        # Scale while decoding to the covering size; resize_center_crop then only crops.
        errors: list[str] = []
        frames, filled = read_frames(path, idx, size=cover_size(h, w, self.height, self.width),
                                     decode_errors=errors)  # (T,h',w',3)
        if errors and str(path) not in self._damaged:
            warnings.warn(f"{path}: the decoder reported {len(errors)} error(s) (first: {errors[0]}); "
                          f"kept, but some frames may be damaged", RuntimeWarning, stacklevel=3)
        if errors:
            self._damaged[str(path)] = max(self._damaged.get(str(path), 0), len(errors))
        if filled:
            self._padded.add(str(path))
        # Elementwise work in numpy on contiguous arrays: torch's strided CPU kernels on permuted
        # views cost more than the whole crop here.
        video = np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32)  # (T, 3, h, w)
        video = resize_center_crop(torch.from_numpy(video), self.height, self.width).numpy()  # (T, 3, H, W)
        video = np.clip(video / np.float32(PIXEL_HALF_RANGE) - np.float32(1.0), -1.0, 1.0)  # resized 0..255 floats
        return torch.from_numpy(np.ascontiguousarray(video.transpose(1, 0, 2, 3)))  # (3, T, H, W)

    def __getitem__(self, index: int) -> dict:
        n = len(self.items)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} videos")
        index %= n
        for k in range(n):
            j = (index + k) % n
            path, caption = self.items[j]
            if str(path) in self._bad:
                continue
            try:
                video = self._load(j)
            except (VideoReadError, FileNotFoundError, ValueError) as e:
                self._bad[str(path)] = str(e)
                warnings.warn(f"skipping unreadable video {path}: {e}", RuntimeWarning, stacklevel=2)
                continue
            return {"video": video, "caption": caption, "path": str(path)}
        raise RuntimeError(f"none of the {n} videos in {str(self.source)!r} could be read; "
                           f"first failure: {next(iter(self._bad.items()))}")

    # -- bookkeeping -----------------------------------------------------------------------

    def validate(self, progress: bool = False) -> dict:
        """Probe every file now (headers only), so `.report()` covers the whole set."""
        from tqdm import tqdm

        for i in tqdm(range(len(self.items)), desc="validate", disable=not progress):
            path = self.items[i][0]
            if str(path) in self._bad or i in self._probe:
                continue
            try:
                self._probe[i] = probe_video(path)
            except (VideoReadError, FileNotFoundError, ValueError) as e:
                self._bad[str(path)] = str(e)
                warnings.warn(f"skipping unreadable video {path}: {e}", RuntimeWarning, stacklevel=2)
        return self.report()

    def report(self) -> dict:
        """{"total", "skipped", "skipped_files": {path: reason}, "padded", "missing_captions",
        "damaged": {path: decoder errors}}. total counts the usable videos plus the skipped ones."""
        return {"total": len(self.items) + self._skipped_at_listing, "skipped": len(self._bad),
                "skipped_files": dict(self._bad), "padded": len(self._padded),
                "missing_captions": self._missing_captions, "damaged": dict(self._damaged)}

    def summary(self) -> str:
        """One line for the CLIs: how many files were used, skipped (and why, first one), padded, damaged."""
        r = self.report()
        line = (f"{self.source}: {r['total'] - r['skipped']} of {r['total']} videos usable, {r['skipped']} skipped, "
                f"{r['padded']} padded, {len(r['damaged'])} with decoder errors, "
                f"{r['missing_captions']} without a caption")
        if r["skipped"]:
            path, reason = next(iter(r["skipped_files"].items()))
            line += f"; first skipped: {path}: {reason}"
        return line

    def __repr__(self) -> str:
        r = self.report()
        return (f"VideoFolderDataset({str(self.source)!r}, {r['total']} videos, clips {self.num_frames}x"
                f"{self.height}x{self.width} @ {self.fps or 'source'} fps, skipped {r['skipped']})")
