"""Convolution by kernel offsets as one compiled loop that calls BLAS itself (Numba + SciPy's BLAS).

`conv_wide`'s "taps" algorithm computes a stride-1 convolution on the flat padded input
xf: (N, C, L) with row pitch Wq as a sum over kernel offsets (kh, kw):

    out_wide[n] = sum over (kh, kw) of w[:, :, kh, kw] @ xf[n, :, off:off + Q],  off = kh*Wq + kw

In NumPy that is one batched `np.matmul` per offset into a temporary and an add into the sum
(`total += term`): 2*KH*KW passes over the (F, Q) product and one call per offset and example
through NumPy's generic loop. Here a Numba loop calls the BLAS GEMM directly, the first offset
with beta = 0 and the others with beta = 1, so BLAS adds each product into the sum as it writes
it: no temporary, no extra pass, no Python or NumPy per call (measured single-threaded on
(128, 64, 8, 8) 64->64, where the products are smallest: 31 ms against 60-67 ms for the NumPy
forms). For small channel counts on large maps the column GEMM stays faster; the autotuner times
this as candidate "taps-blas" beside the others and keeps whichever wins on the machine.

BLAS is SciPy's (`scipy.linalg.cython_blas`, the function pointers SciPy exports for compiled
code), column-major: the C-order (F, Q) sum is the column-major (Q, F) matrix, so each step is

    sum^T (Q x F, ld Q) += xf_shift^T (Q x C, ld L) @ w_off^T (C x F, ld C)

The loops call sgemm/dgemm by a symbol name bound to SciPy's functions when the process first
needs them, so Numba compiles them once per machine (`cache=True`) like the other kernels.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from . import jit, parallel

__all__ = ["available", "conv_taps", "weight_taps"]

# SciPy's Fortran BLAS entry points, called by symbol name from the compiled loops. Every argument
# is a pointer; declared as intp (the same 64-bit register in the C ABI) so that the loops can pass
# addresses computed with integer arithmetic. The symbols are bound to SciPy's functions at run time
# (`_bind`), so Numba's on-disk cache can keep the loops' machine code across processes.
_SGEMM: Any = None  # numba ExternalFunction types, made by `_bind` (Numba is imported on first use only)
_DGEMM: Any = None


@functools.lru_cache(maxsize=None)
def _bind() -> bool:
    """Bind the two symbols to scipy.linalg.cython_blas's sgemm and dgemm; False without SciPy."""
    global _SGEMM, _DGEMM
    try:
        import llvmlite.binding as ll
        from numba import types
        from numba.extending import get_cython_function_address

        for symbol, name in (("chainrule_scipy_sgemm", "sgemm"), ("chainrule_scipy_dgemm", "dgemm")):
            ll.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_blas", name))
        signature = types.void(*(types.intp,) * 13)
        _SGEMM = types.ExternalFunction("chainrule_scipy_sgemm", signature)
        _DGEMM = types.ExternalFunction("chainrule_scipy_dgemm", signature)
    except Exception:  # no Numba or SciPy, or a SciPy without cython_blas: the NumPy algorithms only
        return False
    parallel.reset_blas_control()  # SciPy's OpenBLAS too must run single-threaded inside the blocks
    return True


def available(dtype: Any) -> bool:
    """Whether the compiled loops can run for this dtype: float32 or float64, the compiled kernels
    on (`jit.is_enabled()`) and SciPy's BLAS importable."""
    return np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float64)) and jit.is_enabled() and _bind()


