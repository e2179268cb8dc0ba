"""`minisora convert SRC DST`: a Wan2.1 folder (diffusers layout) -> a minisora model folder.

DST holds `transformer/` and `vae/` as minisora weights folders (config.json + model.safetensors,
written atomically with checksums by minisora.weights), so minisora's DiT and Wan VAE load them with
no key table; `text_encoder/` and `tokenizer/` are copied as they are (umT5 runs through
transformers); `model_index.json` records the format and the flow schedule. `Pipeline.from_pretrained`
and `minisora generate --model DST` load DST like SRC.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

DTYPES = ("fp32", "bf16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="a Wan2.1 text-to-video folder in the diffusers layout (model_index.json ...)")
    parser.add_argument("dst", help="the minisora model folder to write (must not exist)")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16", help="weights dtype written (default bf16)")


def convert(src: str | Path, dst: str | Path, dtype: str = "bf16") -> Path:
    """Write the minisora folder; returns its path. Raises WanFolderError for a bad SRC."""
    import torch

    from minisora.wan.folder import CONVERTED_FORMAT, check_wan_folder, load_wan_transformer
    from minisora.wan.pipeline import read_schedule
    from minisora.wan.vae import WanVAE
    from minisora.weights import atomic_write_bytes, record_checksums

    src, dst = Path(src), Path(dst)
    index = check_wan_folder(src)
    if index.get("format") == CONVERTED_FORMAT:
        raise ValueError(f"{src} is already a converted minisora folder")
    if dst.exists():
        raise FileExistsError(f"{dst} exists; choose a new folder for the converted model")
    out_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    shift, ntt, sampler = read_schedule(src)
    tmp = dst.with_name(f".{dst.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    load_wan_transformer(src / "transformer").save_pretrained(tmp / "transformer", dtype=out_dtype)
    WanVAE.from_pretrained(src / "vae").save_pretrained(tmp / "vae", dtype=out_dtype)
    for comp in ("text_encoder", "tokenizer"):
        shutil.copytree(src / comp, tmp / comp)
    meta = {"format": CONVERTED_FORMAT, "architecture": "wan2.1-t2v", "converted_from": str(src), "shift": shift,
            "num_train_timesteps": ntt, "sampler": sampler,
            "components": ["transformer", "vae", "text_encoder", "tokenizer"]}
    atomic_write_bytes(tmp / "model_index.json", (json.dumps(meta, indent=2) + "\n").encode())
    record_checksums(tmp)
    tmp.rename(dst)  # the folder appears whole or not at all
    return dst


def run(args: argparse.Namespace) -> int:
    try:
        out = convert(args.src, args.dst, args.dtype)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"minisora convert: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
