"""`make demo` / `python -m minisora.demo`: a prompt becomes a clip, end to end, in seconds.

TEMPORARY: until trained weights ship, the "generator" here is the MovingShapes renderer driven
by the parsed prompt (parse -> complete the scene -> render). The pipeline replaces the render
step with rewrite -> text encoder -> DiT sampling -> VAE decode, keeping the same inputs and files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minisora.data.captions import parse, write_caption
from minisora.data.synthetic import render, spec_from_parsed
from minisora.io import export_to_video

PROMPT = "a red circle moving right and a blue star bouncing on a navy background"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt", default=PROMPT)
    ap.add_argument("--out", type=Path, default=Path("outputs") / "demo.mp4")
    ap.add_argument("--seed", type=int, default=0, help="fills what the prompt leaves unsaid")
    args = ap.parse_args(argv)

    parsed = parse(args.prompt)
    if parsed.unknown_words:
        print(f"note: ignoring words outside the MovingShapes vocabulary: {', '.join(parsed.unknown_words)}")
    spec = spec_from_parsed(parsed, np.random.default_rng(args.seed))
    frames = render(spec, height=64, width=64, num_frames=17, fps=8.0)  # (17, 64, 64, 3) uint8
    video = export_to_video(frames, args.out, fps=8.0)
    sheet = export_to_video(frames, args.out.with_suffix(".png"), fps=8.0)
    print(f"prompt:  {args.prompt}")
    print(f"caption: {write_caption(spec, np.random.default_rng(args.seed))}")
    print(f"video:   {video}")
    print(f"frames:  {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
