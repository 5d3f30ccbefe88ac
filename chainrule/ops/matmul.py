"""Matrix product with NumPy's `matmul` rules: 1-D operands, batches, broadcasting.

For C = A @ B:  dA = dC @ B^T  and  dB = A^T @ dC. A 1-D operand is promoted
to a matrix for the product and the promoted axis removed again from its
gradient; batch axes that were broadcast are summed back by the engine.

Large 2-D products (a Linear layer's) split their rows over the op threads
(`ops.parallel`), each with single-threaded BLAS, as convolution does: left to
itself OpenBLAS starts its own threads, which keep spinning for a while after
the product and halve the speed of the next op's threads (measured: the CS231n
convnet's step took 72 ms with them, 46 ms without). CuPy arrays never take that
path: they go to `xp.matmul` (cuBLAS) in one call.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import parallel

_SPLIT = 1 << 14  # multiply-adds from which a 2-D product runs on the op threads


def _big(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the product runs on the op threads: 2-D NumPy operands, big enough."""
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == 2 and b.ndim == 2
            and a.shape[0] * a.shape[1] * b.shape[1] >= _SPLIT)


def _rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for a: (n, k), b: (k, m), rows split over the op threads."""
    n, work = a.shape[0], a.shape[0] * a.shape[1] * b.shape[1]
    out = np.empty((n, b.shape[1]), np.result_type(a, b))
    parallel.blocks(lambda i, lo, hi: np.matmul(a[lo:hi], b, out=out[lo:hi]), n, work)
    return out


def _inner(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """a^T @ g for a: (n, k), g: (n, m): partial products over blocks of rows, added in order."""
    n, work = a.shape[0], a.shape[0] * a.shape[1] * g.shape[1]
    return parallel.block_sums(lambda i, lo, hi: (a[lo:hi].T @ g[lo:hi],), n, work)[0]


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _rows(a, b) if _big(a, b) else backend.array_module(a, b).matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = backend.array_module(a, b)
        a2 = a[None, :] if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (k,) -> (k, 1)
        if a.ndim == 1 and b.ndim == 1:
            g2 = g.reshape((1, 1))
        elif a.ndim == 1:
            g2 = xp.expand_dims(g, -2)
        elif b.ndim == 1:
            g2 = xp.expand_dims(g, -1)
        else:
            g2 = g
        ga = gb = None
        if _big(a, b):  # 2-D: dA's rows and dB's sum over rows split over the op threads
            bt = np.swapaxes(b, -1, -2)
            ga = _rows(g, bt) if ctx.needs_input_grad[0] else None
            gb = _inner(a, g) if ctx.needs_input_grad[1] else None
            return ga, gb
        if ctx.needs_input_grad[0]:
            ga = xp.matmul(g2, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
                ga = ga.reshape(-1, a.shape[0]).sum(axis=0) if ga.ndim > 1 else ga
        if ctx.needs_input_grad[1]:
            gb = xp.matmul(xp.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:
                gb = gb[..., 0]
                gb = gb.reshape(-1, b.shape[0]).sum(axis=0) if gb.ndim > 1 else gb
        return ga, gb


def matmul(a, b) -> Tensor:
    """a @ b. a: (..., n, k) or (k,), b: (..., k, m) or (k,)."""
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(
            f"matmul: shapes {sa} and {sb} are not aligned: "
            f"the last dimension of the first ({ka}) must equal the "
            f"{'only' if len(sb) == 1 else 'second-to-last'} dimension of the second ({kb})"
        )
    return MatMul.apply(a, b)
