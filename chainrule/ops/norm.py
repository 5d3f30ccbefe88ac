"""Normalisation layers: batch norm (lecture 6) and local response norm (AlexNet).

Batch norm normalises each channel over the batch (and spatial) axes:

    xhat = (x - mean) * invstd,    y = gamma * xhat + beta,    invstd = 1 / sqrt(var + eps)

and its backward, in the compact closed form (m values per channel):

    dx = (1/m) * gamma * invstd * (m * dy - sum(dy) - xhat * sum(dy * xhat))

In training it uses the batch statistics and moves the running statistics
towards them in place (with the UNBIASED batch variance, as PyTorch); in eval
it uses the running statistics, and backward is just the affine map's.

Speed. The op is memory-bound: every pass over a (128, 64, 32, 32) float32
array costs ~3 ms, a freshly allocated one ~5 ms. So x is viewed as (N, C, L)
and processed in chunks of a few examples that fit in the L2 cache (`_chunks`):
each chunk is read from memory once and every small operation on it (centre,
square-sum, scale, shift) runs from the cache. Per-(n, c) row sums are a
matrix-vector product with ones (BLAS), accumulated per channel in float64.
Forward is two passes over x (mean, then centred sum of squares: exact, no
E[x^2] - mean^2 cancellation) plus one that writes y; backward is one pass
for sum(dy) and sum(dy * (x - mean)) and one that writes dx, with x saved
instead of a centred copy. The examples are split between threads as in conv.

With Numba (`jit`), float32 and float64 inputs of 3 or 4 dimensions take `norm_jit`'s
compiled loops instead: the same formulas, one read of the data per pass, no
temporaries (2.5-5x faster than the NumPy passes).
On CuPy arrays, batch norm takes norm_device's whole-array path instead.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import jit, norm_device, norm_jit
from .parallel import blocks as _blocks

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


def _check_bn(x, running_mean, running_var, weight, bias, training, momentum) -> None:
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected a 2-D, 3-D or 4-D input (N, C[, L | H, W]), got shape {x.shape}")
    C = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and v.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input of shape {x.shape}, got {v.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    if training and x.size // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape {x.shape}")
    if training and running_mean is not None and momentum is None:
        raise ValueError("batch_norm: momentum must be a float (the module handles momentum=None)")


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


class BatchNorm(Function):
    """x: (N, C), (N, C, L) or (N, C, H, W); weight, bias: (C,) or None."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        _check_bn(x, running_mean, running_var, weight, bias, training, momentum)
        ctx.device = backend.array_module(x) is not np
        if ctx.device:  # CuPy arrays: norm_device
            return norm_device.batch_norm_forward(ctx, x, weight, bias, running_mean, running_var,
                                                  training, momentum, eps)
        dtype = np.result_type(x, *(v for v in (weight, bias) if v is not None))
        x3 = x.astype(dtype, copy=False).reshape(x.shape[0], x.shape[1], -1)
        # (N, C): rows of one value, NumPy is as fast; float16 and others: NumPy only
        ctx.jit = x.ndim >= 3 and dtype in (np.float32, np.float64) and jit.is_enabled()
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

    @staticmethod
    def backward(ctx, g):
        if ctx.device:
            return norm_device.batch_norm_backward(ctx, g)
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


def batch_norm(x: Tensor, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm: normalise each channel of x: (N, C), (N, C, L) or
    (N, C, H, W). Training uses batch statistics and updates running_mean/running_var
    (float ndarrays (C,), or None) in place; eval uses the running statistics."""
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    return BatchNorm.apply(x, weight, bias, rm, rv, bool(training), momentum, eps)


# ---------------------------------------------------------------------- LRN
def _channel_window_sum(a: np.ndarray, before: int, after: int, size: int) -> np.ndarray:
    """s[:, c] = sum of a[:, c - before : c + after + 1] (zero outside the channels)."""
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = backend.array_module(a).pad(a, pad)
    C = a.shape[1]
    s = ap[:, 0:C].copy()
    for t in range(1, size):  # a loop over the `size` offsets, not over channels
        s += ap[:, t:t + C]
    return s


class LocalResponseNorm(Function):
    """b_c = a_c / (k + alpha/size * sum_{c' in window(c)} a_c'^2)^beta, window
    c - size//2 .. c + (size-1)//2 (PyTorch's, also for even sizes)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        if x.ndim < 3:
            raise ValueError(f"local_response_norm: expected an input with 3 or more dimensions (N, C, ...), "
                             f"got shape {x.shape}")
        if int(size) <= 0:
            raise ValueError(f"local_response_norm: size must be positive, got {size!r}")
        size = int(size)
        s = _channel_window_sum(x * x, size // 2, (size - 1) // 2, size)
        d = k + (alpha / size) * s
        dpow = d ** -beta
        ctx.save_for_backward(x, d, dpow)
        ctx.params = (size, alpha, beta)
        return x * dpow

    @staticmethod
    def backward(ctx, g):
        x, d, dpow = ctx.saved_tensors
        size, alpha, beta = ctx.params
        # dL/da_j = g_j d_j^-beta - 2 beta alpha/size a_j * sum_{c: j in window(c)} g_c a_c d_c^(-beta-1);
        # j is in window(c) exactly when c is in j - (size-1)//2 .. j + size//2.
        t = g * x * dpow / d
        r = _channel_window_sum(t, (size - 1) // 2, size // 2, size)
        return g * dpow - (2 * beta * alpha / size) * x * r, None, None, None, None


def local_response_norm(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """torch.nn.functional.local_response_norm over the channels of x: (N, C, ...)."""
    return LocalResponseNorm.apply(x, size, alpha, beta, k)
