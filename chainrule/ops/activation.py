"""Activation functions beyond ReLU/sigmoid/tanh, and the (log-)softmax.

Softmax and log-softmax subtract the row maximum before exponentiating, so
they are exact for logits of any size (exp never overflows). Every op runs on
NumPy or CuPy arrays: ufuncs dispatch to CuPy, `where` comes from the inputs' module.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


class LeakyReLU(Function):
    """x if x > 0 else slope * x."""

    @staticmethod
    def forward(ctx, x, slope):
        pos = x > 0
        ctx.save_for_backward(pos)
        ctx.slope = slope
        return backend.array_module(x).where(pos, x, x * slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (pos,) = ctx.saved_tensors
        return backend.array_module(g).where(pos, g, g * ctx.slope), None


class ELU(Function):
    """x if x > 0 else alpha * (exp(x) - 1); its slope there is out + alpha."""

    @staticmethod
    def forward(ctx, x, alpha):
        pos = x > 0
        # exp only of the non-positive part: no overflow warnings for large x
        xp = backend.array_module(x)
        out = xp.where(pos, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
        ctx.save_for_backward(pos, out)
        ctx.alpha = alpha
        return out

    @staticmethod
    def backward(ctx, g):
        pos, out = ctx.saved_tensors
        return backend.array_module(g).where(pos, g, g * (out + ctx.alpha)), None


def softmax_array(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax of a NumPy (or CuPy) array along `axis`, shifted by the max for stability (the one
    NumPy softmax: classifiers, TTA, prediction and the Solver use it too)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)  # in place: e is ours, one temporary fewer
    return e


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        s = softmax_array(x, axis)
        ctx.save_for_backward(s)
        ctx.axis = axis
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        # Jacobian diag(s) - s s^T applied to g, without forming it
        return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - np.exp(out) * g.sum(axis=ctx.axis, keepdims=True), None


def _axis(x, dim: int, name: str) -> int:
    nd = np.ndim(x)
    if nd == 0:
        raise ValueError(f"{name}: expected a tensor with at least 1 dimension, got a scalar")
    if not -nd <= dim < nd:
        raise ValueError(f"{name}: dim {dim} is out of range for a tensor of shape {np.shape(x)}")
    return dim % nd


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLU.apply(x, float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return ELU.apply(x, float(alpha))


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""
    return Softmax.apply(x, _axis(x, dim, "softmax"))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along `dim`, computed stably."""
    return LogSoftmax.apply(x, _axis(x, dim, "log_softmax"))
