"""Batch norm on NumPy arrays: the CPU implementations `dispatch` picks (norm.py has the Function).

"numpy", the reference: the op is memory-bound (every pass over a (128, 64, 32, 32)
float32 array costs ~3 ms, a freshly allocated one ~5 ms), so x is viewed as (N, C, L)
and processed in chunks of a few examples that fit in the L2 cache (`_chunks`): each
chunk is read from memory once and every small operation on it (centre, square-sum,
scale, shift) runs from the cache. Per-(n, c) row sums are a matrix-vector product with
ones (BLAS), accumulated per channel in float64. Forward is two passes over x (mean,
then centred sum of squares: exact, no E[x^2] - mean^2 cancellation) plus one that
writes y; backward is one pass for sum(dy) and sum(dy * (x - mean)) and one that writes
dx, with x saved instead of a centred copy. The examples are split between threads as
in conv.

"numba", the default where Numba is there: the same formulas with `norm_jit`'s compiled
loops for the passes (one read of the data per pass, no temporaries, 2.5-5x faster), for
float32 and float64 inputs of 3 or 4 dimensions (`compiled_accepts`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import norm_jit
from .parallel import blocks as _blocks

__all__ = ["forward_reference", "forward_compiled", "compiled_accepts", "backward"]

_CHUNK_BYTES = 1 << 19  # 512 KiB: 256 KiB-2 MiB measured alike, smaller costs per-call overhead


def _chunks(lo: int, hi: int, example_bytes: int):
    """Slices of the examples lo:hi, each about _CHUNK_BYTES (at least one example)."""
    step = max(1, _CHUNK_BYTES // max(1, example_bytes))
    for s in range(lo, hi, step):
        yield slice(s, min(s + step, hi))


def _row_sums(a: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """a: (n, C, L) -> per-channel sums (C,) in float64, via BLAS row sums (n*C,)."""
    n, C, L = a.shape
    return (a.reshape(n * C, L) @ ones).reshape(n, C).sum(axis=0, dtype=np.float64)


def _row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a, b: (n, C, L) -> per-channel sums of a * b (C,) in float64."""
    n, C, L = a.shape
    return np.einsum("ij,ij->i", a.reshape(n * C, L), b.reshape(n * C, L)).reshape(n, C).sum(axis=0, dtype=np.float64)


def _over_chunks(fn, x3: np.ndarray) -> np.ndarray:
    """Sum over all chunks of x3's examples of fn(chunk_slice) -> float64 vector,
    the examples split between threads."""
    N, C, L = x3.shape
    parts: dict = {}

    def block(i, lo, hi):
        acc = 0.0
        for sl in _chunks(lo, hi, C * L * x3.itemsize):
            acc = acc + fn(sl)
        parts[i] = acc

    _blocks(block, N, x3.size)
    return sum(parts[i] for i in sorted(parts))  # block order, not finishing order: deterministic


def _affine(src: np.ndarray, out: np.ndarray, scale: np.ndarray, shift: np.ndarray,
            src2: np.ndarray | None = None, scale2: np.ndarray | None = None) -> None:
    """out = src * scale [+ src2 * scale2] + shift, per channel, chunk by chunk
    (each chunk of out is written once and finished while in the cache).
    src, src2, out: (N, C, L); scale, scale2, shift: (1, C, 1)."""
    N, C, L = src.shape

    def block(i, lo, hi):
        tmp = None
        for sl in _chunks(lo, hi, C * L * src.itemsize):
            o = out[sl]
            np.multiply(src[sl], scale, out=o)
            if src2 is not None:
                if tmp is None or tmp.shape != o.shape:
                    tmp = np.empty_like(o)
                np.multiply(src2[sl], scale2, out=tmp)
                o += tmp
            o += shift

    _blocks(block, N, src.size)


