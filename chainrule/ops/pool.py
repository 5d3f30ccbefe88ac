"""2-D pooling: max, average and adaptive average, with PyTorch's output sizes.

Every kernel loops over the KH*KW window offsets only: offset (kh, kw) of all
windows at once is the strided view xpad[:, :, kh::sh, kw::sw], so max pooling
is a running np.maximum over KH*KW views (for 2x2/2 a 4-way maximum, far faster
than x.max(axis=(3, 5)) on a reshaped array). Max-pool backward routes each
window's gradient to its first maximum (PyTorch's rule on ties), found by
comparing the views with the output in the same order (`pool_cpu`). On CuPy
arrays every op takes pool_device's path instead (one window copy and
reduction, or one kernel each way for max pooling); `dispatch` chooses.

Output size (PyTorch's rule, per axis):

    out = floor_or_ceil((H + 2*pad - k) / stride) + 1
    and with ceil_mode, the last window must start inside the input or the left
    padding: if (out - 1) * stride >= H + pad, then out -= 1.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from . import dispatch
from .geometry import pair as _pair, pool_output_size  # noqa: F401


def _geometry(op: str, x: np.ndarray, kernel_size, stride, padding, ceil_mode) -> tuple:
    if np.ndim(x) != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {np.shape(x)}")
    kh, kw = _pair(kernel_size, "kernel_size", op)
    sh, sw = (kh, kw) if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(stride, "stride", op)
    ph, pw = _pair(padding, "padding", op)
    if kh <= 0 or kw <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {kernel_size!r}")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{op}: stride must be positive, got {stride!r}")
    if ph < 0 or pw < 0 or 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {(kh, kw)}, got {padding!r}")
    H, W = x.shape[2:]
    oh = pool_output_size(H, kh, sh, ph, ceil_mode)
    ow = pool_output_size(W, kw, sw, pw, ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError(
            f"{op}: kernel size {(kh, kw)} with padding {(ph, pw)} is too large for input of shape "
            f"{x.shape} (output would be {oh}x{ow})"
        )
    return kh, kw, sh, sw, ph, pw, oh, ow


# ---------------------------------------------------------------------- max
class MaxPool2d(Function):
    """Where it runs (`pool_cpu`, `pool_device`) is `dispatch`'s choice."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode):
        g = _geometry("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
        return dispatch.forward("max_pool2d", ctx, x, g)

    @staticmethod
    def backward(ctx, gout):
        return dispatch.backward(ctx, gout), None, None, None, None


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False) -> Tensor:
    """Max over KHxKW windows of x: (N, C, H, W) -> (N, C, OH, OW).
    stride defaults to kernel_size; padding (at most half the kernel) pads with -inf."""
    return MaxPool2d.apply(x, kernel_size, stride, padding, ceil_mode)


# ---------------------------------------------------------------------- avg
def _avg_divisor(g: tuple, H: int, W: int, count_include_pad: bool, dtype) -> np.ndarray:
    """(oh, ow) window sizes PyTorch divides by: the window clipped to the padded
    input (count_include_pad) or to the input itself."""
    kh, kw, sh, sw, ph, pw, oh, ow = g

    def counts(o, k, s, p, n):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            return end - start
        return np.minimum(end, n) - np.maximum(start, 0)

    return np.outer(counts(oh, kh, sh, ph, H), counts(ow, kw, sw, pw, W)).astype(dtype)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
        g = _geometry("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
        div = _avg_divisor(g, x.shape[2], x.shape[3], count_include_pad, x.dtype)
        return dispatch.forward("avg_pool2d", ctx, x, g, div)

    @staticmethod
    def backward(ctx, gout):
        return dispatch.backward(ctx, gout), None, None, None, None, None


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over KHxKW windows of x: (N, C, H, W) -> (N, C, OH, OW) (zero padding,
    counted in the mean when count_include_pad)."""
    return AvgPool2d.apply(x, kernel_size, stride, padding, ceil_mode, count_include_pad)


# ----------------------------------------------------------------- adaptive
def _bin_matrix(n_in: int, n_out: int, dtype) -> np.ndarray:
    """(n_out, n_in) averaging matrix of PyTorch's adaptive bins:
    bin i covers [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """A bin's mean is separable: average the rows of the bin, then its columns,
    so the whole op is Ph @ x @ Pw^T and its backward Ph^T @ g @ Pw."""

    @staticmethod
    def forward(ctx, x, output_size):
        if np.ndim(x) != 4:
            raise ValueError(f"adaptive_avg_pool2d: expected a 4-D input (N, C, H, W), got shape {np.shape(x)}")
        H, W = x.shape[2:]
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if len(sizes) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r}")
        oh, ow = (int(s) if s is not None else n for s, n in zip(sizes, (H, W)))
        if oh <= 0 or ow <= 0:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size!r}")
        ph, pw = _bin_matrix(H, oh, x.dtype), _bin_matrix(W, ow, x.dtype)
        return dispatch.forward("adaptive_avg_pool2d", ctx, x, ph, pw)

    @staticmethod
    def backward(ctx, g):
        return dispatch.backward(ctx, g), None


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average x: (N, C, H, W) over an output_size (int or pair) grid of PyTorch's
    adaptive bins -> (N, C, OH, OW)."""
    return AdaptiveAvgPool2d.apply(x, output_size)


# -------------------------------------------------------------------- naive
def max_pool2d_naive(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False) -> np.ndarray:
    """The lecture's max pooling: loops over examples, channels and output pixels."""
    x = np.asarray(getattr(x, "data", x))
    g = _geometry("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, H, W = x.shape
    out = np.empty((N, C, oh, ow), x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(oh):
                for j in range(ow):
                    h0, w0 = i * sh - ph, j * sw - pw  # window in unpadded coordinates
                    window = x[n, c, max(h0, 0):min(h0 + kh, H), max(w0, 0):min(w0 + kw, W)]
                    out[n, c, i, j] = window.max()
    return out


# Public names for the ONNX exporter, which writes PyTorch's divisors and bins as constants.
avg_divisor, bin_matrix = _avg_divisor, _bin_matrix
