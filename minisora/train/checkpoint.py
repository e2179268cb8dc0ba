"""Training checkpoints: the written contract.

A checkpoint is a folder `<dir>/step_XXXXXXXX/` with one named slot per piece of state:

    model.safetensors      model weights (float32)                       } or, under FSDP, all three
    ema.safetensors        EMA weights                                   } in `sharded/`, written by
    optimizer.safetensors  optimizer tensors (AdamW moments, step counts)} torch.distributed.checkpoint
    rng_rank{R}.safetensors  RNG states of rank R (torch CPU/CUDA as uint8 tensors, numpy key array)
    state.json             step, LR schedule, data position, optimizer hyper-parameters, Python and
                           numpy RNG scalars, NaN-guard counters, the full training config and the
                           model config

Every file is tensors (safetensors) or JSON: loading never unpickles anything. Sharded FSDP
states go through `torch.distributed.checkpoint` with its safetensors storage (HuggingFace
storage reader/writer), whose metadata is JSON inside the safetensors headers; each rank writes
only its shards and can reload onto a different number of ranks.

Atomicity: everything is written into `<dir>/.tmp-step_XXXXXXXX/`, each file fsync'ed, then the
folder is renamed to its final name (a single atomic rename) and the parent fsync'ed. A crash at
any moment leaves either the complete checkpoint or a `.tmp-` folder that is ignored and removed.
Only the last `keep_last` complete checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions, get_model_state_dict, get_optimizer_state_dict, set_model_state_dict,
    set_optimizer_state_dict)

from minisora.train.distributed import DistInfo, barrier
from minisora.train.ema import EMA
from minisora.weights import read_tensors  # names the file when it is truncated or corrupt

FORMAT = "minisora-train-checkpoint/1"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
_OPTIM_OPTIONS = StateDictOptions(flatten_optimizer_state_dict=True)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or does not fit the run that tries to load it."""


# --------------------------------------------------------------------------------------------
# folders


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step_{step:08d}"


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints in `root`, oldest first (`.tmp-` folders of interrupted writes ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and is_checkpoint(p)]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(root: str | Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "state.json").is_file()


def resolve_checkpoint(path: str | Path) -> Path:
    """`path` if it is a checkpoint, else the latest checkpoint of a training run folder (or of its
    checkpoints/ folder); FileNotFoundError, naming the path, when it holds none."""
    path = Path(path)
    if is_checkpoint(path):
        return path
    found = latest_checkpoint(path / "checkpoints") if (path / "checkpoints").is_dir() else latest_checkpoint(path)
    if found is None:
        raise FileNotFoundError(f"{str(path)!r} is neither a checkpoint nor a training run folder holding one")
    return found


