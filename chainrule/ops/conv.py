"""2-D convolution (really cross-correlation, as in every framework).

Fast path: im2col + one matrix product (lecture 5/7).

    cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*sh + kh, ow*sw + kw]    (C*KH*KW, N*OH*OW)
    out = W.reshape(F, C*KH*KW) @ cols                                     (F, N*OH*OW)

Backward is two more matrix products and col2im, the adjoint of im2col:

    dW = dout2 @ cols^T          dcols = W2^T @ dout2
    dx[n, c, oh*sh + kh, ow*sw + kw] += dcols[(c, kh, kw), (n, oh, ow)]

col2im adds one strided slice per kernel offset (a loop over KH*KW, never
over examples or pixels). The GEMMs run near BLAS peak; the time goes to the
copies, so temporaries that never leave a call live in a small buffer cache
(fresh multi-MB arrays cost a page fault per 4 KiB page on every call).

`conv2d_naive` is the lecture's plain-loop version, kept for teaching and as a
test reference.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import Function
from ..tensor import Tensor


# ------------------------------------------------------------ buffer cache
class _BufferCache:
    """Scratch arrays reused across calls, keyed by (tag, shape, dtype).

    Only for temporaries that die before the call returns: never hand one out
    as an op's output or save one for backward. Padded-input buffers keep
    their zero border because only the interior is ever written.
    """

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._arrays: OrderedDict = OrderedDict()
        self._bytes = 0

    def get(self, tag: str, shape: tuple, dtype, zero: bool = False) -> np.ndarray:
        key = (tag, tuple(shape), np.dtype(dtype))
        arr = self._arrays.pop(key, None)
        if arr is None:
            arr = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and self._arrays:  # evict least recently used
                _, old = self._arrays.popitem(last=False)
                self._bytes -= old.nbytes
        elif zero and tag.endswith("!"):
            arr.fill(0)
        self._arrays[key] = arr
        return arr

    def clear(self) -> None:
        self._arrays.clear()
        self._bytes = 0


buffers = _BufferCache()


# ------------------------------------------------------------------ threads
def _default_threads() -> int:
    for var in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var, "").isdigit() and int(os.environ[var]) > 0:
            return int(os.environ[var])
    return min(os.cpu_count() or 1, 8)


_num_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None


def set_num_threads(n: int) -> None:
    """Threads for the im2col/col2im copies (the GEMMs use BLAS's own threads).
    Defaults to $CHAINRULE_NUM_THREADS, $OMP_NUM_THREADS, $OPENBLAS_NUM_THREADS or the core count."""
    global _num_threads, _pool
    _num_threads = max(1, int(n))
    _pool = None


def _split(fn, n: int, work: int) -> None:
    """Run fn(lo, hi) over [0, n) in up to `_num_threads` chunks. NumPy releases the
    GIL inside its copy and add loops, so the memory-bound im2col/col2im copies run
    on every core like the GEMMs do. Small jobs stay on this thread."""
    global _pool
    parts = min(_num_threads, n) if work >= (1 << 20) else 1
    if parts <= 1:
        fn(0, n)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_num_threads, thread_name_prefix="chainrule")
    bounds = [n * i // parts for i in range(parts + 1)]
    for f in [_pool.submit(fn, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]:
        f.result()


# ------------------------------------------------------------------ helpers
def _pair(v, name: str, op: str = "conv2d") -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair, got {v!r}")
        a, b = v
    else:
        a = b = v
    try:
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None


def conv_output_size(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _padded(x: np.ndarray, ph: int, pw: int, tag: str) -> np.ndarray:
    """x zero-padded by (ph, pw), in a cached buffer (the border stays zero)."""
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    xp = buffers.get(tag, (N, C, H + 2 * ph, W + 2 * pw), x.dtype, zero=True)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def im2col(xp: np.ndarray, KH: int, KW: int, sh: int, sw: int, OH: int, OW: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Columns (C*KH*KW, N*OH*OW) of the (already padded) input xp: (N, C, Hp, Wp).

    One strided view holds every window; a single copy lays it out (no loops).
    """
    N, C = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    windows = as_strided(xp, (C, KH, KW, N, OH, OW), (s1, s2, s3, s0, s2 * sh, s3 * sw), writeable=False)
    if out is None:
        out = np.empty((C * KH * KW, N * OH * OW), xp.dtype)
    out6 = out.reshape(C, KH, KW, N, OH, OW)

    def copy(lo, hi):  # examples lo:hi
        np.copyto(out6[:, :, :, lo:hi], windows[:, :, :, lo:hi])

    _split(copy, N, out.size)
    return out


def col2im(dcols: np.ndarray, dxp: np.ndarray, KH: int, KW: int, sh: int, sw: int,
           OH: int, OW: int) -> np.ndarray:
    """Adjoint of im2col: add the columns back into dxp: (C, N, Hp, Wp), which must
    start at zero. One strided slice-add per kernel offset."""
    C, N = dxp.shape[:2]
    d6 = dcols.reshape(C, KH, KW, N, OH, OW)

    def add(lo, hi):  # examples lo:hi
        for kh in range(KH):
            for kw in range(KW):
                dxp[:, lo:hi, kh:kh + sh * (OH - 1) + 1:sh, kw:kw + sw * (OW - 1) + 1:sw] += d6[:, kh, kw, lo:hi]

    _split(add, N, dcols.size)
    return dxp


def _im2col_cached(x, KH, KW, sh, sw, ph, pw, OH, OW) -> np.ndarray:
    N, C = x.shape[:2]
    cols = buffers.get("conv.cols", (C * KH * KW, N * OH * OW), x.dtype)
    return im2col(_padded(x, ph, pw, "conv.xpad"), KH, KW, sh, sw, OH, OW, out=cols)


def _check(x: np.ndarray, w: np.ndarray, b, stride, padding) -> tuple:
    if np.ndim(x) != 4:
        raise ValueError(f"conv2d: expected a 4-D input (N, C, H, W), got shape {np.shape(x)}")
    if np.ndim(w) != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (F, C, KH, KW), got shape {np.shape(w)}")
    N, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if C != Cw:
        raise ValueError(
            f"conv2d: weight of shape {w.shape} expects {Cw} input channels, "
            f"got input of shape {x.shape} with {C} channels"
        )
    if b is not None and np.shape(b) != (F,):
        raise ValueError(f"conv2d: bias must have shape ({F},) to match weight {w.shape}, got {np.shape(b)}")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"conv2d: stride must be positive, got {stride!r}")
    if ph < 0 or pw < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding!r}")
    if KH > H + 2 * ph or KW > W + 2 * pw:
        raise ValueError(
            f"conv2d: kernel size ({KH}, {KW}) is larger than the padded input "
            f"({H + 2 * ph}, {W + 2 * pw}) (input shape {x.shape}, padding ({ph}, {pw}))"
        )
    return sh, sw, ph, pw


