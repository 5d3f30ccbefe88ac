"""2-D convolution (really cross-correlation, as in every framework): the Function.

The lecture's method (5/7) is im2col + a matrix product; backward is two more
products and col2im, its adjoint. The GEMMs run near BLAS peak, so the time
goes to the copies around them. `dispatch` picks the implementation (`conv_cpu` for NumPy
arrays, `conv_device` for CuPy arrays); these files hold the ways to compute it:

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

from ..autograd import Function
from ..tensor import Tensor
from . import dispatch
from .conv_naive import conv2d_naive, conv2d_naive_backward

__all__ = ["Conv2d", "conv2d", "conv2d_naive", "conv2d_naive_backward"]


class Conv2d(Function):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW).

    Where it runs (NumPy's `conv_cpu`, CuPy's `conv_device`) is `dispatch`'s choice."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        return dispatch.forward("conv2d", ctx, x, w, b, stride, padding)

    @staticmethod
    def backward(ctx, dout):
        return dispatch.backward(ctx, dout)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation) of x: (N, C, H, W) with weight: (F, C, KH, KW),
    plus bias: (F,). stride and padding are ints or (h, w) pairs (zero padding).
    Returns (N, F, OH, OW) with OH = (H + 2*pad_h - KH) // stride_h + 1."""
    return Conv2d.apply(x, weight, bias, stride, padding)