def check_writable(root: str | Path) -> None:
    """Fail now, before any training, if checkpoints could not be written to `root`."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise CheckpointError(f"checkpoint folder {str(root)!r} is not writable ({e.strerror or e}); "
                              f"set checkpoint.dir to a writable folder") from None


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))
    _fsync_file(path)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    _fsync_file(path)


# --------------------------------------------------------------------------------------------
# RNG states (per rank)


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, json) capturing Python, numpy, torch CPU and CUDA generator states."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    py_version, py_state, py_gauss = random.getstate()
    meta = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss}}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
        if states:
            torch.cuda.set_rng_state_all(states)
    n = meta["numpy"]
    np.random.set_state((n["kind"], tensors["numpy_keys"].numpy().view(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


# --------------------------------------------------------------------------------------------
# save / load


def _split_optimizer(flat: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {k: v for k, v in flat.items() if torch.is_tensor(v)}
    scalars = {k: (list(v) if isinstance(v, tuple) else v) for k, v in flat.items() if not torch.is_tensor(v)}
    return tensors, scalars


def _is_sharded(model: nn.Module) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def save_checkpoint(root: str | Path, step: int, *, model: nn.Module, ema: EMA | None,
                    optimizer: torch.optim.Optimizer, scheduler, info: DistInfo, state: dict,
                    keep_last: int) -> Path:
    """Write the checkpoint of `step` atomically; every rank calls this (collective under FSDP).

    model: the plain module (after `distributed.unwrap`); its parameters may be DTensor shards.
    state: JSON-serialisable run state (data position, config, model config, guard counters...).
    """
    root = Path(root)
    final = step_dir(root, step)
    tmp = root / f".tmp-{final.name}"
    if info.is_main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    barrier(info)

    sharded = _is_sharded(model)
    model_sd = get_model_state_dict(model)
    optim_tensors, optim_scalars = _split_optimizer(get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS))
    ema_sd = ema.state_dict() if ema is not None else {}
    if sharded:
        import torch.distributed.checkpoint as dcp

        everything = {**{f"model.{k}": v for k, v in model_sd.items()},
                      **{f"ema.{k}": v for k, v in ema_sd.items()},
                      **{f"optimizer.{k}": v for k, v in optim_tensors.items()}}
        writer = dcp.HuggingFaceStorageWriter(str(tmp / "sharded"), save_distributed=True)
        dcp.save(everything, storage_writer=writer)
        if info.is_main:
            for f in (tmp / "sharded").iterdir():
                _fsync_file(f)
    elif info.is_main:
        _save_tensors(tmp / "model.safetensors", model_sd)
        if ema is not None:
            _save_tensors(tmp / "ema.safetensors", ema_sd)
        _save_tensors(tmp / "optimizer.safetensors", optim_tensors)

    rng_tensors, rng_meta = rng_state()
    _save_tensors(tmp / f"rng_rank{info.rank}.safetensors", rng_tensors)
    _write_json(tmp / f"rng_rank{info.rank}.json", rng_meta)
    barrier(info)
    if info.is_main:
        body = {"format": FORMAT, "step": step, "world_size": info.world_size, "sharded": sharded,
                "has_ema": ema is not None, "scheduler": _jsonable(scheduler.state_dict()),
                "optimizer_hyper": optim_scalars, **state}
        _write_json(tmp / "state.json", body)
        _fsync_dir(tmp)
        if final.exists():  # a checkpoint of this very step from an earlier, interrupted run
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier(info)
    return final


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if torch.is_tensor(x):
        return x.item() if x.numel() == 1 else x.tolist()
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    raise TypeError(f"cannot store {type(x).__name__} in state.json")


def read_state(path: str | Path) -> dict:
    """The JSON slot of a checkpoint folder (step, config, data position, ...)."""
    path = Path(path)
    f = path / "state.json"
    if not f.is_file():
        raise CheckpointError(f"{str(path)!r} is not a training checkpoint: state.json is missing")
    try:
        state = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{f} is damaged (not valid JSON: {e}); resume from an earlier checkpoint") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} has format {state.get('format')!r}, expected {FORMAT!r}")
    return state


def config_mismatch(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: checkpoint X, config Y' for every differing leaf of two nested config dicts."""
    out = []
    for k in sorted(set(saved) | set(current)):
        a, b = saved.get(k, "<absent>"), current.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_mismatch(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: checkpoint {a!r}, config {b!r}")
    return out


def load_checkpoint(path: str | Path, *, model: nn.Module, ema: EMA | None, optimizer: torch.optim.Optimizer | None,
                    scheduler, info: DistInfo, model_config: dict) -> dict:
    """Restore every slot of the checkpoint at `path` in place; returns its state.json.

    A checkpoint trained with a different model configuration is refused before anything is
    loaded, with the mismatching keys named.
    """
    path = Path(path)
    state = read_state(path)
    diff = config_mismatch(state["model_config"], model_config)
    if diff:
        raise CheckpointError(f"checkpoint {str(path)!r} was trained with a different model config; "
                              f"mismatching keys: " + "; ".join(diff))
    if ema is not None and not state["has_ema"]:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no EMA weights but ema.enabled is true; "
                              f"resume with ema.enabled=false")
    sharded_now = _is_sharded(model)
    model_sd = get_model_state_dict(model)
    optim_flat = get_optimizer_state_dict(model, optimizer, options=_OPTIM_OPTIONS) if optimizer is not None else {}
    optim_tensors, _ = _split_optimizer(optim_flat)
    ema_sd = ema.state_dict() if ema is not None else {}

    if state["sharded"]:
        # DCP reads into whatever placement the targets have: DTensor shards or full tensors.
        import torch.distributed.checkpoint as dcp

        targets = {**{f"model.{k}": v for k, v in model_sd.items()},
                   **({f"ema.{k}": v for k, v in ema_sd.items()} if state["has_ema"] else {}),
                   **{f"optimizer.{k}": v for k, v in optim_tensors.items()}}
        with warnings.catch_warnings():  # one process reading a sharded checkpoint is intended
            warnings.simplefilter("ignore", UserWarning)
            dcp.load(targets, storage_reader=dcp.HuggingFaceStorageReader(str(path / "sharded")))
        model_sd = {k[len("model."):]: v for k, v in targets.items() if k.startswith("model.")}
        ema_loaded = {k[len("ema."):]: v for k, v in targets.items() if k.startswith("ema.")}
        optim_tensors = {k[len("optimizer."):]: v for k, v in targets.items() if k.startswith("optimizer.")}
    else:
        loaded = read_tensors(path / "model.safetensors", finite=False)
        _check_keys("model", loaded, model_sd)
        model_sd = _place(loaded, model_sd)
        ema_loaded = read_tensors(path / "ema.safetensors", finite=False) if state["has_ema"] else {}
        if ema_loaded:
            ema_loaded = _place(ema_loaded, ema_sd) if ema is not None else ema_loaded
        if optimizer is not None:
            optim_loaded = read_tensors(path / "optimizer.safetensors", finite=False)
            optim_tensors = _place(optim_loaded, optim_tensors) if sharded_now else optim_loaded

    set_model_state_dict(model, model_sd)
    if ema is not None:
        ema.load_state_dict(ema_loaded)
    if optimizer is not None:
        hyper = {k: (tuple(v) if isinstance(v, list) else v) for k, v in state["optimizer_hyper"].items()}
        set_optimizer_state_dict(model, optimizer, {**optim_tensors, **hyper}, options=_OPTIM_OPTIONS)
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng_file = path / f"rng_rank{info.rank}.safetensors"
    if rng_file.is_file():
        set_rng_state(read_tensors(rng_file, finite=False), json.loads((path / f"rng_rank{info.rank}.json").read_text()))
    return state