@jit.kernel()
def _conv_kernel(xf, wt, out, s, e, Q, Wq, KW):
    """out[i - s] (F, Q) = sum_t wt[t] @ xf[i, :, off_t:off_t + Q] for examples i in s:e;
    xf: (N, C, L), wt: (T, F, C), out: (>= e - s, F, Q), all C-contiguous, one dtype."""
    C, L = xf.shape[1], xf.shape[2]
    T, F = wt.shape[0], wt.shape[1]
    size = xf.itemsize
    ints = np.empty(6, np.int32)  # BLAS takes every argument by pointer
    ints[0], ints[1], ints[2], ints[3], ints[4], ints[5] = Q, F, C, L, C, Q  # m n k lda ldb ldc
    scal = np.empty(3, xf.dtype)
    scal[0], scal[1], scal[2] = 1.0, 0.0, 1.0  # alpha, beta for the first offset, beta after
    trans = np.empty(1, np.uint8)
    trans[0] = 78  # "N"
    ip, sp, tp = ints.ctypes.data, scal.ctypes.data, trans.ctypes.data
    xp, wp, op = xf.ctypes.data, wt.ctypes.data, out.ctypes.data
    for i in range(s, e):
        c_ptr = op + size * ((i - s) * F * Q)
        for t in range(T):
            off = (t // KW) * Wq + t % KW
            beta = sp + size if t == 0 else sp + 2 * size
            # sum^T (Q x F, ld Q) (+)= xf_shift^T (Q x C, ld L) @ wt[t]^T (C x F, ld C)
            args = (tp, tp, ip, ip + 4, ip + 8, sp, xp + size * (i * C * L + off), ip + 12,
                    wp + size * (t * F * C), ip + 16, beta, c_ptr, ip + 20)
            if size == 4:
                _SGEMM(*args)
            else:
                _DGEMM(*args)


@jit.kernel()
def _weight_kernel(xf, gt, acc, s, e, Q, Wq, KW):
    """acc[t] (C, F) += sum over examples i in s:e of xf[i, :, off_t:off_t + Q] @ gt[i - s];
    gt: (>= e - s, Q, F), acc: (T, C, F)."""
    C, L = xf.shape[1], xf.shape[2]
    T, F = acc.shape[0], acc.shape[2]
    size = xf.itemsize
    ints = np.empty(6, np.int32)
    ints[0], ints[1], ints[2], ints[3], ints[4], ints[5] = F, C, Q, F, L, F  # m n k lda ldb ldc
    scal = np.empty(2, xf.dtype)
    scal[0], scal[1] = 1.0, 1.0
    trans = np.empty(1, np.uint8)
    trans[0] = 78
    ip, sp, tp = ints.ctypes.data, scal.ctypes.data, trans.ctypes.data
    xp, gp, ap = xf.ctypes.data, gt.ctypes.data, acc.ctypes.data
    for i in range(s, e):
        for t in range(T):
            off = (t // KW) * Wq + t % KW
            # acc[t]^T (F x C, ld F) += gt[i]^T (F x Q, ld F) @ xf_shift^T (Q x C, ld L)
            args = (tp, tp, ip, ip + 4, ip + 8, sp, gp + size * ((i - s) * Q * F), ip + 12,
                    xp + size * (i * C * L + off), ip + 16, sp + size, ap + size * (t * C * F), ip + 20)
            if size == 4:
                _SGEMM(*args)
            else:
                _DGEMM(*args)


def weight_taps(dtype: Any) -> Callable:
    """The compiled weight-gradient loop: fn(xf, gt, acc, s, e, Q, Wq, KW) adds
    sum_i xf[i, :, off_t:off_t + Q] @ gt[i - s] into acc[t] (C, F) for every kernel offset t."""
    _bind()
    return _weight_kernel


def conv_taps(xf: np.ndarray, w: np.ndarray, bias: np.ndarray | None, OH: int, OW: int, Wq: int,
              store: Callable) -> np.ndarray:
    """`conv_wide.conv` by kernel offsets with BLAS accumulating in place: xf (N, C, L) float32 or
    float64, C-contiguous -> (N, F, OH, OW); `store(out, valid, bias)` drops the junk columns."""
    N, C = xf.shape[:2]
    F, _, KH, KW = w.shape
    Q = OH * Wq
    _bind()
    run = _conv_kernel
    wt = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(KH * KW, F, C))
    out = np.empty((N, F, OH, OW), xf.dtype)
    work = N * C * KH * KW * Q
    nb = parallel.examples_per_sub_block(F * Q * xf.itemsize, N)
    parts = parallel.num_parts(N, work)
    sum_bufs = parallel.scratch("conv.prod", parts, nb * F * Q, xf.dtype)

    def block(i, lo, hi):
        for s, e in parallel.sub_blocks(lo, hi, nb):
            total = parallel.piece(sum_bufs[i], e - s, F, Q)
            run(xf, wt, total, s, e, Q, Wq, KW)
            store(out[s:e], total.reshape(e - s, F, OH, Wq)[..., :OW], bias)

    parallel.blocks(block, N, work)
    return out
