"""Collectives over the process group, in place on a Tensor or array (PyTorch's names):

    all_reduce(t, op=ReduceOp.SUM)   every rank ends with the reduction of every rank's t
    broadcast(t, src=0)              every rank ends with rank src's t
    all_gather(out_list, t)          out_list[r] = rank r's t, on every rank
    barrier()                        wait until every rank is here

Every rank must call the same collectives in the same order with arrays of the same shape
and dtype (MPI's rule); a rank that does not, or that has died, is what chainrule.distributed.
faults turns into an ended job instead of a hang. With one process each is a no-op (AVG
divides by 1). Host arrays go over MPI; CuPy arrays over NCCL with backend="nccl", else
through a host copy over MPI.
"""
from __future__ import annotations

import enum
from typing import Any, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import group as pg

__all__ = ["ReduceOp", "all_reduce", "broadcast", "all_gather", "barrier"]


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


def _array(t: Any, who: str) -> Any:
    """The array inside t (a Tensor's .data, or t itself), which the collective overwrites."""
    a = t.data if isinstance(t, Tensor) else t
    if not (isinstance(a, np.ndarray) or backend.is_device_array(a)):
        raise TypeError(f"{who}: expected a chainrule Tensor or an array (changed in place), got {type(t).__name__}")
    return a


def _mpi_op(op: ReduceOp) -> Any:
    MPI = pg.mpi()
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN,
            ReduceOp.PRODUCT: MPI.PROD}[op]


def _on_host(a: Any, fn) -> None:
    """Run fn(buffer) on a contiguous host buffer of a and write the result back into a."""
    host = backend.to_host(a)
    buf = host if host.flags.c_contiguous else np.ascontiguousarray(host)
    fn(buf)
    if buf is not a:
        a[...] = backend.to_device(buf, backend.device_of(a))


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM) -> None:
    """Reduce `tensor` over every rank, in place (AVG: the sum divided by the world size)."""
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a chainrule.distributed.ReduceOp, got {op!r}")
    a = _array(tensor, "all_reduce")
    if op is ReduceOp.AVG and a.dtype.kind not in "fc":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point array, got {a.dtype}")
    g = pg.group()
    if g is None or g.size == 1:
        return
    if g.nccl is not None and backend.is_device_array(a):
        from .nccl import all_reduce as nccl_all_reduce
        nccl_all_reduce(g.nccl, a, op)
    else:
        MPI = pg.mpi()
        _on_host(a, lambda buf: g.comm.Allreduce(MPI.IN_PLACE, buf, op=_mpi_op(op)))
    if op is ReduceOp.AVG:
        a /= g.size


def broadcast(tensor: Any, src: int = 0) -> None:
    """Overwrite `tensor` on every rank with rank `src`'s, in place."""
    a = _array(tensor, "broadcast")
    g = pg.group()
    if g is None or g.size == 1:
        if src != 0:
            raise ValueError(f"broadcast: src {src} is not a rank of a world of 1")
        return
    if not 0 <= src < g.size:
        raise ValueError(f"broadcast: src {src} is not a rank (world size {g.size})")
    if g.nccl is not None and backend.is_device_array(a):
        from .nccl import broadcast as nccl_broadcast
        nccl_broadcast(g.nccl, a, src)
    else:
        _on_host(a, lambda buf: g.comm.Bcast(buf, root=src))


def all_gather(tensor_list: list, tensor: Any) -> None:
    """tensor_list[r] = rank r's `tensor` (same shape and dtype on every rank), on every rank."""
    a = _array(tensor, "all_gather")
    n = pg.get_world_size()
    if len(tensor_list) != n:
        raise ValueError(f"all_gather: tensor_list needs one entry per rank ({n}), got {len(tensor_list)}")
    outs = [_array(t, "all_gather") for t in tensor_list]
    for o in outs:
        if o.shape != a.shape or o.dtype != a.dtype:
            raise ValueError(f"all_gather: every entry must be {a.shape} {a.dtype} like tensor, "
                             f"got {o.shape} {o.dtype}")
    g = pg.group()
    if g is None or g.size == 1:
        outs[0][...] = a
        return
    if g.nccl is not None and backend.is_device_array(a):
        from .nccl import all_gather as nccl_all_gather
        gathered = nccl_all_gather(g.nccl, a, g.size)
    else:
        gathered = np.empty((g.size,) + a.shape, dtype=a.dtype)
        g.comm.Allgather(np.ascontiguousarray(backend.to_host(a)), gathered)
    for r, o in enumerate(outs):
        o[...] = backend.to_device(gathered[r], backend.device_of(o))


def barrier() -> None:
    """Return when every rank has called barrier()."""
    g = pg.group()
    if g is not None and g.size > 1:
        g.comm.Barrier()


def all_reduce_scalars(values: Sequence[float], op: ReduceOp = ReduceOp.SUM) -> list[float]:
    """Python numbers reduced over the ranks (float64), e.g. per-rank loss sums and counts."""
    a = np.asarray(values, dtype=np.float64).copy()
    all_reduce(a, op)
    return [float(v) for v in a]
