"""Parameter and FLOP counts of a DiT forward pass, for the CLI and the benchmark.

FLOPs count the multiply-adds of matrix products (2 per MAC) — linear layers and the two attention
products — which is what a matmul peak can be compared against; norms and elementwise work are left
out (they are a few percent at these widths). A training step (forward + backward) is 3x a forward.
"""

from __future__ import annotations

import math

import torch

from minisora.dit.config import DiTConfig
from minisora.dit.patchify import grid_size


def count_params(config: DiTConfig) -> int:
    from minisora.dit.model import DiT
    with torch.device("meta"):
        model = DiT(config)
    return sum(p.numel() for p in model.parameters())


def forward_flops(config: DiTConfig, T: int, H: int, W: int, text_len: int, batch: int = 1) -> dict[str, int]:
    """Matmul FLOPs of one forward at latent size (T, H, W): dict with linear, attention, total."""
    N = math.prod(grid_size((T, H, W), config.patch_size))
    D, M, L = config.hidden_size, config.mlp_hidden, text_len
    P = math.prod(config.patch_size)
    linear = 2 * N * config.in_channels * P * D  # patch embedding
    linear += 2 * (config.timestep_freq_dim * D + D * D + config.text_dim * D)  # conditioning vector
    linear += 2 * L * (config.text_dim * D + D * D)  # text projection
    per_block_linear = 2 * N * (3 * D * D + D * D + D * D + D * D + 2 * D * M) + 2 * L * 2 * D * D
    # adaLN regression of c: per block, or once for all blocks with shared modulation (Wan2.1)
    linear += 2 * 6 * D * D * (1 if config.modulation == "shared" else config.depth)
    per_block_attn = 2 * 2 * N * N * D + 2 * 2 * N * L * D
    head_ada = 0 if config.modulation == "shared" else 2 * 2 * D * D
    linear += config.depth * per_block_linear + head_ada + 2 * N * D * config.latent_channels * P
    attention = config.depth * per_block_attn
    return {"tokens": N * batch, "linear": linear * batch, "attention": attention * batch,
            "total": (linear + attention) * batch}


def describe(config: DiTConfig, T: int, H: int, W: int, text_len: int) -> str:
    """One paragraph: parameters, tokens, and GFLOPs per forward / training step at latent (T, H, W)."""
    f = forward_flops(config, T, H, W, text_len)
    p = count_params(config)
    return (f"DiT {config.hidden_size}w x {config.depth}d x {config.num_heads}h, patch {config.patch_size}: "
            f"{p / 1e6:.2f} M parameters; latent (T,H,W)=({T},{H},{W}) -> {f['tokens']} tokens, text {text_len}; "
            f"{f['total'] / 1e9:.3f} GFLOP per forward ({100 * f['attention'] / f['total']:.1f}% attention), "
            f"{3 * f['total'] / 1e9:.3f} GFLOP per training step (forward + backward), per sample")


def main(argv: list[str] | None = None) -> int:
    """`python -m minisora.dit.flops --preset tiny --latent 5x8x8 --text-len 48` prints `describe` for each preset."""
    import argparse

    from minisora.dit.config import PRESETS

    ap = argparse.ArgumentParser(description="DiT parameters and FLOPs per forward at a latent size")
    ap.add_argument("--preset", choices=list(PRESETS), nargs="*", default=list(PRESETS))
    ap.add_argument("--latent", default="5x8x8", help="latent T x H x W")
    ap.add_argument("--text-len", type=int, default=48)
    ap.add_argument("--patch", default=None, help="override the patch, e.g. 1x1x1")
    args = ap.parse_args(argv)
    from minisora.sizes import parse_dims

    T, H, W = parse_dims(args.latent, ("T", "H", "W"), "5x8x8")
    over = {} if args.patch is None else {"patch_size": parse_dims(args.patch, ("T", "H", "W"), "1x2x2")}
    for name in args.preset:
        print(f"{name}: {describe(DiTConfig.preset(name, **over), T, H, W, args.text_len)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
