"""`minisora synth`: render MovingShapes clips to .mp4 files plus a `captions.jsonl` index.

    minisora synth --out data/shapes --n 1000 --size 64x64 --frames 17 --fps 8 --split train --seed 0

Writes DIR/clips/000000.mp4, ... and DIR/captions.jsonl with one JSON object per clip:
{"path": "clips/000000.mp4" (relative to DIR), "caption": dense caption, "prompt": short prompt,
"spec": SceneSpec.to_dict(), "height", "width", "num_frames", "fps"}. Clip i is item i of
`MovingShapesDataset(n, height, width, frames, fps, split, seed)`, so files and the on-the-fly
dataset agree. `VideoFolderDataset(DIR/captions.jsonl, ...)` reads the result back.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tqdm import tqdm

from minisora.sizes import parse_size
from minisora.world.scenes import SPLITS
from minisora.world.dataset import MovingShapesDataset
from minisora.world.render import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--n", type=int, default=100, help="number of clips (default 100)")
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT in pixels (default 64x64); "
                        "mp4 needs even sizes")
    parser.add_argument("--frames", type=int, default=17, help="frames per clip (default 17)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    parser.add_argument("--split", choices=[s for s in SPLITS], default="train",
                        help="train: no held-out attribute combinations; heldout: each clip has one")
    parser.add_argument("--seed", type=int, default=0, help="clip i depends only on (seed, i, split)")
    parser.add_argument("--occluder-prob", type=float, default=0.15, help="share of clips with an occluder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing captions.jsonl in --out")


def synthesize(out: Path, n: int, height: int, width: int, num_frames: int, fps: float, split: str = "train",
               seed: int = 0, occluder_prob: float = 0.15, overwrite: bool = False, progress: bool = True) -> Path:
    """Render `n` clips into `out`; returns the path of captions.jsonl. The index is written
    under a temporary name and renamed at the end, so an interrupted run leaves no index."""
    from minisora.world.captions import write_caption, write_prompt
    from minisora.io import export_to_video

    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    if height % 2 or width % 2:
        raise ValueError(f"mp4 (H.264 yuv420p) needs an even size, got {width}x{height}")
    out = Path(out)
    index = out / "captions.jsonl"
    if index.exists() and not overwrite:
        raise FileExistsError(f"{index} exists; pass --overwrite to replace it or choose another --out")
    ds = MovingShapesDataset(n, height, width, num_frames, fps, split=split, seed=seed, occluder_prob=occluder_prob)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    tmp = out / f".captions.jsonl.tmp{os.getpid()}"
    digits = max(6, len(str(n - 1)))
    with open(tmp, "w") as f:
        for i in tqdm(range(n), desc="synth", unit="clip", disable=not progress):
            spec, rng = ds.scene(i)
            rel = f"clips/{i:0{digits}d}.mp4"
            export_to_video(render(spec, height, width, num_frames, fps), out / rel, fps=fps)
            record = {"path": rel, "caption": write_caption(spec, rng), "prompt": write_prompt(spec, rng),
                      "spec": spec.to_dict(), "height": height, "width": width, "num_frames": num_frames,
                      "fps": fps}
            f.write(json.dumps(record) + "\n")
    os.replace(tmp, index)
    return index


def run(args: argparse.Namespace) -> int:
    try:
        height, width = parse_size(args.size)
        index = synthesize(args.out, args.n, height, width, args.frames, args.fps, args.split, args.seed,
                           args.occluder_prob, args.overwrite)
    except (ValueError, FileExistsError) as e:
        print(f"minisora synth: error: {e}")
        return 2
    print(f"wrote {args.n} clips and {index}")
    return 0
