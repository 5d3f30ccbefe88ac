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
from . import dispatch

__all__ = ["batch_norm_forward", "batch_norm_backward"]

USE_KERNELS = True  # real CuPy: fused kernels (False: the plain-xp path)
F64 = np.float64


def _channel_sums(a: Any, b: Any = None) -> Any:
    """a, b: (N, C, L) -> per-channel sums of a (or of a * b) over N and L, float64 (C,)."""
    if b is not None:
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
    ctx.training, ctx.shape, ctx.kernels = training, x.shape, training and _use_kernels(xp)
    if ctx.kernels:  # x is kept (not xc): the kernels centre it on the fly
        y, mean, invstd = _train_forward_cupy(xp, x3, weight, bias, running_mean, running_var, m, momentum, eps)
        ctx.save_for_backward(x3, mean, invstd, weight)
        return y.reshape(x.shape)
    if training:
        mean = _channel_sums(x3) / m
        xc = x3 - _per_channel(mean, dtype)
        var = _channel_sums(xc, xc) / m
        if running_mean is not None:  # unbiased variance for the running estimate
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    elif _use_kernels(xp):  # eval: 2 launches
        y, mean, invstd = _eval_forward_cupy(xp, x3, weight, bias, running_mean, running_var, eps)
        ctx.save_for_backward(x3, mean, invstd, weight)
        return y.reshape(x.shape)
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
    ctx.save_for_backward(xc if training else x3, mean, invstd, weight)
    return y.reshape(x.shape)


def batch_norm_backward(ctx: Any, g: Any) -> tuple:
    """BatchNorm.backward for device arrays: g like x -> (dx, dweight, dbias, None x 5)."""
    xp = backend.array_module(g)
    saved, mean, invstd, weight = ctx.saved_tensors
    N, C, L = saved.shape
    m, dtype = N * L, saved.dtype
    g3 = g.astype(dtype, copy=False).reshape(N, C, L)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    if ctx.kernels:
        dx, dw, db = _train_backward_cupy(xp, g3, saved, mean, invstd, weight, m)
        return (dx.reshape(ctx.shape) if need_x else None, dw if need_w else None, db if need_b else None,
                None, None, None, None, None)
    xc = saved if ctx.training else saved - _per_channel(mean, dtype)
    sum_dy = _channel_sums(g3)
    sum_dy_xhat = _channel_sums(g3, xc) * invstd if (need_w or ctx.training) else None
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


# ------------------------------------------------------- real CuPy kernels
# Per-(n, c) partial sums over L (a ReductionKernel: many blocks), then per-channel
# kernels that add the N partial sums and do all the (C,)-vector arithmetic, then one
# map over the whole array. Two sums of one pass travel together as the real and
# imaginary parts of a complex128 (CuPy reduces complex numbers natively), so training
# takes 3 launches forward (float64 input: 5, two passes, no E[x^2] - mean^2) and 3
# backward; eval 2 forward.
_STATS_TAIL = """
invstd = 1.0 / sqrt(var + eps);
const double sc = has_w ? invstd * (double)w[i] : invstd;
scale = sc;
shift = (has_b ? (double)b[i] : 0.0) - mu * sc;
if (track) {
    rm = (R)((double)rm * (1.0 - mom) + mom * mu);
    rv = (R)((double)rv * (1.0 - mom) + mom * var * (m / (m - 1.0)));
}
"""
_STATS_TWO_PASS = """
double acc = 0;
for (int n = 0; n < N; ++n) acc += s2[n * C + i];
const double mu = mean, var = acc / m;
""" + _STATS_TAIL
_STATS_ONE_PASS = """
double s1 = 0, s2 = 0;
for (int n = 0; n < N; ++n) { const complex<double> v = s[n * C + i]; s1 += v.real(); s2 += v.imag(); }
const double mu = s1 / m, var = fmax(s2 / m - mu * mu, 0.0);
mean = mu;
""" + _STATS_TAIL
_COEF = """
double s1 = 0, s2 = 0;
for (int n = 0; n < N; ++n) { const complex<double> v = s[n * C + i]; s1 += v.real(); s2 += v.imag(); }
const double xh = s2 * invstd;  // sum(dy * xhat)
dw = xh;
db = s1;
const double aa = (has_w ? (double)w[i] : 1.0) * invstd;
a = aa;
b = -aa * invstd * xh / m;
c = -aa * s1 / m;
"""
_STATS_PARAMS = "int32 N, int32 C, float64 m, float64 mom, float64 eps, int32 track, raw W w, raw B b, int32 has_w, int32 has_b"


def _kernels(cp: Any) -> dict:
    """The kernels, compiled on first use (real CuPy only), one entry of `dispatch.kernels`."""
    return dispatch.kernels.get(("batch_norm", "all"), lambda: _build(cp))


