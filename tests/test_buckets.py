"""Bucket sampler: one shape per batch, disjoint equal shares per rank, deterministic, resumable."""

from __future__ import annotations

import itertools

import pytest

from minisora.data.buckets import BucketBatchSampler

SHAPES = [(5, 8, 8)] * 23 + [(5, 6, 10)] * 11 + [(3, 8, 8)] * 9 + [(1, 8, 8)] * 5


def test_batches_share_a_shape_and_cover_every_item_once():
    s = BucketBatchSampler(SHAPES, 4, seed=1)
    batches = list(s)
    for b in batches:
        assert len({SHAPES[i] for i in b}) == 1 and 1 <= len(b) <= 4
    assert sorted(itertools.chain(*batches)) == list(range(len(SHAPES)))
    assert len(batches) == len(s)
    assert list(s) != batches  # the next epoch is reshuffled
    dropped = BucketBatchSampler(SHAPES, 4, drop_last=True)
    assert all(len(b) == 4 for b in dropped)


def test_ranks_are_disjoint_and_equal_length():
    world = 3
    per_rank = [list(BucketBatchSampler(SHAPES, 2, rank=r, world_size=world, seed=7)) for r in range(world)]
    assert len({len(p) for p in per_rank}) == 1
    seen = [i for p in per_rank for b in p for i in b]
    assert len(seen) == len(set(seen))
    with pytest.raises(ValueError, match="rank=3"):
        BucketBatchSampler(SHAPES, 2, rank=3, world_size=3)


def test_resume_continues_exactly():
    full = BucketBatchSampler(SHAPES, 3, seed=2)
    reference = list(full) + list(full)  # two epochs uninterrupted
    s = BucketBatchSampler(SHAPES, 3, seed=2)
    it = iter(s)
    head = [next(it) for _ in range(5)]
    state = s.state_dict()
    resumed = BucketBatchSampler(SHAPES, 3, seed=2)
    resumed.load_state_dict(state)
    tail = list(resumed) + list(resumed)
    assert head + tail[: len(reference) - 5] == reference
    with pytest.raises(ValueError, match="seed"):
        BucketBatchSampler(SHAPES, 3, seed=9).load_state_dict(state)


def test_per_shape_batch_sizes():
    sizes = {(5, 8, 8): 2, (5, 6, 10): 2, (3, 8, 8): 3, (1, 8, 8): 5}
    for b in BucketBatchSampler(SHAPES, sizes):
        assert len(b) <= sizes[SHAPES[b[0]]]
    with pytest.raises(ValueError, match="no batch size for shape"):
        BucketBatchSampler(SHAPES, {(5, 8, 8): 2})
