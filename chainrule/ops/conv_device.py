"""2-D convolution on device arrays (CuPy): im2col, one GEMM, few kernel launches.

The NumPy paths (conv_wide, conv_im2col) split the batch between threads and
walk it in cache-sized pieces; on a GPU the cost is kernel launches instead,
so this path does each step once for the whole batch:

    cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*sh + kh, ow*sw + kw]     (K, N*P)
    out = W2 @ cols                                                        (F, N*P)

and one more copy transposes (F, N, P) to (N, F, OH, OW), adding the bias.
The innermost axis of cols walks along x's rows, so its copy is coalesced.
Backward (x is kept, its columns are rebuilt rather than kept):

    dout2 = dout as (F, N*P)      dW2 = dout2 @ cols^T      db = dout2 summed
    dx = col2im(W2^T @ dout2), the adjoint of im2col

Two implementations of im2col/col2im: plain xp (what the fake device runs,
and real CuPy with USE_KERNELS = False): zero padding, then one copy of a 6-D
strided view; col2im as KH*KW strided slice adds, or at stride 1 dx as the
convolution of dout with the flipped kernel. On real CuPy each is ONE gather
ElementwiseKernel (one thread per output element, zeros read off the edges),
so forward is 3 launches and backward 6.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from .geometry import ConvGeometry, conv_geometry

__all__ = ["forward", "backward", "im2col", "col2im", "padded"]

USE_KERNELS = True  # real CuPy: im2col/col2im as one ElementwiseKernel each (False: plain xp)


def padded(a: Any, ph: int, pw: int) -> Any:
    """a: (N, C, H, W) zero-padded to (N, C, H + 2*ph, W + 2*pw) (a itself when no padding)."""
    if ph == 0 and pw == 0:
        return a
    xp = backend.array_module(a)
    N, C, H, W = a.shape
    out = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), a.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = a
    return out


def _use_kernels(xp: Any) -> bool:
    return USE_KERNELS and xp.__name__ == "cupy"


def im2col(x: Any, KH: int, KW: int, sh: int, sw: int, ph: int, pw: int, OH: int, OW: int) -> Any:
    """Columns of x: (N, C, H, W) zero-padded by (ph, pw) -> (C*KH*KW, N*OH*OW):
    [(c, kh, kw), (n, oh, ow)] = xpad[n, c, oh*sh + kh, ow*sw + kw]. Plain xp: pad, then
    one copy of a strided view; real CuPy: one gather kernel that reads zeros off the edges."""
    xp = backend.array_module(x)
    N, C, H, W = x.shape
    if _use_kernels(xp):
        cols = xp.empty((C * KH * KW, N * OH * OW), x.dtype)
        _kernel(xp, "im2col", cols.size)(xp.ascontiguousarray(x), N, C, H, W, KH, KW, sh, sw, ph, pw,
                                         OH, OW, cols)
        return cols
    xpad = padded(x, ph, pw)
    s0, s1, s2, s3 = xpad.strides
    view = backend.as_strided(xpad, (C, KH, KW, N, OH, OW), (s1, s2, s3, s0, s2 * sh, s3 * sw))
    return xp.ascontiguousarray(view).reshape(C * KH * KW, N * OH * OW)


def col2im(dcols: Any, g: ConvGeometry) -> Any:
    """Adjoint of im2col, cropped: dcols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W). Plain xp:
    KH*KW strided slice adds into a zero padded buffer; real CuPy: one gather kernel."""
    xp = backend.array_module(dcols)
    if _use_kernels(xp):
        dx = xp.empty((g.N, g.C, g.H, g.W), dcols.dtype)
        _kernel(xp, "col2im", dcols.size)(xp.ascontiguousarray(dcols), g.N, g.C, g.H, g.W, g.KH, g.KW,
                                          g.sh, g.sw, g.ph, g.pw, g.OH, g.OW, dx)
        return dx
    Hp, Wp = g.H + 2 * g.ph, g.W + 2 * g.pw
    d6 = dcols.reshape(g.C, g.KH, g.KW, g.N, g.OH, g.OW)
    dxp = xp.zeros((g.N, g.C, Hp, Wp), dcols.dtype)
    he, we = g.sh * (g.OH - 1) + 1, g.sw * (g.OW - 1) + 1
    for kh in range(g.KH):
        for kw in range(g.KW):
            dxp[:, :, kh:kh + he:g.sh, kw:kw + we:g.sw] += d6[:, kh, kw].transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(dxp[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W])


# ------------------------------------------------------- real CuPy kernels
# One thread per output element; IDX is int when every index fits, else long long.
_PARAMS = "int32 N, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 sh, int32 sw, int32 ph, int32 pw, int32 OH, int32 OW"
_SOURCES = {
    "im2col": ("raw T x, " + _PARAMS, "T cols", """
        const IDX j = i;
        const IDX ow = j % OW;  IDX t = j / OW;
        const IDX oh = t % OH;  t /= OH;
        const IDX n = t % N;    t /= N;
        const IDX kw = t % KW;  t /= KW;
        const IDX kh = t % KH;
        const IDX c = t / KH;
        const IDX h = oh * sh + kh - ph, w = ow * sw + kw - pw;
        cols = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : (T)0;
        """),
    # each dx element gathers its (kh, kw) terms in the order the slice adds use
    "col2im": ("raw T dcols, " + _PARAMS, "T dx", """
        const IDX j = i;
        const IDX w0 = j % W;  IDX t = j / W;
        const IDX h0 = t % H;  t /= H;
        const IDX c = t % C;
        const IDX n = t / C;
        T acc = 0;
        for (IDX kh = 0; kh < KH; ++kh) {
            const IDX hh = h0 + ph - kh;
            if (hh < 0 || hh % sh != 0 || hh / sh >= OH) continue;
            for (IDX kw = 0; kw < KW; ++kw) {
                const IDX ww = w0 + pw - kw;
                if (ww < 0 || ww % sw != 0 || ww / sw >= OW) continue;
                acc += dcols[(((c * KH + kh) * KW + kw) * N + n) * OH * OW + (hh / sh) * OW + ww / sw];
            }
        }
        dx = acc;
        """),
}
_kernels: dict = {}


def _kernel(cp: Any, name: str, largest: int) -> Any:
    """The ElementwiseKernel `name`, 32-bit indices when the largest array allows."""
    idx = "int" if largest < 2 ** 31 - 1 else "long long"
    k = _kernels.get((name, idx))
    if k is None:
        params, out, body = _SOURCES[name]
        k = _kernels[(name, idx)] = cp.ElementwiseKernel(
            params, out, body, f"chainrule_{name}_{idx.replace(' ', '')}", preamble=f"typedef {idx} IDX;")
    return k


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
    cols = im2col(x, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.OH, g.OW)
    out = _to_nchw(w.reshape(g.F, -1) @ cols, g.N, g.F, g.OH, g.OW, bias)
    ctx.save_for_backward(x, w)
    ctx.geom = g
    return out


def _dx_by_conv(g: ConvGeometry, dout: Any, w: Any) -> Any:
    """Stride 1, ph <= KH-1, pw <= KW-1: dx = dout zero-padded by (KH-1-ph, KW-1-pw),
    convolved with w flipped in space and transposed to (C, F, KH, KW)."""
    cols = im2col(dout, g.KH, g.KW, 1, 1, g.KH - 1 - g.ph, g.KW - 1 - g.pw, g.H, g.W)  # (F*KH*KW, N*H*W)
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(g.C, -1)  # a small copy
    return _to_nchw(w_flip @ cols, g.N, g.C, g.H, g.W)


def backward(ctx: Any, dout: Any) -> tuple:
    """Conv2d.backward for device arrays: dout (N, F, OH, OW) -> (dx, dw, db, None, None)."""
    xp = backend.array_module(dout)
    x, w = ctx.saved_tensors
    g = ctx.geom
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dout = dout.astype(w.dtype, copy=False)
    d2 = xp.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(g.F, -1)  # (F, N*P)
    db = dout.sum(axis=(2, 3)).sum(axis=0) if need_b else None  # N*F partial sums: many GPU blocks
    dw = None
    if need_w:
        dw = (d2 @ im2col(x, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.OH, g.OW).T).reshape(w.shape)
    dx = None
    if need_x:  # col2im is one kernel on real CuPy; the plain path avoids its slice adds at stride 1
        if not _use_kernels(xp) and g.sh == g.sw == 1 and g.ph <= g.KH - 1 and g.pw <= g.KW - 1:
            dx = _dx_by_conv(g, dout, w)
        else:
            dx = col2im(w.reshape(g.F, -1).T @ d2, g)
    return dx, dw, db, None, None
