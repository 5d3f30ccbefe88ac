"""Batch norm on device arrays (CuPy): whole-array reductions, the centred input kept.

The NumPy path (norm.py) walks x in cache-sized chunks split between threads;
on a GPU each pass is one kernel over the whole (N, C, L) array, so the passes
are written directly. Training:

    mean = sum(x) / m                 (float64 accumulation, as on the CPU)
    xc = x - mean;  var = sum(xc^2) / m     (two passes: exact, no cancellation)
    y = xc * (gamma * invstd) + beta

and xc is kept for backward, which is then two reductions and one affine map:

    dx = a*dy + b*xc + c,   a = gamma*invstd,  b = -a*invstd*sum(dy*xhat)/m,  c = -a*sum(dy)/m

The running statistics (device arrays when the model is on the GPU) are
updated in place exactly as on the CPU. Per-channel arithmetic on (C,)
vectors runs in float64, as on the CPU.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend

__all__ = ["batch_norm_forward", "batch_norm_backward"]


def _per_channel(v: Any, dtype: Any) -> Any:
    """A (C,) vector as (1, C, 1) of dtype, to broadcast over (N, C, L)."""
    return v.astype(dtype, copy=False).reshape(1, -1, 1)


def batch_norm_forward(ctx: Any, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> Any:
    """BatchNorm.forward for device arrays (checked by norm._check_bn):
    x (N, C[, ...]), weight/bias (C,) or None, running stats (C,) or None, updated in place."""
    xp = backend.array_module(x)
    f64 = np.float64
    dtype = np.result_type(x.dtype, *(v.dtype for v in (weight, bias) if v is not None))
    x3 = x.astype(dtype, copy=False).reshape(x.shape[0], x.shape[1], -1)
    m = x3.shape[0] * x3.shape[2]
    if training:
        mean = x3.sum(axis=(0, 2), dtype=f64) / m
        xc = x3 - _per_channel(mean, dtype)
        var = xp.square(xc).sum(axis=(0, 2), dtype=f64) / m
        if running_mean is not None:  # unbiased variance for the running estimate
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    else:
        mean, var, xc = running_mean.astype(f64), running_var.astype(f64), None
    invstd = 1.0 / xp.sqrt(var + eps)  # float64 (C,)
    scale = invstd if weight is None else invstd * weight
    if training:  # y = xc * scale + beta
        y = xc * _per_channel(scale, dtype)
        if bias is not None:
            y += _per_channel(bias, dtype)
    else:  # y = x * scale + shift
        shift = -mean * scale if bias is None else bias - mean * scale
        y = x3 * _per_channel(scale, dtype)
        y += _per_channel(shift, dtype)
    ctx.training = training
    ctx.save_for_backward(xc if training else x3, mean, invstd, weight)
    ctx.shape = x.shape
    return y.reshape(x.shape)


def batch_norm_backward(ctx: Any, g: Any) -> tuple:
    """BatchNorm.backward for device arrays: g like x -> (dx, dweight, dbias, None x 5)."""
    saved, mean, invstd, weight = ctx.saved_tensors
    N, C, L = saved.shape
    m, dtype, f64 = N * L, saved.dtype, np.float64
    g3 = g.astype(dtype, copy=False).reshape(N, C, L)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    xc = saved if ctx.training else saved - _per_channel(mean, dtype)
    sum_dy = g3.sum(axis=(0, 2), dtype=f64)
    sum_dy_xhat = (g3 * xc).sum(axis=(0, 2), dtype=f64) * invstd if (need_w or ctx.training) else None
    dx = None
    if need_x:
        a = invstd if weight is None else invstd * weight
        dx = g3 * _per_channel(a, dtype)
        if ctx.training:
            b = -a * invstd * sum_dy_xhat / m
            dx += xc * _per_channel(b, dtype)
            dx += _per_channel(-a * sum_dy / m, dtype)
        dx = dx.reshape(ctx.shape)
    dw = sum_dy_xhat if need_w else None
    db = sum_dy if need_b else None
    return dx, dw, db, None, None, None, None, None
