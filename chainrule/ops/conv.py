"""2-D convolution (really cross-correlation, as in every framework): the Function.

The lecture's method (5/7) is im2col + a matrix product; backward is two more
products and col2im, its adjoint. The GEMMs run near BLAS peak, so the time
goes to the copies around them; three files hold the three ways to compute it:

- `conv_wide`: stride-1 convolutions on "wide rows", where every row of the
  column matrix is one contiguous slice of the padded input, so im2col and
  col2im are long contiguous copies/adds; for F <= 2*C, dx is itself a
  convolution of dout with the flipped kernel (no col2im). Where the channels
  are few and the maps small (ResNet-20's 16-64), the columns are skipped
  altogether: one product per kernel offset on a shifted view of the input,
  small enough for OpenBLAS's unpacked small-matrix kernels (`gemm`);
- `conv_im2col`: any stride, im2col with one strided copy per sub-block;
- `conv_naive`: the lecture's plain loops, the reference the tests compare with;
- `conv_device`: CuPy arrays, the whole batch at once (one im2col copy, one GEMM).

Both fast paths walk each thread's examples in cache-sized sub-blocks
(`parallel.sub_blocks`), one block of examples per thread with single-threaded
BLAS (`parallel.blocks`), and keep their temporaries in the scratch-buffer
cache (a fresh multi-MB array costs a page fault per 4 KiB on every call).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import conv_device, conv_im2col, conv_wide
from .conv_naive import conv2d_naive, conv2d_naive_backward
from .geometry import conv_geometry

__all__ = ["Conv2d", "conv2d", "conv2d_naive", "conv2d_naive_backward"]


class Conv2d(Function):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW).

    Stride-1 convolutions take the wide-row path, others im2col; the geometry
    (a `ConvGeometry`) is computed and checked once, in forward, and kept on ctx."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        ctx.device = backend.array_module(x) is not np
        if ctx.device:  # CuPy arrays: conv_device
            return conv_device.forward(ctx, x, w, b, stride, padding)
        g = conv_geometry(np.shape(x), np.shape(w), None if b is None else np.shape(b), stride, padding)
        dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
        bias = None if b is None else b.astype(dtype, copy=False)[:, None]
        ctx.save_for_backward(x, w)
        ctx.geom = g
        path = conv_wide if g.sh == g.sw == 1 else conv_im2col
        return path.forward(g, x, w, bias)

    @staticmethod
    def backward(ctx, dout):
        if ctx.device:
            return conv_device.backward(ctx, dout)
        x, w = ctx.saved_tensors
        g = ctx.geom
        dout = dout.astype(w.dtype, copy=False)
        needs = ctx.needs_input_grad[:3]
        if g.sh == g.sw == 1:
            by_conv = conv_wide.can_backward_by_conv(g)
            dx, dw, db = (conv_wide.backward_by_conv if by_conv else conv_wide.backward)(g, dout, x, w, *needs)
        else:
            dx, dw, db = conv_im2col.backward(g, dout, x, w, *needs)
        return dx, dw, db, None, None


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation) of x: (N, C, H, W) with weight: (F, C, KH, KW),
    plus bias: (F,). stride and padding are ints or (h, w) pairs (zero padding).
    Returns (N, F, OH, OW) with OH = (H + 2*pad_h - KH) // stride_h + 1."""
    return Conv2d.apply(x, weight, bias, stride, padding)