def _batch_stats(x3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (float64) of x3: (N, C, L), in two
    chunked passes: the sum, then the sum of squares of x - mean."""
    N, C, L = x3.shape
    m = N * L
    ones = np.ones(L, x3.dtype)
    mean = _over_chunks(lambda sl: _row_sums(x3[sl], ones), x3) / m
    mean3 = mean.astype(x3.dtype).reshape(1, C, 1)

    def centred_squares(sl):
        xc = x3[sl] - mean3  # a chunk: stays in the cache
        return _row_dots(xc, xc)

    return mean, _over_chunks(centred_squares, x3) / m


def _backward_sums(g3: np.ndarray, x3: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum(dy), sum(dy * (x - mean))) per channel (float64 (C,)), from one chunked read of g3, x3: (N, C, L)."""
    C, L = x3.shape[1], x3.shape[2]
    ones = np.ones(L, x3.dtype)
    mean3 = mean.astype(x3.dtype).reshape(1, C, 1)

    def chunk_sums(sl):
        gc = g3[sl]
        return np.concatenate([_row_sums(gc, ones), _row_dots(gc, x3[sl] - mean3)])

    both = _over_chunks(chunk_sums, x3)
    return both[:C], both[C:]


def _write_affine(use_jit: bool, src: np.ndarray, out: np.ndarray, scale: np.ndarray, shift: np.ndarray,
                  src2: np.ndarray | None = None, scale2: np.ndarray | None = None) -> None:
    """out = src * scale [+ src2 * scale2] + shift per channel, by norm_jit's kernels or
    `_affine`; src, src2, out: (N, C, L); scale, shift, scale2: float64 (C,), cast to src's dtype."""
    dt = src.dtype
    if use_jit and src2 is None:
        norm_jit.affine(src, out, scale.astype(dt), shift.astype(dt))
    elif use_jit:
        norm_jit.affine2(src, src2, out, scale.astype(dt), scale2.astype(dt), shift.astype(dt))
    else:
        per = lambda v: None if v is None else v.astype(dt).reshape(1, -1, 1)  # noqa: E731
        _affine(src, out, per(scale), per(shift), src2, per(scale2))


def compiled_accepts(x, weight, bias, *rest) -> bool:
    """Whether the compiled passes take this input: (N, C) rows of one value are as fast in
    NumPy; float16 and other dtypes: NumPy only."""
    dtype = np.result_type(x, *(v for v in (weight, bias) if v is not None))
    return x.ndim >= 3 and dtype in (np.float32, np.float64)


def _forward(ctx: Any, x, weight, bias, running_mean, running_var, training, momentum, eps, compiled: bool):
    """y = (x - mean) * invstd * gamma + beta, with the batch (training) or running statistics."""
    dtype = np.result_type(x, *(v for v in (weight, bias) if v is not None))
    x3 = x.astype(dtype, copy=False).reshape(x.shape[0], x.shape[1], -1)
    ctx.jit = compiled
    if ctx.jit:
        x3 = np.ascontiguousarray(x3)
    C, m = x3.shape[1], x3.shape[0] * x3.shape[2]
    if training:
        mean, var = (norm_jit.batch_stats if ctx.jit else _batch_stats)(x3)
        if running_mean is not None:  # unbiased variance for the running estimate
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))
    else:
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    invstd = 1.0 / np.sqrt(var + eps)  # float64 (C,)
    # y = (x - mean) * invstd * gamma + beta = x * scale + shift: one multiply, one add
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y = np.empty_like(x3)
    _write_affine(ctx.jit, x3, y, scale, shift)
    ctx.training = training
    ctx.save_for_backward(x3, mean, invstd, weight)
    ctx.shape = x.shape
    return y.reshape(x.shape)


def forward_reference(ctx: Any, *args) -> np.ndarray:
    """BatchNorm.forward with the NumPy passes."""
    return _forward(ctx, *args, compiled=False)


def forward_compiled(ctx: Any, *args) -> np.ndarray:
    """BatchNorm.forward with norm_jit's compiled passes."""
    return _forward(ctx, *args, compiled=True)


def backward(ctx: Any, g: np.ndarray) -> tuple:
    """(dx, dweight, dbias, None x 5), with the passes forward used (ctx.jit)."""
    x3, mean, invstd, weight = ctx.saved_tensors
    N, C, L = x3.shape
    m = N * L
    dtype = x3.dtype
    g3 = g.astype(dtype, copy=False).reshape(N, C, L)
    gamma = np.ones(C) if weight is None else weight.astype(np.float64)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    if ctx.jit:
        g3 = np.ascontiguousarray(g3)
    sum_dy, sum_dy_xc = (norm_jit.backward_sums if ctx.jit else _backward_sums)(g3, x3, mean)
    sum_dy_xhat = sum_dy_xc * invstd
    dx = None
    if need_x:
        a = gamma * invstd
        dx = np.empty_like(g3)
        if ctx.training:
            # dx = a*dy + b*(x - mean) - a/m*sum(dy) with b = -a*invstd*sum(dy*xhat)/m
            b = -a * invstd * sum_dy_xhat / m
            c = -a * sum_dy / m - b * mean
            _write_affine(ctx.jit, g3, dx, a, c, x3, b)
        else:  # the statistics are constants: backward of an affine map
            _write_affine(ctx.jit, g3, dx, a, np.zeros(C))
        dx = dx.reshape(ctx.shape)
    dw = sum_dy_xhat if need_w else None
    db = sum_dy if need_b else None
    return dx, dw, db, None, None, None, None, None
