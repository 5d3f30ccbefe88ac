"""Batches from worker processes to the main one through shared memory, not through a pipe.

A worker writes every array of a collated batch into ONE file in /dev/shm (the tmpfs behind POSIX
shared memory on Linux; the temp folder elsewhere) and sends only the file's name and a skeleton of
the batch (shapes, dtypes, offsets, and any non-array leaves). The main process maps the file,
unlinks it at once (the mapping stays valid; the memory is freed when the last array that views it
is) and wraps views of the mapping in Tensors: no copy of the data on either side of the pipe.

Every file of one worker pool starts with the pool's prefix, so the main process can sweep what a
dead or interrupted worker left behind (`sweep(prefix)`).
"""
from __future__ import annotations

import collections.abc as abc
import glob
import mmap
import os
import tempfile
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...tensor import Tensor

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
ALIGN = 64  # each array starts on a cache line


@dataclass(frozen=True)
class ArrayRef:
    """Where one array of the batch lies (a worker's slot file at `path`, or else the batch's
    file at `offset`), and whether it was a Tensor."""
    offset: int
    shape: tuple
    dtype: str
    tensor: bool
    path: str | None = None
    size: int = 0
    slot: int | None = None   # a worker's reusable slot: released when the arrays viewing it are gone


class SlotPool:
    """A worker's reusable shared-memory buffers ("slots"), one file each.

    default_collate stacks each batch leaf straight into a slot (no copy after the stack). A slot
    is busy from then until the main process reports that every array viewing it is gone (a
    weakref finalizer there, see `release`); then it serves a later batch. Reusing slots matters:
    fresh tmpfs pages cost here about 9x a copy into pages already mapped (~100 ms against ~12 ms
    for a 64 x 3 x 224 x 224 float32 batch). At most `keep` free slots are kept; the worker unlinks
    all of its slot files when it exits (and the main process sweeps the prefix in any case).
    """

    def __init__(self, base: str, keep: int = 4):
        self.base, self.keep, self.count = base, keep, 0
        self.slots: dict[int, list] = {}   # id -> [path, size, mmap, busy]
        self.batch: list[int] = []         # slots taken by the batch being made
        self.views: dict[int, tuple[np.ndarray, int]] = {}  # id(view) -> (view, slot) for this batch

    def allocate(self, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        need = max(int(np.prod(shape)) * dtype.itemsize, 1)
        free = [(s[1], k) for k, s in self.slots.items() if not s[3] and s[1] >= need]
        if free:
            k = min(free)[1]
        else:
            self.count += 1
            k, path = self.count, f"{self.base}s{self.count}"
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            try:
                os.ftruncate(fd, need)
                mm = mmap.mmap(fd, need)
            finally:
                os.close(fd)
            self.slots[k] = [path, need, mm, False]
        self.slots[k][3] = True
        self.batch.append(k)
        a = np.ndarray(shape, dtype, buffer=self.slots[k][2])
        self.views[id(a)] = (a, k)
        return a

    def lookup(self, a: np.ndarray) -> tuple[int, str, int] | None:
        """(slot, path, size) if `a` is a slot's array made for this batch."""
        hit = self.views.get(id(a))
        return (hit[1], self.slots[hit[1]][0], self.slots[hit[1]][1]) if hit is not None and hit[0] is a else None

    def end_batch(self, failed: bool = False) -> None:
        """The batch is sent (or failed: its slots are free again)."""
        if failed:
            self.release(self.batch)
        self.batch, self.views = [], {}

    def release(self, ids) -> None:
        for k in ids:
            if k in self.slots:
                self.slots[k][3] = False
        free = [k for k, s in self.slots.items() if not s[3]]
        for k in free[:max(0, len(free) - self.keep)]:  # more free slots than needed: give memory back
            self._drop(k)

    def _drop(self, k: int) -> None:
        path, _, mm, _ = self.slots.pop(k)
        discard(path)
        try:
            mm.close()
        except BufferError:  # a view still exists in this process: the GC unmaps it later
            pass

    def close(self) -> None:
        for k in list(self.slots):
            self._drop(k)


def _skeleton(obj: Any, arrays: list[np.ndarray], offset: list[int], arena: SlotPool | None = None) -> Any:
    """obj with each array/Tensor replaced by an ArrayRef (appending the array to `arrays`)."""
    if isinstance(obj, Tensor) or (isinstance(obj, np.ndarray) and obj.dtype.kind not in "OUSV"):
        raw = obj.data if isinstance(obj, Tensor) else obj
        own = arena.lookup(raw) if arena is not None else None
        if own is not None:  # already in a slot
            return ArrayRef(0, raw.shape, raw.dtype.str, isinstance(obj, Tensor), own[1], own[2], own[0])
        a = np.ascontiguousarray(raw)
        ref = ArrayRef(offset[0], a.shape, a.dtype.str, isinstance(obj, Tensor))
        arrays.append(a)
        offset[0] += -(-a.nbytes // ALIGN) * ALIGN
        return ref
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_skeleton(x, arrays, offset, arena) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_skeleton(x, arrays, offset, arena) for x in obj)
    if isinstance(obj, abc.Mapping):
        return type(obj)({k: _skeleton(v, arrays, offset, arena) for k, v in obj.items()})
    return obj


def write(batch: Any, path: str, arena: SlotPool | None = None) -> tuple[Any, int]:
    """Put the arrays of `batch` that are not already in `arena`'s files into a new file at `path`;
    -> (skeleton, bytes written there)."""
    arrays: list[np.ndarray] = []
    offset = [0]
    skeleton = _skeleton(batch, arrays, offset, arena)
    size = offset[0]
    if size == 0:
        return skeleton, 0
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as mm:
            pos = 0
            for a in arrays:
                mm[pos:pos + a.nbytes] = a.reshape(-1).view(np.uint8)
                pos += -(-a.nbytes // ALIGN) * ALIGN
    finally:
        os.close(fd)
    return skeleton, size


def _map(path: str, size: int, unlink: bool) -> mmap.mmap:
    """Map a file; `unlink`: remove its name at once (the mapping outlives the name)."""
    fd = os.open(path, os.O_RDWR)
    try:
        if unlink:
            os.unlink(path)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def _rebuild(obj: Any, mm: mmap.mmap | None, on_free=None) -> Any:
    if isinstance(obj, ArrayRef):
        if obj.slot is not None:
            a = np.ndarray(obj.shape, np.dtype(obj.dtype), buffer=_map(obj.path, obj.size, unlink=False))
            # views of `a` keep `a` as their base (NumPy stops collapsing bases at the mmap), so
            # this runs only when no array of the batch's slot is left
            weakref.finalize(a, on_free, obj.slot)
        else:
            a = np.ndarray(obj.shape, np.dtype(obj.dtype), buffer=mm, offset=obj.offset)
        return Tensor(a) if obj.tensor else a
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_rebuild(x, mm, on_free) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(x, mm, on_free) for x in obj)
    if isinstance(obj, abc.Mapping):
        return type(obj)({k: _rebuild(v, mm, on_free) for k, v in obj.items()})
    return obj


def read(skeleton: Any, path: str, size: int, on_free=None) -> Any:
    """The batch written at `path` (unlinked now) and in slots, as views of mappings;
    on_free(slot) is called once the arrays of a slot are all gone."""
    return _rebuild(skeleton, _map(path, size, unlink=True) if size else None, on_free)


def discard(path: str) -> None:
    """Remove a file that will not be read (a skipped or abandoned batch's)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def slots_of(obj: Any) -> list[int]:
    """The slots a batch skeleton uses (to release them when the batch is dropped unread)."""
    if isinstance(obj, ArrayRef):
        return [obj.slot] if obj.slot is not None else []
    if isinstance(obj, (list, tuple)):
        return [k for x in obj for k in slots_of(x)]
    if isinstance(obj, abc.Mapping):
        return [k for x in obj.values() for k in slots_of(x)]
    return []


def sweep(prefix: str) -> list[str]:
    """Unlink every file of a worker pool (what a killed worker or an interrupt left); -> their paths."""
    paths = glob.glob(os.path.join(SHM_DIR, glob.escape(prefix) + "*"))
    for p in paths:
        discard(p)
    return paths
