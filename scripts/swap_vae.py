"""Move a trained transformer onto a new VAE's latent space, as the starting point of fine-tuning.

    python scripts/swap_vae.py --old-vae minisora/assets/minisora-tiny/vae --new-vae runs/vae/release \
        --transformer minisora/assets/minisora-tiny/transformer --out runs/swap/transformer

Fits the linear map between the two VAEs' normalised latents on MovingShapes clips and folds it into
the transformer's input and output layers (minisora/dit/latent_swap.py says why this works).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from minisora.dit.latent_swap import fit_latent_map, fold_into_transformer
    from minisora.dit.model import DiT
    from minisora.vae.model import VideoVAE
    from minisora.vae.train import synthetic_pool

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-vae", required=True, help="the VAE the transformer was trained on")
    ap.add_argument("--new-vae", required=True, help="the VAE to move it to (same latent shape)")
    ap.add_argument("--transformer", required=True, help="transformer folder trained on --old-vae latents")
    ap.add_argument("--out", required=True, help="folder for the folded transformer")
    ap.add_argument("--clips", type=int, default=96, help="MovingShapes train clips to fit the map on")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)

    old_vae, new_vae = VideoVAE.from_pretrained(args.old_vae).eval(), VideoVAE.from_pretrained(args.new_vae).eval()
    if (old_vae.latent_channels, old_vae.spatial_factor, old_vae.temporal_factor) != \
            (new_vae.latent_channels, new_vae.spatial_factor, new_vae.temporal_factor):
        raise SystemExit("the two VAEs must have the same latent shape (channels, spatial and temporal factor)")
    clips = synthetic_pool(args.clips, 64, 64, 17, args.seed, "train", progress=False)
    A, b, r2 = fit_latent_map(old_vae, new_vae, clips)
    print(f"latent map fitted on {args.clips} clips: R^2 per old channel min {r2.min():.2f} mean {r2.mean():.2f} "
          f"max {r2.max():.2f}; cond(A) {torch.linalg.cond(A):.1f}")
    dit = DiT.from_pretrained(args.transformer)
    fold_into_transformer(dit, A, b)
    dit.save_pretrained(args.out)
    (Path(args.out) / "latent_map.json").write_text(json.dumps(
        {"old_vae": args.old_vae, "new_vae": args.new_vae, "transformer": args.transformer,
         "r2_per_channel": [round(v, 4) for v in r2.tolist()], "A": A.tolist(), "b": b.tolist()}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
