"""Matrix product with NumPy's `matmul` rules: 1-D operands, batches, broadcasting.

For C = A @ B:  dA = dC @ B^T  and  dB = A^T @ dC. A 1-D operand is promoted
to a matrix for the product and the promoted axis removed again from its
gradient; batch axes that were broadcast are summed back by the engine.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (k,) -> (k, 1)
        if a.ndim == 1 and b.ndim == 1:
            g2 = np.reshape(g, (1, 1))
        elif a.ndim == 1:
            g2 = np.expand_dims(g, -2)
        elif b.ndim == 1:
            g2 = np.expand_dims(g, -1)
        else:
            g2 = g
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
                ga = ga.reshape(-1, a.shape[0]).sum(axis=0) if ga.ndim > 1 else ga
        if ctx.needs_input_grad[1]:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
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
