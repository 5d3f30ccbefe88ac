"""The main process's side of DataLoader workers: a pool of processes and one epoch's iteration.

Process start method: 'fork' on Linux. A forked worker inherits the dataset (and its transforms,
lambdas included) without pickling it, starts in milliseconds, and shares the parent's read-only
pages (an in-memory dataset is not copied). The usual hazard of fork, a lock held by another thread
at the fork, does not bite here: workers only read samples, decode and write to /dev/shm, with BLAS
pinned to one thread; pass multiprocessing_context='spawn' (or 'forkserver') to the DataLoader for
a dataset that holds threads or handles that must not be forked. Elsewhere: 'spawn' (the dataset and
collate_fn must then pickle).

Failure handling: every wait is on the workers' pipes AND their process sentinels, so a worker
killed by a signal is noticed at once (an error naming it and the signal, never a hang); `timeout`
bounds each wait; an exception in a worker comes back with its traceback and is raised again here
with the same type; any exception (Ctrl-C included) shuts the pool down: workers are asked to stop,
then terminated, all are joined (no zombie) and the pool's /dev/shm files are swept.
"""
from __future__ import annotations

import atexit
import collections
import multiprocessing as mp
import os
import secrets
import signal
import sys
import time
import warnings
import weakref
from multiprocessing.connection import wait
from typing import Any

from . import shm
from .worker import WorkerArgs, worker_loop

_END = object()           # a worker's stream is exhausted (IterableDataset)
_pools: "weakref.WeakSet[WorkerPool]" = weakref.WeakSet()
POLL_S = 5.0              # without a timeout, wake this often to look at the workers anyway


