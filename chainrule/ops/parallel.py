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
    parallel.block_sums(fn, n, work)     # the same, summing what each block returns

Scratch arrays live in `buffers`, a small cache keyed by (tag, shape, dtype):
a fresh multi-MB array costs a page fault per 4 KiB page on every call.
Inside a block, `sub_blocks` walks the examples a few at a time so that their
temporaries (`scratch`, one flat buffer per thread) stay in the cache.

All of this is for NumPy arrays on the CPU: ops send CuPy (GPU) arrays down their
plain `xp` path instead, never to these threads, threadpoolctl or `buffers`.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

__all__ = ["buffers", "set_num_threads", "get_num_threads", "threads", "single_threaded_blas",
           "reset_blas_control", "num_parts", "blocks", "block_sums", "scratch", "piece", "padded",
           "examples_per_sub_block", "sub_blocks"]


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


def scratch(tag: str, parts: int, size: int, dtype) -> list[np.ndarray]:
    """One flat scratch buffer of `size` elements per block (thread); take arrays from it with `piece`."""
    return [buffers.get(f"{tag}.{i}", (size,), dtype) for i in range(parts)]


def piece(flat: np.ndarray, *shape: int) -> np.ndarray:
    """A C-contiguous array of `shape` at the start of `flat` (so a short last sub-block fits too)."""
    return flat[:int(np.prod(shape))].reshape(shape)


def padded(x: np.ndarray, ph: int, pw: int, tag: str, extra_rows: int = 0,
           width: int | None = None) -> np.ndarray:
    """x: (N, C, H, W) zero-padded by (ph, pw), plus `extra_rows` zero rows at the bottom,
    in a cached buffer (N, C, H + 2*ph + extra_rows, width); `width` (default W + 2*pw)
    may cut the right padding short. The border stays zero because only the interior
    is ever written; the padding and the input's H, W are part of the key, since two
    geometries can share a padded shape (a wider input would leave its last column in
    another's border). A scratch array: never return it from an op or save it for backward."""
    N, C, H, W = x.shape
    width = W + 2 * pw if width is None else width
    if ph == 0 and pw == 0 and extra_rows == 0 and width == W:
        return x
    xp = buffers.get(f"{tag}.{ph}.{pw}.{H}x{W}", (N, C, H + 2 * ph + extra_rows, width), x.dtype, zero=True)

    def copy(i: int, lo: int, hi: int) -> None:  # a memory-bound copy: both cores' bandwidth
        xp[lo:hi, :, ph:ph + H, pw:pw + W] = x[lo:hi]

    blocks(copy, N, x.size)
    return xp


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


CACHE_BYTES = 1 << 22  # temporaries of one sub-block: 4 MiB, so that they stay in the L2/L3 cache


def examples_per_sub_block(bytes_per_example: int, n: int) -> int:
    """How many examples' temporaries fit in CACHE_BYTES (at least 1, at most n)."""
    return max(1, min(n, CACHE_BYTES // max(1, bytes_per_example)))


def sub_blocks(lo: int, hi: int, step: int) -> Iterator[tuple[int, int]]:
    """(s, e) runs of at most `step` examples covering lo:hi."""
    for s in range(lo, hi, step):
        yield s, min(s + step, hi)


def single_threaded_blas():
    """Context in which BLAS runs on the calling thread only (threadpoolctl)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def reset_blas_control() -> None:
    """Forget the threadpoolctl controller, so that the next `single_threaded_blas` also limits a
    BLAS library loaded since (threadpoolctl sees the libraries loaded when it is made)."""
    global _blas
    _blas = None


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


def block_sums(fn: Callable[[int, int, int], tuple], n: int, work: int) -> tuple:
    """Run fn(i, lo, hi) over blocks as `blocks` does; fn returns a tuple of partial sums
    (arrays, or None for a sum it does not compute) and this returns their sums over the
    blocks, in block order (so the result does not depend on which thread finished first).
    This is how a gradient that every example adds to (a weight's) is reduced."""
    parts: dict = {}

    def run(i: int, lo: int, hi: int) -> None:
        parts[i] = fn(i, lo, hi)

    blocks(run, n, work)
    ordered = [parts[i] for i in sorted(parts)]
    return tuple(None if terms[0] is None else functools.reduce(np.add, terms)
                 for terms in zip(*ordered))
