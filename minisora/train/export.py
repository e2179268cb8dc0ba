"""Release export: a training checkpoint -> a DiT weights folder (bf16 safetensors + config.json)."""

from __future__ import annotations

from pathlib import Path

import torch

from minisora.config import from_dict
from minisora.train.checkpoint import load_weights_only


def checkpoint_dit(checkpoint: str | Path, use_ema: bool = True):
    """The DiT of a training checkpoint, float32, with its EMA weights (or the raw ones).

    Works on sharded (FSDP) checkpoints too, in one process."""
    from minisora.dit.config import DiTConfig
    from minisora.dit.model import DiT

    state, meta = load_weights_only(checkpoint, "ema" if use_ema else "model")
    model = DiT(from_dict(DiTConfig, meta["model_config"]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k in dict(model.named_parameters()) for k in missing):
        raise KeyError(f"checkpoint {str(checkpoint)!r} does not fit its own model config: "
                       f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model


def load_dit(path: str | Path):
    """A DiT from a weights folder (`save_pretrained`), or from a training checkpoint or run (its
    latest checkpoint), with the EMA weights: what `model.init_from` and the scaling study's
    evaluation both accept."""
    from minisora.dit.model import DiT
    from minisora.train.checkpoint import is_checkpoint, resolve_checkpoint

    if (Path(path) / "config.json").is_file() and not is_checkpoint(path):
        return DiT.from_pretrained(path)
    return checkpoint_dit(resolve_checkpoint(path))


def export_release(checkpoint: str | Path, out_dir: str | Path, dtype: torch.dtype = torch.bfloat16,
                   use_ema: bool = True) -> Path:
    """Write the EMA weights (or the raw weights) of `checkpoint` with `DiT.save_pretrained`.

    Returns the release folder, loadable with `DiT.from_pretrained(out_dir)`.
    """
    return checkpoint_dit(checkpoint, use_ema).save_pretrained(out_dir, dtype=dtype)
