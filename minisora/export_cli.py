"""`minisora export`: assemble a model folder from the outputs of a recipe's stages.

    minisora export --transformer runs/minisora-tiny/transformer --vae runs/minisora-tiny/vae/release \\
        --rewriter runs/minisora-tiny/rewriter/release --upscaler runs/minisora-tiny/upscaler/release \\
        --out runs/minisora-tiny/model

The transformer is taken from a training run folder (its latest checkpoint, EMA weights, bf16) or a
checkpoint, with the sampling schedule and trained sizes of the config that checkpoint recorded; the
other components are copied from their release folders. The logic is
`minisora.model_folder.assemble_model_folder`; this module only parses.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minisora.model_folder import GenerationDefaults

    parser.add_argument("--transformer", required=True, metavar="RUN_OR_CHECKPOINT",
                        help="a transformer training run folder (its latest checkpoint) or one checkpoint folder")
    parser.add_argument("--vae", required=True, metavar="DIR", help="VAE release folder (config.json + model.safetensors)")
    parser.add_argument("--rewriter", default=None, metavar="DIR", help="builtin rewriter release folder (optional)")
    parser.add_argument("--upscaler", default=None, metavar="DIR", help="upscaler release folder (optional)")
    parser.add_argument("--out", required=True, metavar="DIR", help="the model folder to write (must not exist)")
    parser.add_argument("--name", default="minisora-model", help="model name recorded in model_index.json")
    parser.add_argument("--object-slots", type=int, default=0,
                        help="object-slot tokens per caption the transformer was trained with (minisora.world.slots)")
    parser.add_argument("--sample-shift", type=float, default=None,
                        help="base schedule shift for sampling (default: the training config's flow.base_shift)")
    parser.add_argument("--steps", type=int, default=GenerationDefaults.num_inference_steps, help="default sampling steps")
    parser.add_argument("--guidance", type=float, default=GenerationDefaults.guidance_scale, help="default guidance")
    parser.add_argument("--note", action="append", default=[], metavar="KEY=VALUE", help="provenance, repeatable")


def run(args: argparse.Namespace) -> int:
    from minisora.config import ConfigError
    from minisora.model_folder import assemble_model_folder

    try:
        notes = dict(n.split("=", 1) for n in args.note)
    except ValueError:
        print(f"minisora export: --note takes KEY=VALUE, got {args.note}", file=sys.stderr)
        return 2
    try:
        out = assemble_model_folder(args.out, transformer=args.transformer,
                                    vae=args.vae, rewriter=args.rewriter, upscaler=args.upscaler, name=args.name,
                                    object_slots=args.object_slots, sample_shift=args.sample_shift,
                                    steps=args.steps, guidance=args.guidance, notes=notes)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"minisora export: {e}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.1f} MB)")
    return 0
