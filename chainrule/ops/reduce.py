"""Reductions over `axis` (or PyTorch's `dim`) with `keepdims` (or `keepdim`).

Backward broadcasts the upstream gradient back over the reduced axes, which is
why each op remembers the axes and restores them (`_expand`). Each op takes
its array module from its input (`xp`), so it runs on NumPy and CuPy arrays alike.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


def _norm_axis(axis, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _expand(g: np.ndarray, axes, keepdims: bool, ndim: int) -> np.ndarray:
    """Re-insert the reduced axes so `g` broadcasts against the input."""
    if keepdims or ndim == 0:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    kept = iter(g.shape)  # expand_dims by a reshape (CuPy's expand_dims documents one axis only)
    return g.reshape(tuple(1 if i in axes else next(kept) for i in range(ndim)))


def _count(shape, axes) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return backend.array_module(a).sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand(g, ctx.axes, ctx.keepdims, len(ctx.shape))
        return backend.array_module(g).broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return backend.array_module(a).mean(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand(g, ctx.axes, ctx.keepdims, len(ctx.shape)) / _count(ctx.shape, ctx.axes)
        return backend.array_module(g).broadcast_to(g, ctx.shape), None, None


class Max(Function):
    """Max over axes; the gradient goes to the maximum, split evenly between ties
    (as `torch.amax`)."""

    reduce = "max"  # the array method (NumPy's and CuPy's ndarray.max)

    @classmethod
    def _forward(cls, ctx, a, axes, keepdims):
        out = getattr(a, cls.reduce)(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        if keepdims:
            return out
        return out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in axes) if axes is not None else ())

    @staticmethod
    def forward(ctx, a, axes, keepdims):
        return Max._forward(ctx, a, axes, keepdims)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = _expand(g, ctx.axes, ctx.keepdims, a.ndim)
        mask = a == out
        return g * mask / mask.sum(axis=ctx.axes, keepdims=True), None, None


class Min(Max):
    reduce = "min"

    @staticmethod
    def forward(ctx, a, axes, keepdims):
        return Min._forward(ctx, a, axes, keepdims)


class Var(Function):
    """Variance with `correction` (1: unbiased, PyTorch's default; 0: population)."""

    @staticmethod
    def forward(ctx, a, axes, keepdims, correction):
        xp = backend.array_module(a)
        n = _count(a.shape, axes)
        mu = xp.mean(a, axis=axes, keepdims=True)
        d = a - mu
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdims, ctx.denom = axes, keepdims, builtins.max(n - correction, 0)
        return xp.sum(d * d, axis=axes, keepdims=keepdims) / ctx.denom

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        g = _expand(g, ctx.axes, ctx.keepdims, d.ndim)
        # d/dx_i sum_j (x_j - mu)^2 = 2 (x_i - mu): the mean's own term sums to zero
        return g * 2 * d / ctx.denom, None, None, None


def _resolve(axis, keepdims, dim, keepdim):
    if dim is not None:
        if axis is not None:
            raise TypeError("pass either axis or dim, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def sum(a: Tensor, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Sum over `axis` (int, tuple or None for all)."""
    axis, keepdims = _resolve(axis, keepdims, dim, keepdim)
    return Sum.apply(a, _norm_axis(axis, np.ndim(a)), keepdims)


def mean(a: Tensor, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    """Mean over `axis`."""
    axis, keepdims = _resolve(axis, keepdims, dim, keepdim)
    return Mean.apply(a, _norm_axis(axis, np.ndim(a)), keepdims)


def max(a: Tensor, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Max values over `axis` (like `torch.amax`; use `argmax` for indices)."""
    axis, keepdims = _resolve(axis, keepdims, dim, keepdim)
    return Max.apply(a, _norm_axis(axis, np.ndim(a)), keepdims)


def min(a: Tensor, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Min values over `axis` (like `torch.amin`)."""
    axis, keepdims = _resolve(axis, keepdims, dim, keepdim)
    return Min.apply(a, _norm_axis(axis, np.ndim(a)), keepdims)


def var(a: Tensor, axis=None, keepdims=False, *, dim=None, keepdim=None,
        correction: int = 1, unbiased: bool | None = None) -> Tensor:
    """Variance over `axis`; unbiased (correction=1) by default, as in PyTorch."""
    axis, keepdims = _resolve(axis, keepdims, dim, keepdim)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(a, _norm_axis(axis, np.ndim(a)), keepdims, correction)


class Prod(Function):
    """Product over one axis (or all): the gradient of each entry is the product of the others
    (exclusive cumulative products from both sides, so zeros need no division)."""

    @staticmethod
    def forward(ctx, a, axis, keepdims):
        xp = backend.array_module(a)
        x = a.reshape(-1) if axis is None else a
        ax = 0 if axis is None else axis
        ctx.save_for_backward(x)
        ctx.shape, ctx.axis, ctx.keepdims, ctx.ax = a.shape, axis, keepdims, ax
        return xp.prod(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = backend.array_module(x)
        ax = ctx.ax
        head = (slice(None),) * ax
        ones = xp.ones_like(x[head + (slice(0, 1),)])
        # left[i] = x[0] ... x[i-1], right[i] = x[i+1] ... x[n-1]
        left = xp.concatenate([ones, xp.cumprod(x[head + (slice(0, -1),)], axis=ax)], axis=ax)
        rx = xp.flip(x, axis=ax)
        right = xp.flip(xp.concatenate([ones, xp.cumprod(rx[head + (slice(0, -1),)], axis=ax)], axis=ax), axis=ax)
        if ctx.axis is None:
            g = g.reshape(1)
        else:
            g = _expand(g, (ctx.axis,), ctx.keepdims, len(ctx.shape))
        return (g * left * right).reshape(ctx.shape), None, None


def prod(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Product over `dim` (one int, or None for all)."""
    if dim is not None and np.ndim(dim) != 0:
        raise TypeError("prod(): dim must be one int (or None)")
    if np.shape(a) == () or (dim is None and np.size(a.data if isinstance(a, Tensor) else a) == 0):
        dim = None
    axis = None if dim is None else _norm_axis(dim, np.ndim(a))[0]
    return Prod.apply(a, axis, bool(keepdim) if dim is not None else False)


def norm(a: Tensor, p=2, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over everything or over dim(s) (p = 2, 1, inf, -inf or any positive number),
    composed from differentiable ops."""
    from .elementwise import abs as _abs, pow as _pow, sqrt as _sqrt

    if p in ("fro", 2, 2.0):
        return _sqrt(sum(a * a, dim=dim, keepdim=keepdim))
    if p in (1, 1.0):
        return sum(_abs(a), dim=dim, keepdim=keepdim)
    if p == float("inf"):
        return max(_abs(a), dim=dim, keepdim=keepdim)
    if p == float("-inf"):
        return min(_abs(a), dim=dim, keepdim=keepdim)
    if not (isinstance(p, (int, float)) and p > 0):
        raise ValueError(f"norm: p must be a positive number, inf or 'fro', got {p!r}")
    return _pow(sum(_pow(_abs(a), p), dim=dim, keepdim=keepdim), 1.0 / p)
