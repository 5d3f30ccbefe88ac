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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...tensor import Tensor

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
ALIGN = 64  # each array starts on a cache line


@dataclass(frozen=True)
class ArrayRef:
    """Where one array of the batch lies in the file, and whether it was a Tensor."""
    offset: int
    shape: tuple
    dtype: str
    tensor: bool


def _skeleton(obj: Any, arrays: list[np.ndarray], offset: list[int]) -> Any:
    """obj with each array/Tensor replaced by an ArrayRef (appending the array to `arrays`)."""
    if isinstance(obj, Tensor) or (isinstance(obj, np.ndarray) and obj.dtype.kind not in "OUSV"):
        a = np.ascontiguousarray(obj.data if isinstance(obj, Tensor) else obj)
        ref = ArrayRef(offset[0], a.shape, a.dtype.str, isinstance(obj, Tensor))
        arrays.append(a)
        offset[0] += -(-a.nbytes // ALIGN) * ALIGN
        return ref
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_skeleton(x, arrays, offset) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_skeleton(x, arrays, offset) for x in obj)
    if isinstance(obj, abc.Mapping):
        return type(obj)({k: _skeleton(v, arrays, offset) for k, v in obj.items()})
    return obj


def write(batch: Any, path: str) -> tuple[Any, int]:
    """Put the arrays of `batch` into a new file at `path`; -> (skeleton, bytes written)."""
    arrays: list[np.ndarray] = []
    offset = [0]
    skeleton = _skeleton(batch, arrays, offset)
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


def _rebuild(obj: Any, mm: mmap.mmap) -> Any:
    if isinstance(obj, ArrayRef):
        a = np.ndarray(obj.shape, np.dtype(obj.dtype), buffer=mm, offset=obj.offset)
        return Tensor(a) if obj.tensor else a
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_rebuild(x, mm) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(x, mm) for x in obj)
    if isinstance(obj, abc.Mapping):
        return type(obj)({k: _rebuild(v, mm) for k, v in obj.items()})
    return obj


def read(skeleton: Any, path: str, size: int) -> Any:
    """The batch written at `path`, as views of a private mapping; the file is unlinked."""
    if size == 0:
        return _rebuild(skeleton, mmap.mmap(-1, 1))
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)  # the mapping outlives the name: nothing is left in /dev/shm after this
        mm = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    return _rebuild(skeleton, mm)


def discard(path: str) -> None:
    """Remove a batch file that will not be read (a skipped or abandoned batch)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sweep(prefix: str) -> list[str]:
    """Unlink every file of a worker pool (what a killed worker or an interrupt left); -> their paths."""
    paths = glob.glob(os.path.join(SHM_DIR, glob.escape(prefix) + "*"))
    for p in paths:
        discard(p)
    return paths
