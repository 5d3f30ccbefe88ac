"""What runs inside a DataLoader worker process, and the per-batch randomness shared with the main one.

Reproducibility: batch b of an epoch is always made under `current_rng() == default_rng([base_seed, b])`,
in whichever process makes it, so random per-sample transforms that draw from `current_rng()` (all of
chainrule's do) give the same batches with num_workers=0 and num_workers=N for the same seed.
A worker is also seeded like a PyTorch worker (`random`, NumPy's legacy global and chainrule's global
generator from base_seed + worker_id), for code that draws from those.
"""
from __future__ import annotations

import os
import random
import signal
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from ...rng import get_generator, manual_seed
from . import collate, shm


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: its `id` (0..num_workers-1), `num_workers`, `seed` and its copy of `dataset`."""
    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None
_batch_rng: np.random.Generator | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's WorkerInfo, or None in the main process (shard an IterableDataset with it)."""
    return _worker_info


def current_rng() -> np.random.Generator:
    """The generator random transforms draw from: the batch's own inside a DataLoader (same in every
    process), chainrule's global generator (`cr.manual_seed`) outside one."""
    return _batch_rng if _batch_rng is not None else get_generator()


@contextmanager
def batch_rng(base_seed: int, batch: int) -> Iterator[np.random.Generator]:
    """Make batch `batch` of the epoch seeded by `base_seed` under its own generator."""
    global _batch_rng
    saved, _batch_rng = _batch_rng, np.random.default_rng([base_seed, batch])
    try:
        yield _batch_rng
    finally:
        _batch_rng = saved


def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed the process-wide generators as PyTorch seeds a worker; -> the worker's seed."""
    seed = (base_seed + worker_id) % 2 ** 63
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([base_seed, worker_id]).generate_state(1)[0])
    manual_seed(seed)
    return seed


@dataclass
class WorkerArgs:
    """Everything a worker needs, fixed for the pool's lifetime."""
    worker_id: int
    num_workers: int
    base_seed: int
    dataset: Any
    fetch: Callable[[Any, int, Any], Any]   # (dataset, batch index, indices) -> collated batch
    iterable: Callable[[Any], Iterator] | None  # for an IterableDataset: dataset -> batch iterator
    worker_init_fn: Callable[[int], None] | None
    prefix: str                            # shared-memory file names start with it
    parent_pid: int


def _send_error(conn, batch: int, where: str) -> None:
    """Hand an exception to the main process: its type (to re-raise the same) and its traceback text."""
    import sys
    exc_type, exc, _ = sys.exc_info()
    text = f"Caught {exc_type.__name__} in DataLoader worker process {where}.\nOriginal " + \
        "".join(traceback.format_exc())
    try:
        conn.send(("err", batch, exc_type, text))
    except Exception:  # an exception type that cannot be pickled: the text is enough
        conn.send(("err", batch, RuntimeError, text))


def worker_loop(args: WorkerArgs, conn) -> None:
    """Serve requests from the main process until told to stop (None) or orphaned.

    Requests: ("batch", b, indices) for a map-style dataset; ("epoch", base_seed) then ("next", b)
    for an IterableDataset. Replies: ("ok", b, skeleton, path, size), ("end", b) when the stream
    is exhausted, ("err", b, type, text).
    """
    global _worker_info
    # Ctrl-C reaches the whole foreground process group: the main process decides, workers ignore it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits
    limits = threadpool_limits(1)  # noqa: F841  N workers x N BLAS threads would oversubscribe the cores
    seed = seed_worker(args.base_seed, args.worker_id)
    _worker_info = WorkerInfo(args.worker_id, args.num_workers, seed, args.dataset)
    try:
        if args.worker_init_fn is not None:
            args.worker_init_fn(args.worker_id)
    except Exception:
        _send_error(conn, -1, f"{args.worker_id} (in worker_init_fn)")
        return
    base_seed, stream, counter = args.base_seed, None, 0
    slots = shm.SlotPool(os.path.join(shm.SHM_DIR, f"{args.prefix}{args.worker_id}_"))
    try:
        while True:
            if not conn.poll(1.0):
                if os.getppid() != args.parent_pid:  # the main process is gone: nobody will read our batches
                    return
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                return
            if msg[0] == "free":      # the main process dropped every array of these slots
                slots.release(msg[1])
                continue
            if msg[0] == "epoch":
                base_seed = msg[1]
                stream = args.iterable(args.dataset) if args.iterable is not None else None
                continue
            counter += 1
            _serve(args, conn, msg, base_seed, stream, slots, counter)
    finally:
        slots.close()


def _serve(args: WorkerArgs, conn, msg, base_seed: int, stream, slots: "shm.SlotPool", counter: int) -> None:
    """Make one batch into shared memory and announce it (or the end of the stream, or the error)."""
    b = msg[1]
    path = os.path.join(shm.SHM_DIR, f"{args.prefix}{args.worker_id}_{counter}")
    try:
        collate._allocate = slots.allocate  # default_collate stacks straight into a shared slot
        try:
            with batch_rng(base_seed, b):
                batch = args.fetch(args.dataset, b, msg[2]) if msg[0] == "batch" else next(stream, StopIteration)
        finally:
            collate._allocate = None
        if batch is StopIteration:
            slots.end_batch(failed=True)
            conn.send(("end", b))
            return
        skeleton, size = shm.write(batch, path, slots)
        slots.end_batch()
        conn.send(("ok", b, skeleton, path, size))
    except Exception:
        slots.end_batch(failed=True)
        _send_error(conn, b, str(args.worker_id))