def default_context() -> str:
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _describe_exit(worker_id: int, pid: int, code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = (" (SIGKILL is often the out-of-memory killer)" if -code == signal.SIGKILL else
                " (a full /dev/shm can cause this)" if -code == signal.SIGBUS else "")
        return f"DataLoader worker {worker_id} (pid {pid}) was killed by {name}{hint}"
    return f"DataLoader worker {worker_id} (pid {pid}) exited unexpectedly with exit code {code}"


def _reraise(exc_type: type, text: str) -> None:
    """Raise the worker's exception type with its traceback as the message (as PyTorch does)."""
    try:
        exc = exc_type(text)
    except Exception:
        raise RuntimeError(text) from None
    raise exc


class WorkerPool:
    """num_workers processes serving one DataLoader (for one epoch, or for all with persistent_workers)."""

    def __init__(self, n: int, make_args, context: str | Any | None):
        ctx = mp.get_context(context or default_context()) if not hasattr(context, "Process") else context
        self.prefix = f"crdl_{os.getpid()}_{secrets.token_hex(4)}_"
        self.procs, self.conns, self.closed = [], [], False
        self.released: collections.deque = collections.deque()  # (worker, slot) whose arrays are gone
        _pools.add(self)
        try:
            for i in range(n):
                parent, child = ctx.Pipe(duplex=True)
                args: WorkerArgs = make_args(i, self.prefix)
                p = ctx.Process(target=worker_loop, args=(args, child), daemon=True,
                                name=f"chainrule-dataloader-worker-{i}")
                with warnings.catch_warnings():
                    # Python 3.12+ warns on any fork of a process with threads (BLAS pools count). The
                    # hazard is a lock held at the fork; a worker only decodes, collates and writes
                    # /dev/shm (OpenBLAS re-initialises after fork): the module docstring says why fork
                    warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                    p.start()
                child.close()
                self.procs.append(p)
                self.conns.append(parent)
        except BaseException:
            self.close()
            raise

    def free_later(self, w: int):
        """A callback for shm.read: slot k of worker w may be reused (called by a finalizer, any time)."""
        return lambda k: self.released.append((w, k))

    def _flush_released(self) -> None:
        """Tell each worker which of its slots are free again, before anything else is sent to it."""
        freed: dict[int, list[int]] = {}
        while self.released:
            w, k = self.released.popleft()
            freed.setdefault(w, []).append(k)
        for w, ks in freed.items():
            try:
                self.conns[w].send(("free", ks))
            except Exception:  # a dead worker: reported by the send or receive that follows
                pass

    def send(self, w: int, msg: Any) -> None:
        try:
            self._flush_released()
            self.conns[w].send(msg)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            self.procs[w].join(1.0)
            raise RuntimeError(_describe_exit(w, self.procs[w].pid, self.procs[w].exitcode)) from None

    def receive(self, workers: set[int], timeout: float | None) -> list[tuple[int, Any]]:
        """Messages from any of `workers`; [] if `timeout` passed. A dead worker raises RuntimeError."""
        conns = {self.conns[w]: w for w in workers}
        sentinels = {self.procs[w].sentinel: w for w in range(len(self.procs))}
        ready = wait(list(conns) + list(sentinels), timeout)
        out = []
        for r in ready:
            if r in conns:
                try:
                    out.append((conns[r], r.recv()))
                except (EOFError, OSError):
                    w = conns[r]
                    self.procs[w].join(1.0)
                    raise RuntimeError(_describe_exit(w, self.procs[w].pid, self.procs[w].exitcode)) from None
        for r in ready:
            if r in sentinels and not out:  # messages first: a worker may have answered, then died
                w = sentinels[r]
                self.procs[w].join(1.0)
                raise RuntimeError(_describe_exit(w, self.procs[w].pid, self.procs[w].exitcode))
        return out

    def close(self, grace: float = 2.0) -> None:
        """Stop every worker (ask, wait up to `grace` s, then terminate, then kill), reap them all, sweep
        their shm files."""
        if self.closed:
            return
        self.closed = True
        for c in self.conns:
            try:
                c.send(None)
            except Exception:
                pass
        deadline = time.monotonic() + grace
        for p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self.procs:
            if p.exitcode is None:
                p.terminate()
                p.join(2.0)
            if p.exitcode is None:
                p.kill()
                p.join()
        for c in self.conns:
            c.close()
        shm.sweep(self.prefix)

    def __del__(self):
        self.close()


@atexit.register
def _close_all() -> None:
    """At interpreter exit (an uncaught Ctrl-C included) no worker or shm file outlives the program."""
    for pool in list(_pools):
        pool.close()


class MultiProcessIter:
    """One epoch over a WorkerPool: requests go out round-robin, batches come back in order.

    At most prefetch_factor * num_workers batches are requested ahead. Batch numbers start at
    `start` (a resumed epoch), so each batch keeps its per-batch seed.
    """

    def __init__(self, loader, pool: WorkerPool, base_seed: int, index_iter, start: int, owns_pool: bool):
        self.loader, self.pool, self.owns_pool = loader, pool, owns_pool
        self.index_iter, self.iterable = index_iter, index_iter is None
        n = len(pool.procs)
        self.active = set(range(n))
        self.outstanding: dict[int, int] = {}   # batch number -> worker
        self.cache: dict[int, Any] = {}
        self.skip = start if self.iterable else 0   # a stream cannot seek: make and drop those batches
        self.send_idx = self.rcvd_idx = 0 if self.iterable else start
        self.next_worker, self.done = 0, False
        self.timeout = float(loader.timeout)
        for w in range(n):
            pool.send(w, ("epoch", base_seed))
        for _ in range(loader.prefetch_factor * n):
            self._put()

    def _put(self) -> None:
        if not self.active:
            return
        n = len(self.pool.procs)
        while self.next_worker % n not in self.active:
            self.next_worker += 1
        w = self.next_worker % n
        if self.iterable:
            msg = ("next", self.send_idx)
        else:
            indices = next(self.index_iter, None)
            if indices is None:
                self.active = set()
                return
            msg = ("batch", self.send_idx, indices)
        self.pool.send(w, msg)
        self.outstanding[self.send_idx] = w
        self.send_idx += 1
        self.next_worker += 1

    def __iter__(self):
        return self

    def __next__(self) -> Any:
        try:
            while True:
                if self.rcvd_idx in self.cache:
                    item = self.cache.pop(self.rcvd_idx)
                    self.rcvd_idx += 1
                    self._put()
                    if item is _END:
                        continue
                    if self.skip:  # a resumed stream: this batch was served before the interruption
                        self.skip -= 1
                        continue
                    self.loader._served_one(self)
                    return item
                if not self.outstanding:
                    raise StopIteration
                self._receive()
        except StopIteration:
            self.loader._epoch_done(self)
            self._finish()
            raise
        except BaseException:
            self._finish(failed=True)  # Ctrl-C, a dead worker, a timeout, an error in the dataset
            raise

    def _receive(self, discard: bool = False) -> None:
        workers = set(self.outstanding.values())
        msgs = self.pool.receive(workers, self.timeout if self.timeout > 0 else POLL_S)
        if not msgs and self.timeout > 0:
            raise RuntimeError(f"DataLoader timed out after {self.timeout:g} seconds waiting for a batch "
                               f"from its workers")
        error = None
        for w, msg in msgs:
            kind, b = msg[0], msg[1]
            self.outstanding.pop(b, None)
            if kind == "ok":
                _, _, skeleton, path, size = msg
                if discard:
                    shm.discard(path)
                    self.pool.released.extend((w, k) for k in shm.slots_of(skeleton))
                else:
                    self.cache[b] = shm.read(skeleton, path, size, self.pool.free_later(w))
            elif kind == "end":
                self.active.discard(w)
                self.cache[b] = _END
            elif error is None and not discard:
                error = msg
        if error is not None:
            _reraise(error[2], error[3])

    def _finish(self, failed: bool = False) -> None:
        if self.done:
            return
        self.done = True
        if self.owns_pool or failed:
            self.loader._drop_pool(self.pool)
            self.pool.close(grace=0.2 if failed else 2.0)  # after a failure, do not wait on a stuck worker
        else:
            self.drain()

    def drain(self) -> None:
        """Receive and drop what is still requested (a persistent pool's abandoned epoch)."""
        try:
            while self.outstanding and not self.pool.closed:
                self._receive(discard=True)
        except BaseException:
            self.loader._drop_pool(self.pool)
            self.pool.close()
            raise

    def __len__(self) -> int:
        return len(self.loader)

    def __del__(self):
        if not self.done:
            self.done = True
            if self.owns_pool:
                self.pool.close()
