"""Bucketed batching: every batch holds clips of one (T, H, W), so many sizes train in one run.

Sora trains on native durations, resolutions and aspect ratios; a batch must still be one tensor,
so clips are grouped by shape. The order is a pure function of (seed, epoch), each rank of a
distributed run takes every world_size-th batch of the same global order (so ranks never overlap and
all run the same number of steps), and `state_dict()` records the position so a resumed run
continues with exactly the batch it would have seen.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices whose items share a shape key (e.g. (T, H, W)).

    shapes: one hashable key per dataset item; batch_size: items per batch (or a dict key -> batch
    size, to keep tokens per batch roughly constant); rank / world_size: this process's share;
    drop_last: drop a bucket's incomplete final batch (keeps batch sizes fixed).
    """

    def __init__(self, shapes: Sequence, batch_size: int | dict, *, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = False):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must lie in [0, world_size={world_size})")
        self.shapes = [tuple(s) if isinstance(s, (list, tuple)) else s for s in shapes]
        if not self.shapes:
            raise ValueError("BucketBatchSampler needs at least one item")
        self.buckets: dict = defaultdict(list)
        for i, s in enumerate(self.shapes):
            self.buckets[s].append(i)
        self.batch_size = batch_size
        for key in self.buckets:
            if self._bs(key) < 1:
                raise ValueError(f"batch size for shape {key} must be >= 1, got {self._bs(key)}")
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.epoch = 0
        self.position = 0  # batches of the current epoch already yielded on this rank
        if len(self) == 0:
            raise ValueError(f"no complete batch per rank: buckets {self.bucket_sizes()} with batch_size="
                             f"{batch_size}, world_size={world_size}, drop_last={drop_last}")

    def _bs(self, key) -> int:
        if isinstance(self.batch_size, dict):
            if key not in self.batch_size:
                raise ValueError(f"no batch size for shape {key}; known: {list(self.batch_size)}")
            return int(self.batch_size[key])
        return int(self.batch_size)

    def bucket_sizes(self) -> dict:
        return {k: len(v) for k, v in self.buckets.items()}

    def _global_batches(self, epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        batches = []
        for key in sorted(self.buckets, key=repr):  # fixed bucket order, independent of insertion
            idx = self.buckets[key]
            if self.shuffle:
                idx = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
            bs = self._bs(key)
            for s in range(0, len(idx), bs):
                chunk = idx[s:s + bs]
                if len(chunk) == bs or not self.drop_last:
                    batches.append(chunk)
        if self.shuffle:
            batches = [batches[j] for j in torch.randperm(len(batches), generator=g).tolist()]
        usable = len(batches) - len(batches) % self.world_size  # equal step count on every rank
        return batches[:usable]

    def rank_batches(self, epoch: int) -> list[list[int]]:
        return self._global_batches(epoch)[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self._global_batches(0)) // self.world_size

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.rank_batches(self.epoch)
        while self.position < len(batches):
            batch = batches[self.position]
            self.position += 1
            yield batch
        self.epoch += 1
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "world_size": self.world_size, "num_items": len(self.shapes)}

    def load_state_dict(self, state: dict) -> None:
        for key in ("seed", "world_size", "num_items"):
            mine = self.state_dict()[key]
            if state.get(key) != mine:
                raise ValueError(f"sampler state was saved with {key}={state.get(key)}, this sampler has {mine}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
