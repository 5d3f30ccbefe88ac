"""2-D convolution on device arrays (CuPy): im2col as one copy, one GEMM, few kernels.

The NumPy paths (conv_wide, conv_im2col) split the batch between threads and
walk it in cache-sized pieces; on a GPU the cost is kernel launches instead,
so this path does each step once for the whole batch:

    cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*sh + kh, ow*sw + kw]     (K, N*P)
    out = W2 @ cols                                                        (F, N*P)

im2col is ONE copy of a 6-D strided view whose innermost axis walks along
x's rows (reads and writes both coalesced), the product is one GEMM, and one
more copy transposes (F, N, P) to (N, F, OH, OW), adding the bias. Backward:

    dout2 = dout as (F, N*P)      dW2 = dout2 @ cols^T      db = dout2 summed
    dx: stride 1 -> the convolution of dout, zero-padded by K-1-pad, with the
        kernel flipped and transposed to (C, F, KH, KW) (one more im2col + GEMM);
        otherwise dcols = W2^T @ dout2 and col2im: KH*KW strided slice adds
        (one gather kernel instead on real CuPy, `_col2im_kernel`).

The padded input is kept for backward (its im2col is redone there rather
than keeping the KH*KW times larger columns).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from .geometry import ConvGeometry, conv_geometry

__all__ = ["forward", "backward", "im2col", "col2im", "padded"]

USE_KERNELS = True  # real CuPy: col2im as one ElementwiseKernel (False: the plain-xp slice adds)


def padded(a: Any, ph: int, pw: int) -> Any:
    """a: (N, C, H, W) zero-padded to (N, C, H + 2*ph, W + 2*pw) (a itself when no padding)."""
    if ph == 0 and pw == 0:
        return a
    xp = backend.array_module(a)
    N, C, H, W = a.shape
    out = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), a.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = a
    return out


def im2col(xpad: Any, KH: int, KW: int, sh: int, sw: int, OH: int, OW: int) -> Any:
    """Columns of the padded xpad: (N, C, Hp, Wp) -> (C*KH*KW, N*OH*OW), one copy of the
    strided view [c, kh, kw, n, oh, ow] = xpad[n, c, oh*sh + kh, ow*sw + kw]."""
    xp = backend.array_module(xpad)
    N, C = xpad.shape[:2]
    s0, s1, s2, s3 = xpad.strides
    view = backend.as_strided(xpad, (C, KH, KW, N, OH, OW), (s1, s2, s3, s0, s2 * sh, s3 * sw))
    return xp.ascontiguousarray(view).reshape(C * KH * KW, N * OH * OW)


def col2im(dcols: Any, g: ConvGeometry) -> Any:
    """Adjoint of im2col, cropped: dcols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W)."""
    xp = backend.array_module(dcols)
    if USE_KERNELS and xp.__name__ == "cupy":
        return _col2im_cupy(xp, dcols, g)
    Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
    d6 = dcols.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    dxp = xp.zeros((g.N, g.C, Hp, Wp), dcols.dtype)
    he, we = g.sh * (g.OH - 1) + 1, g.sw * (g.OW - 1) + 1
    for kh in range(g.KH):
        for kw in range(g.KW):
            dxp[:, :, kh:kh + he:g.sh, kw:kw + we:g.sw] += d6[:, kh, kw].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(dxp[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W])


# One thread per dx element gathers its (kh, kw) terms, in the order the slice adds use.
_COL2IM_SRC = """
const long long w0 = i % W, h0 = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
T acc = 0;
for (int kh = 0; kh < KH; ++kh) {
    const long long hh = h0 + ph - kh;
    if (hh < 0 || hh % sh != 0 || hh / sh >= OH) continue;
    for (int kw = 0; kw < KW; ++kw) {
        const long long ww = w0 + pw - kw;
        if (ww < 0 || ww % sw != 0 || ww / sw >= OW) continue;
        acc += dcols[((((c * KH + kh) * KW + kw) * N + n) * OH + hh / sh) * OW + ww / sw];
    }
}
dx = acc;
"""
_col2im_kernels: dict = {}


def _col2im_cupy(cp: Any, dcols: Any, g: ConvGeometry) -> Any:
    kernel = _col2im_kernels.get("k")
    if kernel is None:
        kernel = _col2im_kernels["k"] = cp.ElementwiseKernel(
            "raw T dcols, int64 N, int64 C, int64 H, int64 W, int64 KH, int64 KW, int64 sh, int64 sw, "
            "int64 ph, int64 pw, int64 OH, int64 OW", "T dx", _COL2IM_SRC, "chainrule_col2im")
    dx = cp.empty((g.N, g.C, g.H, g.W), dcols.dtype)
    kernel(cp.ascontiguousarray(dcols), g.N, g.C, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw,
           g.OH, g.OW, dx)
    return dx


def _to_nchw(prod: Any, N: int, F: int, OH: int, OW: int, bias: Any = None) -> Any:
    """prod: (F, N*OH*OW) -> a new contiguous (N, F, OH, OW), plus bias: (F,) if given."""
    xp = backend.array_module(prod)
    src = prod.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)
    out = xp.empty((N, F, OH, OW), prod.dtype)
    if bias is None:
        out[...] = src
    else:
        xp.add(src, bias.reshape(1, F, 1, 1), out=out)
    return out


def forward(ctx: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any) -> Any:
    """Conv2d.forward for device arrays: x (N, C, H, W), w (F, C, KH, KW), b (F,) or None."""
    g = conv_geometry(x.shape, w.shape, None if b is None else b.shape, stride, padding)
    dtype = np.result_type(x.dtype, w.dtype) if b is None else np.result_type(x.dtype, w.dtype, b.dtype)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    bias = None if b is None else b.astype(dtype, copy=False)
    xpad = padded(x, g.ph, g.pw)
    cols = im2col(xpad, g.KH, g.KW, g.sh, g.sw, g.OH, g.OW)
    out = _to_nchw(w.reshape(g.F, -1) @ cols, g.N, g.F, g.OH, g.OW, bias)
    ctx.save_for_backward(xpad, w)
    ctx.geom = g
    return out


def _dx_by_conv(g: ConvGeometry, dout: Any, w: Any) -> Any:
    """Stride 1, ph <= KH-1, pw <= KW-1: dx = dout zero-padded by (KH-1-ph, KW-1-pw),
    convolved with w flipped in space and transposed to (C, F, KH, KW)."""
    dpad = padded(dout, g.KH - 1 - g.ph, g.KW - 1 - g.pw)
    cols = im2col(dpad, g.KH, g.KW, 1, 1, g.H, g.W)  # (F*KH*KW, N*H*W)
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(g.C, -1)  # a small copy
    return _to_nchw(w_flip @ cols, g.N, g.C, g.H, g.W)


def backward(ctx: Any, dout: Any) -> tuple:
    """Conv2d.backward for device arrays: dout (N, F, OH, OW) -> (dx, dw, db, None, None)."""
    xp = backend.array_module(dout)
    xpad, w = ctx.saved_tensors
    g = ctx.geom
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dout = dout.astype(w.dtype, copy=False)
    d2 = xp.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(g.F, -1)  # (F, N*P)
    db = d2.sum(axis=1) if need_b else None
    dw = (d2 @ im2col(xpad, g.KH, g.KW, g.sh, g.sw, g.OH, g.OW).T).reshape(w.shape) if need_w else None
    dx = None
    if need_x:
        if g.sh == g.sw == 1 and g.ph <= g.KH - 1 and g.pw <= g.KW - 1:
            dx = _dx_by_conv(g, dout, w)
        else:
            dx = col2im(w.reshape(g.F, -1).T @ d2, g)
    return dx, dw, db, None, None