def _check_keys(slot: str, loaded: dict, expected: dict) -> None:
    missing, unexpected = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{slot} slot does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _place(full: dict[str, torch.Tensor], like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Full tensors -> the placement of `like` (DTensor shards when the model is sharded now)."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    out = {}
    for k, v in full.items():
        ref = like.get(k)
        if isinstance(ref, DTensor):
            out[k] = distribute_tensor(v.to(ref.dtype), ref.device_mesh, ref.placements)
        elif ref is not None:
            out[k] = v.to(device=ref.device, dtype=ref.dtype)
        else:
            out[k] = v
    return out


def load_weights_only(path: str | Path, slot: str = "ema") -> tuple[dict[str, torch.Tensor], dict]:
    """(full float32 state dict of `slot`, state.json) in one process, from any checkpoint kind.

    Used by the release export; works on sharded checkpoints without a process group.
    """
    path = Path(path)
    state = read_state(path)
    if slot == "ema" and not state["has_ema"]:
        slot = "model"
    if not state["sharded"]:
        return read_tensors(path / f"{slot}.safetensors", finite=False), state
    # Each rank's shard file holds slices of every tensor with its offsets in the header (the
    # DCP safetensors layout); reassemble the full tensors by those offsets.
    import torch.distributed.checkpoint as dcp

    reader = dcp.HuggingFaceStorageReader(str(path / "sharded"))
    meta = reader.read_metadata()
    targets = {k: torch.empty(m.size, dtype=m.properties.dtype) for k, m in meta.state_dict_metadata.items()
               if k.startswith(slot + ".")}
    with warnings.catch_warnings():  # "no process group: loading in a single process" is the intent
        warnings.simplefilter("ignore", UserWarning)
        dcp.load(targets, storage_reader=dcp.HuggingFaceStorageReader(str(path / "sharded")))
    return {k[len(slot) + 1:]: v.float() for k, v in targets.items()}, state
