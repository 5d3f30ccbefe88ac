"""Turning batch indices (map-style) or a stream (iterable-style) into collated batches: the same
functions run in the main process (num_workers=0) and in workers, so both make the same batches."""
from __future__ import annotations

from typing import Any, Callable, Iterator

from .collate import default_collate
from .dataset import TensorDataset


class MapFetcher:
    """(dataset, batch index, indices) -> batch. indices is a list (auto-collation) or one index."""

    def __init__(self, collate_fn: Callable, auto_collation: bool):
        self.collate_fn, self.auto_collation = collate_fn, auto_collation

    def __call__(self, dataset: Any, b: int, indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(dataset[indices])
        if isinstance(dataset, TensorDataset) and self.collate_fn is default_collate:
            return list(dataset.batch(indices))  # the stacked rows, without a per-sample loop
        getitems = getattr(dataset, "__getitems__", None)
        samples = getitems(indices) if getitems else [dataset[i] for i in indices]
        return self.collate_fn(samples)


class IterableBatches:
    """dataset -> iterator of collated batches of `batch_size` samples (or single converted samples)."""

    def __init__(self, collate_fn: Callable, batch_size: int | None, drop_last: bool):
        self.collate_fn, self.batch_size, self.drop_last = collate_fn, batch_size, drop_last

    def __call__(self, dataset: Any) -> Iterator[Any]:
        return self._batches(iter(dataset))

    def _batches(self, it: Iterator[Any]) -> Iterator[Any]:
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while True:
            samples = []
            for sample in it:
                samples.append(sample)
                if len(samples) == self.batch_size:
                    break
            if not samples or (len(samples) < self.batch_size and self.drop_last):
                return
            yield self.collate_fn(samples)
            if len(samples) < self.batch_size:
                return
