"""Samplers: the order in which a DataLoader visits a map-style dataset (PyTorch's names and checks).

A random sampler draws ONE seed per epoch from its generator (the global generator when None) and
makes the epoch's order from `np.random.default_rng(seed)`; that seed is `last_seed`, and a seed set
with `resume_with_seed` is used instead of a draw, which is how a DataLoader resumes mid-epoch.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence, Sized

import numpy as np

from .generator import Generator, draw_seed


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be a boolean value, but got {name}={value!r}")
    return value


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


class Sampler:
    """Base class: `__iter__` yields indices (or lists of indices for a batch sampler)."""

    def __init__(self, data_source: Sized | None = None):
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


class _Seeded(Sampler):
    """A sampler whose epoch order is a function of one seed drawn at `__iter__`."""

    generator: Generator | None = None
    last_seed: int | None = None
    _pending_seed: int | None = None

    def resume_with_seed(self, seed: int) -> None:
        """The next `__iter__` uses this seed instead of drawing one (mid-epoch resume)."""
        self._pending_seed = int(seed)

    def _epoch_rng(self) -> np.random.Generator:
        seed, self._pending_seed = self._pending_seed, None
        self.last_seed = draw_seed(self.generator) if seed is None else seed
        return np.random.default_rng(self.last_seed)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_Seeded):
    """A fresh permutation every epoch; with `replacement`, `num_samples` independent draws.
    Without replacement, num_samples > len(data_source) chains whole permutations (as PyTorch)."""

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None):
        self.data_source = data_source
        self.replacement = _check_bool("replacement", replacement)
        self._num_samples = num_samples
        self.generator = generator
        _check_count("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, k = len(self.data_source), self.num_samples
        rng = self._epoch_rng()  # drawn now, not at the first next(): the DataLoader snapshots after it
        if self.replacement:
            order = rng.integers(n, size=k)
        else:
            order = np.concatenate([rng.permutation(n) for _ in range(-(-k // n))])[:k]
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_Seeded):
    """The given indices in a fresh random order every epoch."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None):
        self.indices, self.generator = indices, generator

    def __iter__(self) -> Iterator[int]:
        perm = self._epoch_rng().permutation(len(self.indices))
        return iter([self.indices[i] for i in perm.tolist()])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_Seeded):
    """`num_samples` indices drawn with probability proportional to `weights` (N,)."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None):
        self.num_samples = _check_count("num_samples", num_samples)
        self.replacement = _check_bool("replacement", replacement)
        w = np.asarray(getattr(weights, "data", weights), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(w)} non-zero weights")
        self.weights, self.generator = w, generator

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        idx = self._epoch_rng().choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size` (the last one shorter unless drop_last)."""

    def __init__(self, sampler: Sampler | Sequence[int], batch_size: int, drop_last: bool):
        self.batch_size = _check_count("batch_size", batch_size)
        self.drop_last = _check_bool("drop_last", drop_last)
        self.sampler = sampler

    def __iter__(self) -> Iterator[list[int]]:
        return self._batches(iter(self.sampler))  # iter() now: a random sampler draws its seed here

    def _batches(self, indices: Iterator[int]) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in indices:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
