"""DistributedSampler: each rank's share of a dataset for one epoch (torch.utils.data's).

    sampler = DistributedSampler(dataset, shuffle=True, seed=0)  # rank and size from chainrule.distributed
    loader = DataLoader(dataset, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)            # a new order each epoch, the same on every rank
        for X, y in loader: ...

As torch's: every rank computes the same order (seeded by seed + epoch), pads it by repeating
its start until it divides evenly (or, with drop_last, cuts the tail), and takes every
num_replicas-th index from its rank on, so the shards are disjoint (but for the padding) and
of equal length, which keeps the ranks' all_reduce calls in step. With shuffle=False the
indices are torch's exactly; with shuffle=True the order is NumPy's PCG64 permutation of
seed + epoch, not torch's MT19937 randperm, so the indices differ from torch's for the same
seed while every property above holds.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Sized

import numpy as np

from ... import distributed as dist
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """dataset: anything with len() (or an int, the number of examples).
    num_replicas, rank: default to chainrule.distributed's world size and rank.
    shuffle, seed: the epoch's order is a permutation seeded with seed + epoch (set_epoch).
    drop_last: cut the tail so every rank's shard holds only real examples (else pad)."""

    def __init__(self, dataset: Sized | int, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        n = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)
        self.dataset_len = int(n)
        self.num_replicas = dist.get_world_size() if num_replicas is None else int(num_replicas)
        self.rank = dist.get_rank() if rank is None else int(rank)
        if self.num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be at least 1, got {self.num_replicas}")
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"Invalid rank {self.rank}, rank should be in the interval [0, {self.num_replicas - 1}]")
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        if self.drop_last and self.dataset_len % self.num_replicas:
            self.num_samples = math.ceil((self.dataset_len - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(self.dataset_len / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order __iter__ gives (call it before each epoch, on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch (int64, length num_samples)."""
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.dataset_len)
        else:
            order = np.arange(self.dataset_len)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > len(order):  # pad by repeating the start (more than once if tiny)
            reps = math.ceil((self.total_size - len(order)) / max(len(order), 1))
            order = np.concatenate([order] + [order] * reps)[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])
