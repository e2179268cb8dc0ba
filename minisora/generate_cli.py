"""`minisora generate "prompt" -o out.mp4`: one clip from the command line, plus a JSON sidecar.

The sidecar (`out.json` next to `out.mp4`) records the prompt, the caption it was rewritten into, the
seed, every setting and the timings, so any clip can be regenerated exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_OUT = "outputs/minisora.mp4"


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 64x64 or 80x48") from None
    return w, h


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.pipeline import EXTEND_MODES, SAMPLERS
    from minisora.upscale.config import SCALES, TIME_SCALES

    parser.add_argument("prompt", help="what to show, e.g. 'a red circle moving right'")
    parser.add_argument("-o", "--out", default=DEFAULT_OUT, help=f"video file (.mp4, .gif or .png contact sheet); "
                                                                 f"default {DEFAULT_OUT}")
    parser.add_argument("--frames", type=int, default=None, help="1 + 4k frames (1 = an image); default 17")
    parser.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                        help="width x height, multiples of 16; default 64x64 (trained: 64x64, 80x48, 48x80)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (1 = off)")
    parser.add_argument("--seed", type=int, default=0, help="all noise comes from this seed (default 0)")
    parser.add_argument("--negative", default=None, help="negative prompt (replaces the unconditional branch)")
    parser.add_argument("--no-rewrite", action="store_true", help="use the prompt as the caption, unrewritten")
    parser.add_argument("--image", default=None, metavar="PATH", help="first frame (image-to-video)")
    parser.add_argument("--video", default=None, metavar="PATH", help="input clip (with --strength or --extend)")
    parser.add_argument("--strength", type=float, default=0.8, help="with --video: how much to change it, in (0, 1]")
    parser.add_argument("--extend", choices=EXTEND_MODES, default=None, help="with --video: continue it")
    parser.add_argument("--connect", nargs=2, default=None, metavar=("A", "B"), help="generate frames joining clip A to clip B")
    parser.add_argument("--loop", action="store_true", help="a clip that loops seamlessly")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None, help="ODE solver (default: the model's)")
    parser.add_argument("--upscale", type=int, choices=SCALES, default=1,
                        help="then enlarge the clip this many times in space with the upscaler (4 = two 2x passes)")
    parser.add_argument("--upscale-time", type=int, choices=TIME_SCALES, default=1,
                        help="2: the upscaler also doubles the frame rate (T -> 2T-1 frames, same duration)")
    parser.add_argument("--model", default=None, metavar="DIR", help="model folder (default: bundled minisora-tiny)")
    parser.add_argument("--join", action="store_true",
                        help="with --extend/--connect: write the input clip(s) and the new frames as one video")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: sampling runs small ops, where a second OpenMP "
                             "thread gains little alone and loses up to 10x on a busy CPU; 0 = torch's default)")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    import numpy as np

    import torch

    from minisora.io import export_to_video, read_video
    from minisora.pipeline import Pipeline

    if args.threads:
        torch.set_num_threads(args.threads)

    out = Path(args.out)
    kw = {}
    if args.size is not None:
        kw["width"], kw["height"] = args.size
    try:
        pipe = Pipeline.from_pretrained(args.model)
        video = read_video(args.video)[0] if args.video else None
        connect = tuple(read_video(p)[0] for p in args.connect) if args.connect else None
        result = pipe(args.prompt, negative_prompt=args.negative, num_frames=args.frames,
                      num_inference_steps=args.steps, guidance_scale=args.guidance, seed=args.seed,
                      rewrite=not args.no_rewrite, image=args.image, video=video, strength=args.strength,
                      extend=args.extend, connect=connect, loop=args.loop, sampler=args.sampler,
                      upscale=args.upscale, upscale_time=args.upscale_time, progress=not args.quiet, **kw)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"minisora generate: {e}", file=sys.stderr)
        return 2
    frames = result.frames
    if args.join and args.extend == "forward":
        frames = np.concatenate([video, frames])
    elif args.join and args.extend == "backward":
        frames = np.concatenate([frames, video])
    elif args.join and connect is not None:
        frames = np.concatenate([connect[0], frames, connect[1]])
    path = export_to_video(frames, out, fps=result.fps)
    sidecar = result.to_json()
    sidecar["inputs"] = {"image": args.image, "video": args.video, "connect": args.connect, "joined": bool(args.join)}
    sidecar["video"] = str(path)
    sidecar["timings"]["wall_including_startup"] = round(time.perf_counter() - t0, 4)
    sidecar["timings"]["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    sidecar["threads"] = torch.get_num_threads()
    side = out.with_suffix(".json")
    side.write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"prompt:  {result.prompt}")
    print(f"caption: {result.caption}")
    print(f"seed:    {result.seed}   frames: {frames.shape[0]}x{frames.shape[1]}x{frames.shape[2]} @ {result.fps:g} fps")
    print(f"time:    {result.timings['total']:.2f} s generating, "
          f"{sidecar['timings']['wall_including_startup']:.2f} s in all")
    print(f"video:   {path}")
    print(f"sidecar: {side}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora generate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
