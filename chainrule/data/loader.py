"""`ArrayLoader` (chainrule's first `DataLoader`): shuffled minibatches of in-memory arrays X, y,
reproducible and resumable. PyTorch's DataLoader (datasets, samplers, worker processes) is
`chainrule.utils.data.DataLoader`, also `cr.data.DataLoader`; there, `DataLoader(X, y, ...)`
still builds this class, with a FutureWarning. The name `DataLoader` in this module stays until the
Solver moves to the new one.

Randomness, all from the loader's own `np.random.Generator(PCG64(seed))`:
- each epoch draws a fresh permutation (every example exactly once, no replacement)
  and a 63-bit epoch key;
- batch b of an epoch is transformed with `np.random.default_rng([key, b])`, so
  augmentation depends only on (seed, epoch, b): the same with or without
  prefetching, and a run resumed mid-epoch redoes exactly the remaining batches.

`state_dict()` is JSON-able (the generator state at the start of the current
epoch, the epoch index and the number of batches already served); a loader given
it by `load_state_dict()` continues as if never interrupted.
"""
from __future__ import annotations

import copy
import inspect
import queue
import threading
from typing import Any, Callable, Iterator

import numpy as np


def accepts_rng(fn: Callable) -> bool:
    """Whether fn can be called with rng=... (a parameter named rng, or **kwargs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "rng" or p.kind is p.VAR_KEYWORD for p in params)


class ArrayLoader:
    """Iterate over (X_batch, y_batch) minibatches of arrays X (N, ...) and y (N,).

    batch_size: examples per batch. shuffle: a new permutation every epoch (else in order).
    drop_last: skip the final short batch. transform: applied to each X batch as
    `transform(X_batch, rng=generator)` (or `transform(X_batch)` if it takes no rng).
    seed: seeds the loader's own generator. prefetch: prepare the next batch in a
    background thread while the caller works on the current one (same results).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int = 64, shuffle: bool = True,
                 drop_last: bool = False, transform: Callable | None = None, seed: int = 0,
                 prefetch: bool = False):
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim < 1 or y.ndim < 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"DataLoader: X and y must have the same first dimension, got "
                             f"X {X.shape} and y {y.shape}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int, got {seed!r}")
        self.X, self.y = X, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.transform, self.prefetch, self.seed = transform, bool(prefetch), int(seed)
        self._pass_rng = transform is not None and accepts_rng(transform)
        self.generator = np.random.Generator(np.random.PCG64(self.seed))
        self._epoch = 0                     # the epoch the next __iter__ starts (or resumes)
        self._resume_batch = 0              # batches of that epoch already served
        self._epoch_state = self._gen_state()  # generator state at the start of that epoch
        self._running: dict[str, Any] | None = None   # the epoch being iterated now

    # ------------------------------------------------------------ sizes
    def __len__(self) -> int:
        n = self.X.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self) -> int:
        """The index of the epoch in progress, or of the next one if none is."""
        return self._running["epoch"] if self._running else self._epoch

    def _gen_state(self) -> dict:
        return copy.deepcopy(self.generator.bit_generator.state)

    # ---------------------------------------------------------- batches
    def _batch(self, order: np.ndarray, key: int, b: int):
        idx = order[b * self.batch_size:(b + 1) * self.batch_size]
        xb, yb = self.X[idx], self.y[idx]
        if self.transform is not None:
            if self._pass_rng:
                xb = self.transform(xb, rng=np.random.default_rng([key, b]))
            else:
                xb = self.transform(xb)
        return xb, yb

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch, start = self._epoch, self._resume_batch
        self.generator.bit_generator.state = self._epoch_state
        n = self.X.shape[0]
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        key = int(self.generator.integers(2 ** 63))
        running = dict(epoch=epoch, batch=start, state=self._epoch_state)
        # the next __iter__ starts the next epoch even if this one is abandoned (as in PyTorch)
        self._epoch, self._resume_batch, self._epoch_state = epoch + 1, 0, self._gen_state()
        self._running = running
        return self._iterate(order, key, start, len(self), running)

    def _iterate(self, order, key, start, stop, running):
        try:
            source = (self._prefetched(order, key, start, stop) if self.prefetch
                      else (self._batch(order, key, b) for b in range(start, stop)))
            for batch in source:
                running["batch"] += 1
                yield batch
        finally:
            if self._running is running:
                self._running = None
            if self.prefetch and hasattr(source, "close"):
                source.close()

    def _prefetched(self, order, key, start, stop):
        """Batches made by a worker thread one step ahead; the thread stops when we do."""
        q: queue.Queue = queue.Queue(maxsize=2)
        stop_event = threading.Event()

        def work():
            for b in range(start, stop):
                try:
                    item = ("ok", self._batch(order, key, b))
                except BaseException as e:  # handed to the consumer, raised there
                    item = ("err", e)
                while not stop_event.is_set():
                    try:
                        q.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop_event.is_set() or item[0] == "err":
                    return

        worker = threading.Thread(target=work, name="chainrule-prefetch", daemon=True)
        worker.start()
        try:
            for _ in range(start, stop):
                kind, item = q.get()
                if kind == "err":
                    raise item
                yield item
        finally:
            stop_event.set()
            worker.join()

    # ----------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: seed, epoch, batches served in it, generator state at its start."""
        r = self._running
        if r is not None and r["batch"] < len(self):
            epoch, batch, state = r["epoch"], r["batch"], r["state"]
        else:
            epoch, batch, state = self._epoch, 0, self._epoch_state
        return {"seed": self.seed, "epoch": int(epoch), "batch": int(batch),
                "batch_size": self.batch_size, "num_examples": int(self.X.shape[0]),
                "rng_state": copy.deepcopy(state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a `state_dict()`: the next iteration resumes at its epoch and batch."""
        if state.get("num_examples", self.X.shape[0]) != self.X.shape[0] or \
                state.get("batch_size", self.batch_size) != self.batch_size:
            raise ValueError(
                f"DataLoader.load_state_dict: state is for {state.get('num_examples')} examples in "
                f"batches of {state.get('batch_size')}, this loader has {self.X.shape[0]} in batches "
                f"of {self.batch_size}")
        self.generator.bit_generator.state = copy.deepcopy(state["rng_state"])
        self._epoch_state = self._gen_state()
        self._epoch, self._resume_batch = int(state["epoch"]), int(state["batch"])
        self.seed = int(state.get("seed", self.seed))
        self._running = None

    def __repr__(self) -> str:
        return (f"ArrayLoader(N={self.X.shape[0]}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, prefetch={self.prefetch}, "
                f"epoch={self.epoch})")


DataLoader = ArrayLoader  # what the Solver imports today (chainrule.data.loader.DataLoader)
