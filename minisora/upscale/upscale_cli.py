"""`minisora upscale in.mp4 -o out.mp4`: enlarge any clip 2x (or 4x) in space, optionally 2x in frame rate.

    minisora upscale clip.mp4 -o clip_128.mp4
    minisora upscale clip.mp4 -o clip_256_16fps.mp4 --scale 4 --time-scale 2 --steps 8 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time



def add_arguments(p: argparse.ArgumentParser) -> None:
    from minisora.cli import thread_count
    from minisora.upscale.config import SCALES, TIME_SCALES

    p.add_argument("input", help="video file to upscale (.mp4, .gif, .png contact sheet)")
    p.add_argument("-o", "--out", required=True, help="output video file (.mp4, .gif or .png)")
    p.add_argument("--scale", type=int, choices=SCALES, default=2, help="spatial factor (4 = two 2x passes; 1 only with --time-scale 2); default 2")
    p.add_argument("--time-scale", type=int, choices=TIME_SCALES, default=1,
                   help="2 doubles the frame rate (T -> 2T-1 frames, same duration); default 1")
    p.add_argument("--steps", type=int, default=None, help="Euler steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="sampling noise seed (default 0)")
    p.add_argument("--cond-noise", type=float, default=0.0,
                   help="noise-augmentation level of the condition, in [0, 1] (e.g. 0.02 for artefacted input)")
    p.add_argument("--model", default=None, metavar="DIR", help="upscaler folder (default: the bundled one)")
    p.add_argument("--no-verify", action="store_true",
                   help="load weights whose SHA-256 differs from the one recorded when they were saved")
    p.add_argument("--threads", type=thread_count, default=0,
                   help="torch CPU threads (0 = torch's default; 1 is often faster on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from minisora.generation_checks import check_seed
    from minisora.io import check_output_path, export_to_video, read_video
    from minisora.upscale.model import DEFAULT_DIR, Upscaler
    from minisora.weights import verification

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        out_path = check_output_path(args.out)  # before the work, not after it
        check_seed(args.seed)
        frames, fps = read_video(args.input)
        with verification(not args.no_verify):
            up = Upscaler.from_pretrained(args.model or DEFAULT_DIR)
        out = up(frames, scale=args.scale, time_scale=args.time_scale, steps=args.steps, seed=args.seed,
                 cond_noise=args.cond_noise, progress=not args.quiet)
        path = export_to_video(out, out_path, fps=fps * args.time_scale, pad_odd=True)
    except (ValueError, FileNotFoundError) as e:
        print(f"minisora upscale: {e}", file=sys.stderr)
        return 2
    print(f"{args.input}: {frames.shape[0]}x{frames.shape[1]}x{frames.shape[2]} @ {fps:g} fps -> {path}: "
          f"{out.shape[0]}x{out.shape[1]}x{out.shape[2]} @ {fps * args.time_scale:g} fps "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0
