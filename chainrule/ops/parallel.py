"""Threads and scratch buffers shared by the ops.

NumPy releases the GIL in its ufunc loops, copies and BLAS calls, so an op
that splits its batch into blocks and hands one block to each thread uses
every core, for memory-bound work (copies, ReLU, batch norm) as well as for
GEMMs. Each block runs with single-threaded BLAS: on 2 cores a small
(32x288)@(288x4096) product took 1 ms on one BLAS thread and 14 ms on two.

    cr.ops.parallel.set_num_threads(2)
    with cr.ops.parallel.threads(1):     # temporarily
        ...
    parallel.blocks(fn, n, work)         # fn(i, lo, hi) over blocks of n examples

Scratch arrays live in `buffers`, a small cache keyed by (tag, shape, dtype):
a fresh multi-MB array costs a page fault per 4 KiB page on every call.
"""
from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

__all__ = ["buffers", "set_num_threads", "get_num_threads", "threads", "single_threaded_blas",
           "num_parts", "blocks"]


# ------------------------------------------------------------ buffer cache
class BufferCache:
    """Scratch arrays reused across calls, keyed by (tag, shape, dtype).

    Only for temporaries that die before the call returns: never hand one out
    as an op's output or save one for backward. `zero=True` zeroes a new
    buffer only: padded-input buffers keep their zero border because only the
    interior is ever written.
    """

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._arrays: OrderedDict = OrderedDict()
        self._bytes = 0

    def get(self, tag: str, shape: tuple, dtype, zero: bool = False) -> np.ndarray:
        key = (tag, tuple(shape), np.dtype(dtype))
        arr = self._arrays.pop(key, None)
        if arr is None:
            arr = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and self._arrays:  # evict least recently used
                _, old = self._arrays.popitem(last=False)
                self._bytes -= old.nbytes
        self._arrays[key] = arr
        return arr

    def clear(self) -> None:
        self._arrays.clear()
        self._bytes = 0


buffers = BufferCache()


# ------------------------------------------------------------------ threads
def default_num_threads() -> int:
    """$CHAINRULE_NUM_THREADS, $OMP_NUM_THREADS, $OPENBLAS_NUM_THREADS, or the usable cores (at most 8)."""
    for var in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var, "").isdigit() and int(os.environ[var]) > 0:
            return int(os.environ[var])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_num_threads = default_num_threads()
_pool: ThreadPoolExecutor | None = None
_blas = None  # threadpoolctl controller, made on first use


def set_num_threads(n: int) -> None:
    """Threads the ops split a batch over (PyTorch's `torch.set_num_threads`)."""
    global _num_threads, _pool
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    if n != _num_threads:
        _num_threads, _pool = n, None


def get_num_threads() -> int:
    """Threads the ops split a batch over (PyTorch's `torch.get_num_threads`)."""
    return _num_threads


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """`with threads(1): ...` runs the ops inside on n threads, then restores the setting."""
    before = _num_threads
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)


def single_threaded_blas():
    """Context in which BLAS runs on the calling thread only (threadpoolctl)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def num_parts(n: int, work: int) -> int:
    """How many blocks `blocks` splits n examples into: one per thread, one for small jobs."""
    return min(_num_threads, n) if work >= (1 << 20) else 1


def blocks(fn: Callable[[int, int, int], None], n: int, work: int) -> None:
    """Run fn(i, lo, hi) over blocks [lo, hi) of the n examples, one per thread.

    `work` (elements touched) decides whether threads pay. Each block runs with
    single-threaded BLAS, so a GEMM whose inner dimension is the batch (conv's
    dW) no longer makes BLAS threads wait on each other hundreds of times per
    call; small jobs run on this thread."""
    global _pool
    parts = num_parts(n, work)
    if parts <= 1:
        with single_threaded_blas():
            fn(0, 0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_num_threads, thread_name_prefix="chainrule")
    bounds = [n * i // parts for i in range(parts + 1)]
    with single_threaded_blas():
        futures = [_pool.submit(fn, i, lo, hi) for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]
        for f in futures:
            f.result()
