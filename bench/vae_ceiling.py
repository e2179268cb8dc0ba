"""The judge on the VAE's own reconstructions: the best prompt following any transformer can reach
through this VAE.

For each of the held-out prompts `minisora eval` uses (scene (seed, i) of the split, i < n), the
ground-truth clip is rendered, passed through VAE encode + decode, and judged against its prompt;
the ground truth itself is judged too (it must score 1.0, or the judge is at fault). A transformer
whose samples decode to what the VAE reconstructs cannot score above the second row: when the
ceiling for an attribute is near its bar, a better VAE, not more transformer training, is the lever.

    python bench/vae_ceiling.py                    # 200 held-out prompts, the shipped VAE (~2 min)
    python bench/vae_ceiling.py --n 50 --vae DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minisora.world.captions import write_prompt  # noqa: E402
from minisora.world.render import render  # noqa: E402
from minisora.world.scenes import sample_scene
from minisora.eval.tables import pooled_table  # noqa: E402
from minisora.world.judge.scoring import judge  # noqa: E402
from minisora.vae.model import VideoVAE  # noqa: E402


def reconstruct(vae: VideoVAE, frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) -> its VAE reconstruction, uint8 (T, H, W, 3)."""
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None] / 127.5 - 1.0  # 1, 3, T, H, W
    with torch.no_grad():
        y = vae.decode(vae.encode(x)).float()
    return ((y[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", default=str(ROOT / "minisora/assets/minisora-tiny/vae"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--split", default="heldout", choices=("train", "heldout", "any"))
    ap.add_argument("--seed", type=int, default=0, help="as `minisora eval --seed`")
    ap.add_argument("--size", default="64x64", help="WxH")
    ap.add_argument("--frames", type=int, default=17)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    vae = VideoVAE.from_pretrained(args.vae).eval()
    truth_results, recon_results = [], []
    by_kind: dict[tuple[str, str], list[bool]] = {}  # (shape, size) -> shape verdicts on reconstructions
    for i in range(args.n):
        rng = np.random.default_rng((args.seed, i))  # the same scenes and prompts as minisora eval
        spec = sample_scene(rng, split=args.split)
        prompt = write_prompt(spec, rng)
        truth = render(spec, h, w, args.frames, fps=8.0)
        truth_results.append(judge(truth, prompt, fps=8.0))
        recon_results.append(judge(reconstruct(vae, truth), prompt, fps=8.0))
        for k, obj in enumerate(spec.objects):
            verdict = recon_results[-1].checks.get(f"obj{k}.shape")
            if verdict is not None:
                by_kind.setdefault((obj.shape, obj.size), []).append(bool(verdict))
    tables = {"ground truth": pooled_table(truth_results), "VAE reconstruction": pooled_table(recon_results)}
    names = list(tables["ground truth"])
    print(f"\njudge on {args.n} {args.split} prompts (seed {args.seed}), {args.size}x{args.frames}, VAE {args.vae}")
    print(f"{'attribute':<14}" + "".join(f"{k:>20}" for k in tables))
    for name in names:
        print(f"{name:<14}" + "".join(f"{t[name]['score']:>20.3f}" for t in tables.values()))
    # Shape per kind of object: where the VAE loses shape (small stars, whose points are thinner than
    # one latent cell) is where no transformer can recover it.
    print("\nshape judged right on VAE reconstructions, by stated shape and size (share / objects)")
    print(f"{'shape':<10}" + "".join(f"{size:>14}" for size in ("small", "large")))
    for shape in sorted({s for s, _ in by_kind}):
        cells = [by_kind.get((shape, size), []) for size in ("small", "large")]
        print(f"{shape:<10}" + "".join(f"{np.mean(c):>8.2f} / {len(c):<3d}" if c else f"{'-':>14}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
