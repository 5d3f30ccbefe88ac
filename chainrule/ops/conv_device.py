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

import functools
from typing import Any

import numpy as np

from .. import backend
from . import dispatch
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
        g = ConvGeometry(N, C, H, W, 0, KH, KW, sh, sw, ph, pw, OH, OW)
        _kernel(xp, "im2col", g, max(cols.size, x.size))(xp.ascontiguousarray(x), N, cols)
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
        _kernel(xp, "col2im", g._replace(F=0), max(dcols.size, dx.size))(xp.ascontiguousarray(dcols), g.N, dx)
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
# One thread per output element. Every size but the batch N is a compile-time
# constant (G_*), so index splitting is multiply-shift and the window loops unroll;
# one kernel per layer geometry, compiled on first use (CuPy caches it on disk).
# IDX is int when every index fits, else long long.
_SOURCES = {
    "im2col": ("raw T x, int32 N", "T cols", """
        const IDX j = i;
        const IDX ow = j % G_OW;  IDX t = j / G_OW;
        const IDX oh = t % G_OH;  t /= G_OH;
        const IDX k = t / N;
        const IDX n = t - k * N;
        const int kw = k % G_KW, kh = (k / G_KW) % G_KH, c = k / (G_KW * G_KH);
        const IDX h = oh * G_SH + kh - G_PH, w = ow * G_SW + kw - G_PW;
        cols = (h >= 0 && h < G_H && w >= 0 && w < G_W) ? x[((n * G_C + c) * G_H + h) * G_W + w] : (T)0;
        """),
    # each dx element gathers its (kh, kw) terms in the order the slice adds use
    "col2im": ("raw T dcols, int32 N", "T dx", """
        const IDX j = i;
        const int w0 = j % G_W;  IDX t = j / G_W;
        const int h0 = t % G_H;  t /= G_H;
        const int c = t % G_C;
        const IDX n = t / G_C;
        T acc = 0;
        for (int kh = 0; kh < G_KH; ++kh) {
            const int hh = h0 + G_PH - kh;
            if (hh < 0 || hh % G_SH != 0 || hh / G_SH >= G_OH) continue;
            for (int kw = 0; kw < G_KW; ++kw) {
                const int ww = w0 + G_PW - kw;
                if (ww < 0 || ww % G_SW != 0 || ww / G_SW >= G_OW) continue;
                acc += dcols[(((IDX)(c * G_KH + kh) * G_KW + kw) * N + n) * (G_OH * G_OW) + (hh / G_SH) * G_OW + ww / G_SW];
            }
        }
        dx = acc;
        """),
}
def geometry_defines(g: ConvGeometry) -> str:
    """The G_* constants of one geometry (all but N), as C #defines."""
    names = ("C", "H", "W", "KH", "KW", "SH", "SW", "PH", "PW", "OH", "OW")
    values = (g.C, g.H, g.W, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.OH, g.OW)
    return "".join(f"#define G_{k} {v}\n" for k, v in zip(names, values))


def _kernel(cp: Any, name: str, g: ConvGeometry, largest: int) -> Any:
    """The ElementwiseKernel `name` for geometry g, 32-bit indices when the largest array allows."""
    idx = "int" if largest < 2 ** 31 - 1 else "long long"
    params, out, body = _SOURCES[name]
    tag = "_".join(str(v) for v in g[1:])
    return dispatch.kernels.get(("conv2d", name, idx) + g[1:], lambda: cp.ElementwiseKernel(
        params, out, body, f"chainrule_{name}_{idx.replace(' ', '')}_{tag}",
        preamble=f"typedef {idx} IDX;\n" + geometry_defines(g)))


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


def _geometry(x_shape: tuple, w_shape: tuple, b_shape: tuple | None, stride: Any, padding: Any) -> ConvGeometry:
    """conv_geometry, remembered: a layer asks for the same one at every step (Python time counts here)."""
    try:
        return _cached_geometry(x_shape, w_shape, b_shape, stride, padding)
    except TypeError:  # a list stride or padding: not hashable
        return conv_geometry(x_shape, w_shape, b_shape, stride, padding)


_cached_geometry = functools.lru_cache(maxsize=512)(conv_geometry)


def forward(ctx: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any) -> Any:
    """Conv2d.forward for device arrays: x (N, C, H, W), w (F, C, KH, KW), b (F,) or None."""
    g = _geometry(x.shape, w.shape, None if b is None else b.shape, stride, padding)
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
