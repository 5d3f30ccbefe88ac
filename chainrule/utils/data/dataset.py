"""Datasets in PyTorch's two styles: map-style (`__getitem__` + `__len__`) and iterable-style
(`__iter__`), and the ways of combining them: `TensorDataset`, `Subset`, `ConcatDataset`,
`ChainDataset`, `random_split`."""
from __future__ import annotations

import bisect
import math
import warnings
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ...tensor import Tensor
from .generator import Generator, draw_seed


class Dataset:
    """A map-style dataset: subclasses define `__getitem__(index)` (one sample) and `__len__`."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define `__iter__`. With worker processes each worker runs its
    own copy; shard the stream with `get_worker_info()` or every worker yields every sample."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: "IterableDataset") -> "ChainDataset":
        return ChainDataset([self, other])


def _rows(t: Any) -> Any:
    """The array behind a Tensor (or an array-like), indexed along its first dimension."""
    return t.data if isinstance(t, Tensor) else np.asarray(t)


class TensorDataset(Dataset):
    """Samples are rows of equally long tensors/arrays: `TensorDataset(X, y)[i] == (X[i], y[i])`.
    X: (N, ...) each. Arrays are kept as given (no copy)."""

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(tensors)
        arrays = [_rows(t) for t in tensors]
        if any(a.ndim == 0 for a in arrays) or len({a.shape[0] for a in arrays}) != 1:
            raise ValueError("TensorDataset: size mismatch between tensors (every one needs the same first "
                             f"dimension), got shapes {[tuple(a.shape) for a in arrays]}")
        self._arrays = arrays

    def __getitem__(self, index: int) -> tuple:
        return tuple(Tensor(a[index]) if isinstance(t, Tensor) else a[index]
                     for t, a in zip(self.tensors, self._arrays))

    def batch(self, indices: Sequence[int]) -> tuple:
        """Many rows at once as Tensors: what `default_collate` makes of them, without the loop."""
        idx = np.asarray(indices, dtype=np.int64)
        return tuple(Tensor(a[idx]) for a in self._arrays)

    def __len__(self) -> int:
        return int(self._arrays[0].shape[0])


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(int(i) for i in indices)

    def __getitem__(self, idx: int) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after another; `cumulative_sizes[k]` is the end of dataset k."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        if k == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a ConcatDataset of {len(self)} samples")
        return self.datasets[k][idx - (self.cumulative_sizes[k - 1] if k else 0)]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Counts, or fractions summing to 1 turned into counts as PyTorch does: floor each, then
    hand the remainder out one by one from the first split on."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this split is empty")
        return counts
    if any(isinstance(x, float) and not float(x).is_integer() for x in lengths) or any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative counts or fractions summing to 1, got {list(lengths)}")
    return [int(x) for x in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: Generator | None = None) -> list[Subset]:
    """Non-overlapping random Subsets of the given lengths (counts summing to len(dataset), or
    fractions summing to 1). The permutation comes from `generator` (the global one when None)."""
    counts = _split_lengths(len(dataset), lengths)
    if sum(counts) != len(dataset):
        raise ValueError(f"random_split: sum of input lengths ({sum(counts)}) does not equal the length of "
                         f"the input dataset ({len(dataset)})")
    order = np.random.default_rng(draw_seed(generator)).permutation(len(dataset)).tolist()
    ends = np.cumsum(counts).tolist()
    return [Subset(dataset, order[end - c:end]) for end, c in zip(ends, counts)]
