"""NCCL for CuPy arrays (backend="nccl"): the communicator is NCCL's, created with CuPy
(cupy.cuda.nccl), from a unique id that rank 0 draws and broadcasts over MPI, as ChainerMN
and Horovod bootstrap NCCL. Collectives run on the current CUDA stream.
"""
from __future__ import annotations

import os
from typing import Any

from .. import backend

__all__ = ["communicator", "all_reduce", "broadcast", "all_gather"]

INSTALL = "backend='nccl' needs CuPy with NCCL on a CUDA machine: pip install cupy-cuda12x (or cupy-cuda13x)"


def _nccl() -> Any:
    try:
        from cupy.cuda import nccl
    except ImportError:
        raise ImportError(INSTALL) from None
    if not getattr(nccl, "available", True):
        raise ImportError(INSTALL + " (this CuPy was built without NCCL)")
    return nccl


def local_rank(rank: int) -> int:
    """This process's index among the ranks on its machine (the launcher's, else the global rank)."""
    for var in ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"):
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return rank


def communicator(group: Any, device: Any = None) -> Any:
    """NCCL's communicator for `group` (rank, size, and its MPI comm to share the unique id),
    on `device` (default: cuda:<local rank % number of GPUs>)."""
    nccl = _nccl()
    cp = backend.cupy()
    dev = backend.device(device) if device is not None else None
    index = dev.index if dev is not None and dev.index is not None else local_rank(group.rank) % max(
        cp.cuda.runtime.getDeviceCount(), 1)
    cp.cuda.Device(index).use()
    uid = nccl.get_unique_id() if group.rank == 0 else None
    if group.size > 1:
        uid = group.comm.bcast(uid, root=0)  # a tuple of ints (NCCL's 128-byte id)
    return nccl.NcclCommunicator(group.size, uid, group.rank)


def _dtype(nccl: Any, dtype: Any) -> int:
    names = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
             "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8", "int8": "NCCL_INT8"}
    name = names.get(str(dtype))
    if name is None:
        raise TypeError(f"NCCL collectives take {', '.join(names)} arrays, got {dtype}")
    return getattr(nccl, name)


def _op(nccl: Any, op: Any) -> int:
    """NCCL's reduction for a ReduceOp (AVG: a sum, divided by the caller)."""
    return {"sum": nccl.NCCL_SUM, "avg": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN,
            "product": nccl.NCCL_PROD}[op.value]


def _contiguous(a: Any) -> Any:
    if not a.flags.c_contiguous:
        raise ValueError("NCCL collectives need C-contiguous arrays")
    return a


def all_reduce(comm: Any, a: Any, op: Any) -> None:
    nccl, cp = _nccl(), backend.cupy()
    a = _contiguous(a)
    comm.allReduce(a.data.ptr, a.data.ptr, a.size, _dtype(nccl, a.dtype), _op(nccl, op),
                   cp.cuda.get_current_stream().ptr)


def broadcast(comm: Any, a: Any, src: int) -> None:
    nccl, cp = _nccl(), backend.cupy()
    a = _contiguous(a)
    comm.bcast(a.data.ptr, a.size, _dtype(nccl, a.dtype), src, cp.cuda.get_current_stream().ptr)


def all_gather(comm: Any, a: Any, size: int) -> Any:
    """(size, *a.shape) on a's device: every rank's a."""
    nccl, cp = _nccl(), backend.cupy()
    a = _contiguous(a)
    out = cp.empty((size,) + a.shape, dtype=a.dtype)
    comm.allGather(a.data.ptr, out.data.ptr, a.size, _dtype(nccl, a.dtype), cp.cuda.get_current_stream().ptr)
    return out
