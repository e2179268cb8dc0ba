"""`minisora generate "prompt" -o out.mp4`: one clip from the command line, plus a JSON sidecar.

The sidecar (`out.mp4.json` next to `out.mp4`) records the prompt, the caption it was rewritten into,
the seed, every setting and the timings, so any clip can be regenerated exactly.

Everything the end of the command needs is checked before the first expensive step: the output path
(extension, not a folder, a writable place), the input files, that `--join`'s clips and the new
frames share one size, and (in the pipeline's step 1) the memory the clip needs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

DEFAULT_OUT = "outputs/minisora.mp4"


def parse_size(text: str) -> tuple[int, int]:
    """--size 'WxH' -> (width, height) (the argparse type around minisora.sizes.parse_size)."""
    from minisora.sizes import parse_size as height_width

    try:
        height, width = height_width(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return width, height


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.cli import thread_count
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
    parser.add_argument("--offload", action="store_true",
                        help="Wan2.1 folders on a GPU: move components to it one at a time (text encoder stays on the CPU)")
    parser.add_argument("--join", action="store_true",
                        help="with --extend/--connect: write the input clip(s) and the new frames as one video")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true",
                        help="run even when the clip's estimated memory exceeds what this machine has")
    parser.add_argument("--no-verify", action="store_true",
                        help="load weights whose SHA-256 differs from the one recorded when they were saved")
    parser.add_argument("--threads", type=thread_count, default=1,
                        help="torch CPU threads (default 1: sampling runs small ops, where a second OpenMP "
                             "thread gains little alone and loses up to 10x on a busy CPU; 0 = torch's default)")


def join_size(args: argparse.Namespace, clips: list) -> tuple[int, int] | None:
    """With --join the input clip(s) and the new frames become one video, so they must share one size:
    the (width, height) to generate at (the clips' size / --upscale when --size is not given), checked
    before any work. Without --join: --size as given (None = the model's default)."""
    if not args.join:
        return args.size
    if not clips:
        raise ValueError("--join writes the input clip(s) and the new frames as one video: it needs --extend "
                         "(with --video) or --connect")
    if args.upscale_time != 1:
        raise ValueError("--join cannot combine the input clip with frames at --upscale-time 2's doubled frame rate; "
                         "drop --join or --upscale-time")
    sizes = {(c.shape[2], c.shape[1]) for _, c in clips}
    if len(sizes) > 1:
        listed = ", ".join(f"{name} is {c.shape[2]}x{c.shape[1]}" for name, c in clips)
        raise ValueError(f"--join needs clips of one size, but {listed}; resize one, or drop --join")
    (w, h), = sizes
    up = args.upscale
    if args.size is None:
        if w % up or h % up:
            raise ValueError(f"--join needs the new frames at the clips' size {w}x{h}, which --upscale {up} "
                             f"does not divide")
        return w // up, h // up
    sw, sh = args.size
    if (sw * up, sh * up) != (w, h):
        raise ValueError(f"--join needs the new frames at the clips' size {w}x{h}, but --size {sw}x{sh} with "
                         f"--upscale {up} gives {sw * up}x{sh * up}; drop --size (--join then uses the clips' "
                         f"size) or give --size {w // up}x{h // up}")
    return args.size


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    import numpy as np

    import torch

    from minisora.io import check_output_path, export_to_video, read_image, read_video, sidecar_path
    from minisora.pipeline import Pipeline
    from minisora.weights import verification

    if args.threads:
        torch.set_num_threads(args.threads)

    kw = {}
    try:
        # 1. everything the end needs, before any expensive step
        out = check_output_path(args.out)
        side = sidecar_path(out)
        if side.is_dir():
            raise ValueError(f"the sidecar {str(side)!r} would replace a folder; choose another -o")
        image = read_image(args.image) if args.image else None
        video = read_video(args.video)[0] if args.video else None
        connect = tuple(read_video(p)[0] for p in args.connect) if args.connect else None
        clips = ([("--video", video)] if args.extend and video is not None else []) + \
            [(f"--connect {p}", c) for p, c in zip(args.connect or (), connect or ())]
        pipe = Pipeline.from_pretrained(args.model, offload=args.offload)  # minisora folders: weights load on first use
        size = join_size(args, clips)
        if size is not None:
            kw["width"], kw["height"] = size
        # 2. the work
        with verification(not args.no_verify):
            result = pipe(args.prompt, negative_prompt=args.negative, num_frames=args.frames,
                          num_inference_steps=args.steps, guidance_scale=args.guidance, seed=args.seed,
                          rewrite=not args.no_rewrite, image=image, video=video, strength=args.strength,
                          extend=args.extend, connect=connect, loop=args.loop, sampler=args.sampler,
                          upscale=args.upscale, upscale_time=args.upscale_time, progress=not args.quiet,
                          force=args.force, **kw)
    except (ValueError, TypeError, FileNotFoundError, MemoryError, FloatingPointError) as e:
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
    from minisora.weights import atomic_write_bytes

    atomic_write_bytes(side, (json.dumps(sidecar, indent=2) + "\n").encode())
    print(f"prompt:  {result.prompt}")
    print(f"caption: {result.caption}")
    for line in rewrite_warnings(result.rewrite):
        print(line)
    print(f"seed:    {result.seed}   frames: {frames.shape[0]}x{frames.shape[1]}x{frames.shape[2]} @ {result.fps:g} fps")
    print(f"time:    {result.timings['total']:.2f} s generating, "
          f"{sidecar['timings']['wall_including_startup']:.2f} s in all")
    print(f"video:   {path}")
    print(f"sidecar: {side}")
    return 0


def rewrite_warnings(report: dict | None) -> list[str]:
    """What of the prompt the video will not show, from the rewriter's report: words it could not
    place, attributes given up, and why (the sidecar keeps the whole report)."""
    report = report or {}
    lines = []
    if report.get("unmapped"):
        lines.append(f"not understood (ignored): {', '.join(report['unmapped'])}")
    if report.get("lost"):
        lines.append(f"not kept: {', '.join(report['lost'])}")
    lines += [f"adjusted: {note}" for note in report.get("adjusted") or []]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minisora generate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
