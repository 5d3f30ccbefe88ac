"""`DataLoader`: batches of Tensors from a Dataset, in the main process or in worker processes
(PyTorch's arguments and defaults), resumable mid-epoch with `state_dict()`/`load_state_dict()`.

Randomness, per epoch: one `base_seed` drawn from `generator` (chainrule's global generator when
None), then the sampler's seed (RandomSampler draws from the same `generator` when shuffle=True).
Batch b is made under `current_rng() = default_rng([base_seed, b])`, so it does not depend on the
process that makes it (num_workers=0 and num_workers=N give equal batches) and a resumed epoch
remakes exactly the batches that were left.
"""
from __future__ import annotations

import copy
import os
import weakref
from typing import Any, Callable, Iterator

from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .fetch import IterableBatches, MapFetcher
from .generator import Generator, draw_seed
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .worker import WorkerArgs, batch_rng
from .workers import MultiProcessIter, WorkerPool


class _InfiniteConstantSampler(Sampler):
    """The placeholder sampler of an IterableDataset (it has no indices)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _is_array_form(batch_size: Any) -> bool:
    """DataLoader(X, y, ...): a second argument that is an array, not a batch size."""
    return batch_size is not None and not isinstance(batch_size, (int, float)) and hasattr(batch_size, "__len__")


def _check_args(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, drop_last, timeout,
                prefetch_factor, persistent_workers) -> None:
    """PyTorch's argument checks, with its messages."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size should be a positive integer value or None, but got batch_size={batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                         f"multiprocessing (got {num_workers!r})")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) or prefetch_factor < 1:
        raise ValueError(f"prefetch_factor option should be a positive int, got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if isinstance(dataset, IterableDataset):
        if shuffle:
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
        if sampler is not None:
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
        if batch_sampler is not None:
            raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                             f"but got batch_sampler={batch_sampler}")
    elif not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"DataLoader: dataset must be a map-style Dataset (__getitem__ and __len__) or an "
                        f"IterableDataset, got {type(dataset).__name__}; for arrays X, y use "
                        f"DataLoader(TensorDataset(X, y), ...)")
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")