# --------------------------------------------------------------------- fast
class Conv2d(Function):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW)."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding):
        sh, sw, ph, pw = _check(x, w, b, stride, padding)
        dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
        M = N * OH * OW

        # cols lives in the cache and backward rebuilds it from x: saving a fresh
        # cols (C*KH*KW times the input's size) would cost as much in page faults
        # as the rebuild does, and pin hundreds of MB per layer until backward.
        cols = _im2col_cached(x, KH, KW, sh, sw, ph, pw, OH, OW)
        prod = buffers.get("conv.prod", (F, M), dtype)
        np.matmul(w.reshape(F, -1), cols, out=prod)

        out = np.empty((N, F, OH, OW), dtype)
        prod3 = prod.reshape(F, N, OH * OW).transpose(1, 0, 2)
        if b is None:
            np.copyto(out.reshape(N, F, OH * OW), prod3)
        else:  # the bias add rides along with the (F, N) -> (N, F) reordering copy
            np.add(prod3, b.astype(dtype, copy=False)[:, None], out=out.reshape(N, F, OH * OW))

        ctx.save_for_backward(x, w)
        ctx.geom = (x.shape, sh, sw, ph, pw, OH, OW)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        (N, C, H, W), sh, sw, ph, pw, OH, OW = ctx.geom
        F, _, KH, KW = w.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        g = g.astype(w.dtype, copy=False)

        # dout as (F, N*OH*OW), the column layout of the forward product
        g2 = buffers.get("conv.g2", (F, N * OH * OW), w.dtype)
        np.copyto(g2.reshape(F, N, OH * OW), g.reshape(N, F, OH * OW).transpose(1, 0, 2))

        db = g2.sum(axis=1) if need_b else None
        dw = None
        if need_w:
            cols = _im2col_cached(x, KH, KW, sh, sw, ph, pw, OH, OW)
            dw = (g2 @ cols.T).reshape(w.shape)
        dx = None
        if need_x:  # dcols may take cols' buffer: cols is not needed any more
            dcols = buffers.get("conv.cols", (C * KH * KW, N * OH * OW), w.dtype)
            np.matmul(w.reshape(F, -1).T, g2, out=dcols)
            Hp, Wp = H + 2 * ph, W + 2 * pw
            dxp = buffers.get("conv.dxpad!", (C, N, Hp, Wp), w.dtype, zero=True)
            col2im(dcols, dxp, KH, KW, sh, sw, OH, OW)
            dx = np.empty((N, C, H, W), w.dtype)
            np.copyto(dx, dxp[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3))
        return dx, dw, db, None, None


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation) of x: (N, C, H, W) with weight: (F, C, KH, KW),
    plus bias: (F,). stride and padding are ints or (h, w) pairs (zero padding).
    Returns (N, F, OH, OW) with OH = (H + 2*pad_h - KH) // stride_h + 1."""
    return Conv2d.apply(x, weight, bias, stride, padding)


# -------------------------------------------------------------------- naive
def conv2d_naive(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """The lecture's convolution: loops over examples, filters and output pixels.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW) ndarray.
    """
    x, w = np.asarray(getattr(x, "data", x)), np.asarray(getattr(w, "data", w))
    b = None if b is None else np.asarray(getattr(b, "data", b))
    sh, sw, ph, pw = _check(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, F, OH, OW), np.result_type(x, w))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
                    out[n, f, i, j] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out


def conv2d_naive_backward(dout, x, w, stride=1, padding=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-loop backward of `conv2d_naive`: each output pixel sends its gradient
    back to the window it saw (dx) and to the filter it used (dw).

    Returns (dx, dw, db)."""
    x, w, dout = (np.asarray(getattr(a, "data", a)) for a in (x, w, dout))
    sh, sw, ph, pw = _check(x, w, None, stride, padding)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    hs, ws = i * sh, j * sw
                    dxp[n, :, hs:hs + KH, ws:ws + KW] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, hs:hs + KH, ws:ws + KW] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, db
