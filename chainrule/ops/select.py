"""Ops that pick values along a dimension by index: `gather`, and what returns (values, indices):
`max`/`min` over a dim, `sort`, `topk`, as PyTorch's named tuples.

One Function does the differentiable part of all of them: `Gather` takes, along `dim`, the
entries that `index` names (NumPy's take_along_axis); backward adds the gradient back into
those places (an index may repeat in `gather`, so it adds rather than assigns).
"""
from __future__ import annotations

import collections
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, wrap


def _grid(index: Any, dim: int) -> tuple:
    """The full integer index that places index's entries along `dim` (the other axes run over
    their own positions), for scatter-adding a gradient."""
    xp = backend.array_module(index)
    return tuple(index if d == dim else xp.arange(n).reshape([-1 if e == d else 1 for e in range(index.ndim)])
                 for d, n in enumerate(index.shape))


class Gather(Function):
    """out[i][j] = a[i][index[i][j]] (dim=1), any number of dims, index of a's ndim."""

    @staticmethod
    def forward(ctx, a, index, dim):
        ctx.shape, ctx.index, ctx.dim = a.shape, index, dim
        return backend.array_module(a).take_along_axis(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        out = backend.array_module(g).zeros(ctx.shape, dtype=g.dtype)
        backend.scatter_add(out, _grid(ctx.index, ctx.dim), g)
        return out, None, None


def _dim(a: Any, dim: int) -> int:
    nd = max(np.ndim(a), 1)
    if not -nd <= dim < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    return dim % nd


def _index_array(index: Any) -> Any:
    index = index.data if isinstance(index, Tensor) else np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather(): index must be an integer tensor, got {index.dtype}")
    return index


def gather(a: Tensor, dim: int, index: Any) -> Tensor:
    """PyTorch's gather: out[i][j][k] = a[i][index[i][j][k]][k] for dim=1 (index has a's ndim)."""
    index = _index_array(index)
    if isinstance(a, Tensor) and a.is_cuda:
        index = backend.to_device(index, a.device)
    if index.ndim != np.ndim(a):
        raise RuntimeError(f"gather(): index has {index.ndim} dims, the input {np.ndim(a)}; they must match")
    return Gather.apply(a, index, _dim(a, dim))


def _along(a: Tensor, index: Any, dim: int) -> Tensor:
    return Gather.apply(a, index, dim)


def _named(name: str):
    cls = collections.namedtuple(name, ["values", "indices"])
    cls.__module__ = "chainrule.return_types"
    cls.__repr__ = lambda self: (f"chainrule.return_types.{name}(\nvalues={self.values!r},\n"
                                 f"indices={self.indices!r})")
    return cls


max_result, min_result, sort_result, topk_result = (_named(n) for n in ("max", "min", "sort", "topk"))


def _reduce_dim(a: Tensor, dim: int, keepdim: bool, how: str):
    """(values, indices) of the max or min over `dim`; the gradient goes to the index picked
    (the first of ties, as PyTorch's max(dim))."""
    d = _dim(a, dim)
    x = a.data if isinstance(a, Tensor) else np.asarray(a)
    xp = backend.array_module(x)
    if x.ndim == 0:
        idx = xp.zeros((), dtype=np.int64)
        return (max_result if how == "max" else min_result)(a, wrap(idx))
    idx = getattr(xp, "argmax" if how == "max" else "argmin")(x, axis=d)
    idx = xp.expand_dims(idx.astype(np.int64), d)
    values = _along(a, idx, d)
    if not keepdim:
        from .shape import squeeze
        values, idx = squeeze(values, d), xp.squeeze(idx, axis=d)
    return (max_result if how == "max" else min_result)(values, wrap(idx))


def max_dim(a: Tensor, dim: int, keepdim: bool = False):
    """PyTorch's `max(x, dim)`: named (values, indices)."""
    return _reduce_dim(a, dim, keepdim, "max")


def min_dim(a: Tensor, dim: int, keepdim: bool = False):
    """PyTorch's `min(x, dim)`: named (values, indices)."""
    return _reduce_dim(a, dim, keepdim, "min")


def argsort(a: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort `a` along dim (stable, so ties keep their order)."""
    x = a.data if isinstance(a, Tensor) else np.asarray(a)
    xp = backend.array_module(x)
    d = _dim(x, dim)
    if x.ndim == 0:
        return wrap(xp.zeros((), dtype=np.int64))
    if descending:  # stable: ties keep their order, as in an ascending sort of -x
        neg = -(x.astype(np.float64) if x.dtype.kind in "ub" else x)
        idx = xp.argsort(neg, axis=d, kind="stable")
    else:
        idx = xp.argsort(x, axis=d, kind="stable")
    return wrap(idx.astype(np.int64))


def sort(a: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """Named (values, indices) of `a` sorted along dim; values carry the gradient back."""
    idx = argsort(a, dim, descending)
    if np.ndim(a) == 0:
        return sort_result(a, idx)
    return sort_result(_along(a, idx.data, _dim(a, dim)), idx)


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """Named (values, indices) of the k largest (or smallest) entries along dim, in order."""
    d = _dim(a, dim)
    n = np.shape(a)[d] if np.ndim(a) else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): k ({k}) is out of range for a dimension of size {n}")
    idx = argsort(a, d, descending=largest).data
    idx = idx[(slice(None),) * d + (slice(0, k),)] if np.ndim(a) else idx
    return topk_result(_along(a, idx, d) if np.ndim(a) else a, wrap(idx))