class DataLoader:
    """Iterate over batches of `dataset`.

    batch_size: samples per batch (None: one sample at a time, not batched). shuffle: a new order
    every epoch. sampler / batch_sampler: the order (indices / lists of indices) instead. num_workers:
    processes that load batches (0: the main process). collate_fn: list of samples -> batch
    (default_collate: Tensors). pin_memory: accepted; a no-op (there is no pinned host memory on the
    CPU). drop_last: skip the final short batch. timeout: seconds to wait for a worker's batch (0:
    for ever, though a dead worker is noticed at once). worker_init_fn(worker_id): run in each worker
    at its start. generator: the Generator every seed of an epoch is drawn from. prefetch_factor:
    batches requested ahead per worker. persistent_workers: keep the workers between epochs.
    multiprocessing_context: 'fork' (Linux default), 'spawn' or 'forkserver'.
    """

    def __new__(cls, dataset: Any = None, batch_size: Any = 1, *args: Any, **kwargs: Any):
        if _is_array_form(batch_size):
            import warnings
            from ...data.loader import ArrayLoader
            warnings.warn("DataLoader(X, y, ...) is chainrule's old array form (shuffle=True by default, "
                          "seed=, transform=); write DataLoader(TensorDataset(X, y), batch_size=..., "
                          "shuffle=True) (or cr.data.ArrayLoader(X, y, ...))", FutureWarning, stacklevel=2)
            return ArrayLoader(dataset, batch_size, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = False,
                 sampler: Sampler | None = None, batch_sampler: Sampler | None = None,
                 num_workers: int = 0, collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable | None = None,
                 generator: Generator | None = None, prefetch_factor: int = 2,
                 persistent_workers: bool = False, multiprocessing_context: Any = None):
        shuffle = bool(shuffle)
        _check_args(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, drop_last, timeout,
                    prefetch_factor, persistent_workers)
        self.dataset, self.num_workers, self.pin_memory = dataset, num_workers, bool(pin_memory)
        self.timeout, self.worker_init_fn, self.generator = timeout, worker_init_fn, generator
        self.prefetch_factor, self.persistent_workers = prefetch_factor, bool(persistent_workers)
        self.multiprocessing_context = multiprocessing_context
        self._iterable = isinstance(dataset, IterableDataset)
        if sampler is None:
            sampler = (_InfiniteConstantSampler() if self._iterable else
                       RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size, self.drop_last = batch_size, drop_last
        auto = batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else (default_collate if auto else default_convert)
        self._fetch = MapFetcher(self.collate_fn, auto)
        self._stream = IterableBatches(self.collate_fn, batch_size if auto else None, drop_last)
        self._pool: WorkerPool | None = None
        self._epoch = 0
        self._running: dict[str, Any] | None = None   # the epoch being iterated: seeds, states, batches served
        self._resume: dict[str, Any] | None = None    # set by load_state_dict, used by the next __iter__

    # ------------------------------------------------------------------ sizes
    @property
    def _index_sampler(self) -> Sampler:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for a stream without a length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    # --------------------------------------------------------------- iterate
    def __iter__(self) -> Iterator[Any]:
        if self._running is not None and self._running.get("iterator") is not None:
            old = self._running["iterator"]()
            if isinstance(old, MultiProcessIter) and not old.done:
                old.done = True
                if old.owns_pool:
                    old.pool.close()
                else:
                    old.drain()  # a persistent pool must not hand the old epoch's batches to the new one
        base_seed, index_iter, start = self._start_epoch()
        if self.num_workers == 0:
            it: Iterator[Any] = self._single_process(base_seed, index_iter, start)
        else:
            owns = not self.persistent_workers
            if self._pool is None or self._pool.closed:
                self._pool = WorkerPool(self.num_workers, lambda i, prefix: self._worker_args(i, prefix, base_seed),
                                        self.multiprocessing_context)
            pool = self._pool
            if owns:
                self._pool = None
            it = MultiProcessIter(self, pool, base_seed, index_iter, start, owns_pool=owns)
        self._running["iterator"] = weakref.ref(it) if isinstance(it, MultiProcessIter) else None
        return it

    def _worker_args(self, i: int, prefix: str, base_seed: int) -> WorkerArgs:
        return WorkerArgs(worker_id=i, num_workers=self.num_workers, base_seed=base_seed, dataset=self.dataset,
                          fetch=self._fetch, iterable=self._stream if self._iterable else None,
                          worker_init_fn=self.worker_init_fn, prefix=prefix, parent_pid=os.getpid())

    def _start_epoch(self) -> tuple[int, Iterator | None, int]:
        """Draw (or, resuming, reuse) the epoch's seeds; -> (base_seed, batch-index iterator, first batch)."""
        resume, self._resume = self._resume, None
        start = int(resume["batch"]) if resume else 0
        if resume and resume.get("base_seed") is not None:  # inside an epoch: its seeds, not new draws
            base_seed = int(resume["base_seed"])
            if resume.get("sampler_seed") is not None and hasattr(self.sampler, "resume_with_seed"):
                self.sampler.resume_with_seed(resume["sampler_seed"])
            epoch = int(resume["epoch"])
        else:
            base_seed = draw_seed(self.generator)
            epoch = int(resume["epoch"]) if resume else self._epoch
        index_iter = None if self._iterable else iter(self._index_sampler)  # the sampler draws its seed here
        if not self._iterable:
            for _ in range(start):  # the batches already served: skip their indices, load nothing
                next(index_iter)
        self._epoch = epoch + 1
        self._running = {"epoch": epoch, "batch": start, "base_seed": base_seed,
                         "sampler_seed": getattr(self.sampler, "last_seed", None),
                         "generators": self._generator_states(), "iterator": None}
        return base_seed, index_iter, start

    def _single_process(self, base_seed: int, index_iter: Iterator | None, start: int) -> Iterator[Any]:
        running = self._running
        if self._iterable:
            stream = self._stream(self.dataset)
            b = 0
            while True:
                with batch_rng(base_seed, b):
                    batch = next(stream, StopIteration)
                b += 1
                if batch is StopIteration:
                    break
                if b <= start:
                    continue
                running["batch"] += 1
                yield batch
        else:
            for b, indices in enumerate(index_iter, start):
                with batch_rng(base_seed, b):
                    batch = self._fetch(self.dataset, b, indices)
                running["batch"] += 1
                yield batch
        running["finished"] = True

    def _served_one(self, it: MultiProcessIter) -> None:
        if self._running is not None and self._running.get("iterator") is not None \
                and self._running["iterator"]() is it:
            self._running["batch"] += 1

    def _epoch_done(self, it: MultiProcessIter) -> None:
        if self._running is not None and self._running.get("iterator") is not None \
                and self._running["iterator"]() is it:
            self._running["finished"] = True

    def _drop_pool(self, pool: WorkerPool) -> None:
        if self._pool is pool:
            self._pool = None

    # ----------------------------------------------------------------- state
    def _generators(self) -> dict[str, Generator]:
        gens = {}
        if isinstance(self.generator, Generator):
            gens["loader"] = self.generator
        g = getattr(self.sampler, "generator", None)
        if isinstance(g, Generator) and g is not self.generator:
            gens["sampler"] = g
        return gens

    def _generator_states(self) -> dict[str, Any]:
        return {k: g.get_state() for k, g in self._generators().items()}

    def state_dict(self) -> dict[str, Any]:
        """JSON-able position: the epoch, batches served in it, its seeds, and the generators' states
        after its draws. Before or after a whole epoch: batch 0 and the generators' states now."""
        r = self._running
        if r is not None and not r.get("finished") and (self._iterable or r["batch"] < len(self)):
            state = {k: copy.deepcopy(r[k]) for k in ("epoch", "batch", "base_seed", "sampler_seed", "generators")}
        else:
            state = {"epoch": self._epoch, "batch": 0, "base_seed": None, "sampler_seed": None,
                     "generators": self._generator_states()}
        state["num_batches"] = None if self._iterable else len(self)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict()`: the next iteration resumes at its epoch and batch with the same
        seeds, so it yields exactly the batches the interrupted one had left (with or without workers)."""
        if not isinstance(state, dict) or "batch" not in state:
            raise ValueError("DataLoader.load_state_dict expects a dict returned by DataLoader.state_dict()")
        if state.get("num_batches") is not None and not self._iterable and state["num_batches"] != len(self):
            raise ValueError(f"DataLoader.load_state_dict: the state is for an epoch of {state['num_batches']} "
                             f"batches, this loader makes {len(self)}")
        gens = self._generators()
        for k, s in state.get("generators", {}).items():
            if k in gens:
                gens[k].set_state(s)
        self._resume = copy.deepcopy(state)
        self._epoch = int(state["epoch"])
        self._running = None

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"num_workers={self.num_workers}, drop_last={self.drop_last})")

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