def _build(cp: Any) -> dict:
    _cache: dict = {}
    # CuPy substitutes a ReductionKernel's parameter names inside its expressions as
    # plain text (a parameter `x` turned `complex` into `complein0`), so no name may
    # occur inside another word there.
    def red(ins, out, expr, name):  # per-row sums over the last axis
        return cp.ReductionKernel(ins, out, expr, "a + b", "rowsum = a", "0", name)

    _cache["sum"] = red("T xval", "float64 rowsum", "(double)xval", "chainrule_bn_sum")
    _cache["sqdev"] = red("T xval, float64 mean_c", "float64 rowsum",
                          "((double)xval - mean_c) * ((double)xval - mean_c)", "chainrule_bn_sqdev")
    _cache["sum_sq"] = red("T xval", "complex128 rowsum",
                           "complex<double>((double)xval, (double)xval * (double)xval)", "chainrule_bn_sum_sq")
    _cache["sum_dot"] = red("T dyval, T xval, float64 mean_c", "complex128 rowsum",
                            "complex<double>((double)dyval, (double)dyval * ((double)xval - mean_c))",
                            "chainrule_bn_sum_dot")
    _cache["mean"] = cp.ElementwiseKernel(
        "raw float64 s, int32 N, int32 C, float64 m", "float64 mean",
        "double acc = 0; for (int n = 0; n < N; ++n) acc += s[n * C + i]; mean = acc / m;",
        "chainrule_bn_mean")
    _cache["stats"] = cp.ElementwiseKernel(
        "raw float64 s2, " + _STATS_PARAMS + ", float64 mean",
        "float64 invstd, float64 scale, float64 shift, R rm, R rv", _STATS_TWO_PASS, "chainrule_bn_stats")
    _cache["stats1"] = cp.ElementwiseKernel(
        "raw complex128 s, " + _STATS_PARAMS,
        "float64 mean, float64 invstd, float64 scale, float64 shift, R rm, R rv", _STATS_ONE_PASS,
        "chainrule_bn_stats1")
    _cache["evalstats"] = cp.ElementwiseKernel(
        "R rm, R rv, raw W w, raw B b, int32 has_w, int32 has_b, float64 eps",
        "float64 mean, float64 invstd, float64 scale, float64 shift", """
        mean = (double)rm;
        invstd = 1.0 / sqrt((double)rv + eps);
        scale = has_w ? invstd * (double)w[i] : invstd;
        shift = (has_b ? (double)b[i] : 0.0) - mean * scale;
        """, "chainrule_bn_evalstats")
    _cache["affine"] = cp.ElementwiseKernel(
        "T x, float64 scale, float64 shift", "T y", "y = (T)((double)x * scale + shift);", "chainrule_bn_affine")
    _cache["coef"] = cp.ElementwiseKernel(
        "raw complex128 s, int32 N, int32 C, float64 m, float64 invstd, raw W w, int32 has_w",
        "float64 dw, float64 db, float64 a, float64 b, float64 c", _COEF, "chainrule_bn_coef")
    _cache["dx"] = cp.ElementwiseKernel(
        "T dy, T x, float64 mu, float64 a, float64 b, float64 c", "T dx",
        "dx = (T)((double)dy * a + ((double)x - mu) * b + c);", "chainrule_bn_dx")
    return _cache


def _train_forward_cupy(cp, x3, weight, bias, running_mean, running_var, m, momentum, eps):
    """Training forward in 3 launches (float64: 5): -> (y, mean, invstd), running stats updated in place."""
    k = _kernels(cp)
    N, C, _ = x3.shape
    track = running_mean is not None
    mean, invstd, scale, shift, rm, rv = cp.empty((6, C), F64)  # rm, rv: stand-ins when not tracking
    if track:
        rm, rv = running_mean, running_var
    unused = mean  # stands for a missing weight or bias (never read)
    wb = (unused if weight is None else weight, unused if bias is None else bias, int(weight is not None),
          int(bias is not None))
    args = (N, C, float(m), float(momentum or 0.0), float(eps), int(track)) + wb
    if x3.dtype == F64:  # two passes: mean, then squares of x - mean
        k["mean"](k["sum"](x3, axis=2), N, C, float(m), mean)
        k["stats"](k["sqdev"](x3, mean.reshape(1, C, 1), axis=2), *args, mean, invstd, scale, shift, rm, rv)
    else:  # float32 data summed in float64: E[x^2] - mean^2 loses nothing that matters
        k["stats1"](k["sum_sq"](x3, axis=2), *args, mean, invstd, scale, shift, rm, rv)
    y = k["affine"](x3, scale.reshape(1, C, 1), shift.reshape(1, C, 1))
    return y, mean, invstd


def _eval_forward_cupy(cp, x3, weight, bias, running_mean, running_var, eps):
    """Eval forward with the running statistics in 2 launches: -> (y, mean, invstd)."""
    k = _kernels(cp)
    C = x3.shape[1]
    unused = running_mean
    mean, invstd, scale, shift = k["evalstats"](
        running_mean, running_var, unused if weight is None else weight, unused if bias is None else bias,
        int(weight is not None), int(bias is not None), float(eps))
    y = k["affine"](x3, scale.reshape(1, C, 1), shift.reshape(1, C, 1))
    return y, mean, invstd


def _train_backward_cupy(cp, g3, x3, mean, invstd, weight, m):
    """Training backward in 3 launches: -> (dx, dweight, dbias), the last two float64 (C,)."""
    k = _kernels(cp)
    N, C, _ = x3.shape
    mu = mean.reshape(1, C, 1)
    dw, db = cp.empty(C, F64), cp.empty(C, F64)  # own arrays: the gradients are handed on
    a, b, c = cp.empty((3, C), F64)
    k["coef"](k["sum_dot"](g3, x3, mu, axis=2), N, C, float(m), invstd, invstd if weight is None else weight,
              int(weight is not None), dw, db, a, b, c)
    dx = k["dx"](g3, x3, mu, a.reshape(1, C, 1), b.reshape(1, C, 1), c.reshape(1, C, 1))
    return dx, dw, db
