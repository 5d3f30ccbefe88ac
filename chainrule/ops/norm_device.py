"""Batch norm on device arrays (CuPy): a few whole-array passes, the centred input kept.

The NumPy path (norm.py) walks x in cache-sized chunks split between threads;
on a GPU each pass is one kernel over the whole (N, C, L) array. Training:

    mean = sum(x) / m                       (float64 accumulation, as on the CPU)
    xc = x - mean;  var = sum(xc^2) / m     (two passes: exact, no cancellation)
    y = xc * (gamma * invstd) + beta

and xc is kept for backward, which is two reductions and one affine map:

    dx = a*dy + b*xc + c,   a = gamma*invstd,  b = -a*invstd*sum(dy*xhat)/m,  c = -a*sum(dy)/m

Per-channel sums run in two stages, over L then over N: a reduction over
axes (0, 2) at once gets one GPU block per channel (16-64 blocks on a
132-SM GPU), about 10x slower. The running statistics (device arrays when
the model is on the GPU) are updated in place as on the CPU.

Kernel launches dominate at these sizes, so on real CuPy the per-channel
arithmetic (C-vectors) and the two big elementwise maps are one
ElementwiseKernel each (`_kernels`); the plain-xp code beside them is what
the fake device runs and the GPU tests compare them with.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend

__all__ = ["batch_norm_forward", "batch_norm_backward"]

USE_KERNELS = True  # real CuPy: fused kernels (False: the plain-xp path)
F64 = np.float64


def _channel_sums(a: Any, b: Any = None) -> Any:
    """a, b: (N, C, L) -> per-channel sums of a (or of a * b) over N and L, float64 (C,)."""
    xp = backend.array_module(a)
    if b is not None:
        if _use_kernels(xp):
            return _kernels(xp)["dot"](a, b, axis=2).sum(axis=0)
        a = a * b
    return a.sum(axis=2, dtype=F64).sum(axis=0)


def _per_channel(v: Any, dtype: Any) -> Any:
    """A (C,) vector as (1, C, 1) of dtype, to broadcast over (N, C, L)."""
    return v.astype(dtype, copy=False).reshape(1, -1, 1)


def _use_kernels(xp: Any) -> bool:
    return USE_KERNELS and xp.__name__ == "cupy"


def batch_norm_forward(ctx: Any, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> Any:
    """BatchNorm.forward for device arrays (checked by norm._check_bn):
    x (N, C[, ...]), weight/bias (C,) or None, running stats (C,) or None, updated in place."""
    xp = backend.array_module(x)
    dtype = np.result_type(x.dtype, *(v.dtype for v in (weight, bias) if v is not None))
    x3 = x.astype(dtype, copy=False).reshape(x.shape[0], x.shape[1], -1)
    C, m = x3.shape[1], x3.shape[0] * x3.shape[2]
    if training:
        mean = _channel_sums(x3) / m
        xc = x3 - _per_channel(mean, dtype)
        s2 = _channel_sums(xc, xc)
        if _use_kernels(xp):
            y, invstd = _train_forward_cupy(xp, xc, s2, mean, weight, bias, running_mean, running_var,
                                            m, momentum, eps)
            ctx.training = True
            ctx.save_for_backward(xc, mean, invstd, weight)
            ctx.shape = x.shape
            return y.reshape(x.shape)
        var = s2 / m
        if running_mean is not None:  # unbiased variance for the running estimate
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    else:
        mean, var, xc = running_mean.astype(F64), running_var.astype(F64), None
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
    xp = backend.array_module(g)
    saved, mean, invstd, weight = ctx.saved_tensors
    N, C, L = saved.shape
    m, dtype = N * L, saved.dtype
    g3 = g.astype(dtype, copy=False).reshape(N, C, L)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    xc = saved if ctx.training else saved - _per_channel(mean, dtype)
    sum_dy = _channel_sums(g3)
    sum_dy_xhat = _channel_sums(g3, xc) * invstd if (need_w or ctx.training) else None
    dx = None
    if need_x:
        if ctx.training and _use_kernels(xp):
            dx = _train_backward_cupy(xp, g3, xc, sum_dy, sum_dy_xhat, invstd, weight, m)
        else:
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


# ------------------------------------------------------- real CuPy kernels
_cache: dict = {}


def _kernels(cp: Any) -> dict:
    """The fused kernels, compiled on first use (real CuPy only)."""
    if not _cache:
        _cache["dot"] = cp.ReductionKernel(  # per-row sums of a*b in float64
            "T u, T v", "float64 s", "(double)u * (double)v", "a + b", "s = a", "0", "chainrule_bn_dot")
        _cache["stats"] = cp.ElementwiseKernel(  # per channel: invstd, scale, running stats in place
            "float64 mean, float64 s2, float64 w, float64 m, float64 mom, float64 eps, int32 track",
            "float64 invstd, float64 scale, R rm, R rv",
            """
            const double var = s2 / m;
            invstd = 1.0 / sqrt(var + eps);
            scale = invstd * w;
            if (track) {
                rm = (R)((double)(R)(rm * (1.0 - mom)) + mom * mean);
                rv = (R)((double)(R)(rv * (1.0 - mom)) + mom * var * (m / (m - 1.0)));
            }
            """, "chainrule_bn_stats")
        _cache["affine"] = cp.ElementwiseKernel(  # y = xc * scale + shift
            "T xc, float64 scale, float64 shift", "T y", "y = (T)(xc * (T)scale + (T)shift)", "chainrule_bn_affine")
        _cache["dx"] = cp.ElementwiseKernel(  # dx = a*dy + b*xc + c
            "T dy, T xc, float64 a, float64 b, float64 c", "T dx",
            "dx = (T)(dy * (T)a + xc * (T)b + (T)c)", "chainrule_bn_dx")
        _cache["coef"] = cp.ElementwiseKernel(  # the backward's per-channel a, b, c
            "float64 invstd, float64 w, float64 sum_dy, float64 sum_dy_xhat, float64 m",
            "float64 a, float64 b, float64 c",
            "a = w * invstd; b = -a * invstd * sum_dy_xhat / m; c = -a * sum_dy / m;", "chainrule_bn_coef")
    return _cache


def _as_f64(xp: Any, v: Any, C: int, fill: float) -> Any:
    return xp.full(C, fill, F64) if v is None else v.astype(F64, copy=False)


def _train_forward_cupy(cp, xc, s2, mean, weight, bias, running_mean, running_var, m, momentum, eps):
    """Training forward's per-channel step and output map, two kernels: -> (y, invstd)."""
    k = _kernels(cp)
    C = xc.shape[1]
    track = running_mean is not None
    rm = running_mean if track else cp.empty(C, F64)
    rv = running_var if track else cp.empty(C, F64)
    invstd, scale = cp.empty(C, F64), cp.empty(C, F64)
    k["stats"](mean, s2, _as_f64(cp, weight, C, 1.0), float(m), float(momentum or 0.0), float(eps), int(track),
               invstd, scale, rm, rv)
    shift = _as_f64(cp, bias, C, 0.0)
    y = k["affine"](xc, scale.reshape(1, C, 1), shift.reshape(1, C, 1))
    return y, invstd


def _train_backward_cupy(cp, g3, xc, sum_dy, sum_dy_xhat, invstd, weight, m):
    """Training backward's dx, two kernels (per-channel coefficients, then the map)."""
    k = _kernels(cp)
    C = xc.shape[1]
    a, b, c = k["coef"](invstd, _as_f64(cp, weight, C, 1.0), sum_dy, sum_dy_xhat, float(m))
    return k["dx"](g3, xc, a.reshape(1, C, 1), b.reshape(1, C, 1), c.reshape(1, C, 1))
