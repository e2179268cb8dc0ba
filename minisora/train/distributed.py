"""Process group setup, the one place parallelism is applied, and a clean shutdown.

One entry point serves a laptop and a cluster: `minisora train cfg.yaml` runs one process;
`torchrun --nproc_per_node=N -m minisora.train cfg.yaml` runs N, reading RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT from the environment torchrun sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from minisora.config import ConfigError
from minisora.train.config import ParallelConfig


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(cfg: ParallelConfig) -> DistInfo:
    """Join the process group torchrun describes (or none for a single process) and pick the device.

    nccl on CUDA, gloo on CPU (`backend: auto`). A world size > 1 with `strategy: none` is an error:
    N processes each training their own copy would silently waste N-1 of them.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and cfg.strategy == "none":
        raise ConfigError(f"launched with WORLD_SIZE={world} but parallel.strategy=none; "
                          f"set parallel.strategy=ddp or parallel.strategy=fsdp")
    if world > 1 and not dist.is_initialized():
        backend = cfg.backend if cfg.backend != "auto" else ("nccl" if cuda else "gloo")
        if backend == "nccl" and not cuda:
            raise ConfigError("parallel.backend=nccl needs CUDA; use gloo (or auto) on CPU")
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                device_id=device if backend == "nccl" else None)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def apply_parallelism(model: nn.Module, cfg: ParallelConfig, info: DistInfo, *,
                      unused_parameters: bool = False) -> nn.Module:
    """Wrap `model` for training; the model file itself knows nothing of any of this.

    The order is fixed and matters:
      1. activation checkpointing: marks each transformer block so its activations are recomputed
         in backward; it must see the plain blocks, before compile or sharding rewrites them;
      2. torch.compile (optional): compiles each block in place (`Module.compile`), so parameter
         names stay unchanged for checkpoints and FSDP sees the same module tree;
      3. FSDP2 (`fully_shard` per block, then the root) or DDP: outermost, so the collectives wrap
         the compiled, checkpointed compute and gradient reduction overlaps with backward.
    unused_parameters: some parameters take no part in the loss (e.g. the learned null text when
    text dropout is off); DDP must then look for them each step, which costs a graph traversal.
    Returns the module to call for training (the DDP wrapper, or `model` itself otherwise);
    `unwrap(result)` gives back the plain module holding the same parameters.
    """
    blocks = _blocks(model)
    # 1. activation checkpointing
    if cfg.activation_checkpointing:
        # The composable form marks each block in place: parameter names stay unchanged (a
        # wrapper module would add a prefix to every checkpoint key) and FSDP2 composes with it.
        from torch.distributed._composable import checkpoint

        for b in blocks:
            checkpoint(b)
    # 2. torch.compile
    if cfg.compile:
        for b in blocks:
            b.compile()
    # 3. FSDP2 / DDP
    if cfg.strategy == "fsdp":
        if not info.distributed:
            return model  # one process: nothing to shard; same numerics as world size 1
        from torch.distributed.fsdp import fully_shard

        for b in blocks:
            fully_shard(b)
        fully_shard(model)
        return model
    if cfg.strategy == "ddp":
        if not info.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None,
                   find_unused_parameters=unused_parameters)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under a DDP wrapper (FSDP2 and in-place compile keep the module itself)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    return model.module if isinstance(model, DDP) else model


def _blocks(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks: the units of checkpointing, compilation and sharding.

    The DiT exposes them as `model.blocks` (an nn.ModuleList); anything else is an error, since
    silently sharding nothing would cost the memory FSDP exists to save.
    """
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise TypeError(f"{type(model).__name__} has no `blocks` ModuleList to wrap; "
                        f"apply_parallelism needs the transformer blocks")
    return list(blocks)


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.distributed:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= info.world_size
    return x


def shutdown(info: DistInfo) -> None:
    """Leave the process group cleanly.

    gloo processes can abort at interpreter exit ("terminate called without an active
    exception") after all work is done; a barrier, then destroy_process_group, then `os._exit`
    (done by the launcher in `__main__`) avoided it in every trial.
    """
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
