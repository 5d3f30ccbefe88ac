"""2-D pooling on device arrays (CuPy): each window's values side by side, one reduction.

Every window of the padded input is the 6-D strided view
[n, c, oh, ow, kh, kw] = xpad[n, c, oh*sh + kh, ow*sw + kw]; one copy lays it
out as (N, C, OH, OW, KH*KW), so that max pooling is one `max` and one
`argmax` (the first maximum wins, as on the CPU and in PyTorch), and average
pooling is one `sum` of the view. Backward routes the gradient:

- windows that tile the input (kernel == stride, no padding): each input cell
  is in one window, so dx is the (N, C, OH, OW, KH*KW) gradient laid back out
  by one transposing copy (no zeros, no adds);
- otherwise max pooling scatter-adds each window's gradient at its argmax's
  flat position (backend.scatter_add) and average pooling adds KH*KW strided
  slices into a zero padded buffer.

On real CuPy, max pooling is one kernel each way instead (`_SOURCES`): forward
writes the max and the first argmax of each window, backward lets every input
cell gather from the windows whose argmax it is (no scatter, no atomics).

The geometry is pool.py's (`g` = (kh, kw, sh, sw, ph, pw, oh, ow)); `xpad` is
pool.py's `_pad_for_windows` result.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from . import dispatch

USE_KERNELS = True  # real CuPy: max pooling as one ElementwiseKernel each way (False: plain xp)

__all__ = ["padded", "windows", "max_forward", "max_backward", "avg_forward", "avg_backward",
           "adaptive_forward", "adaptive_backward"]


def padded(x: Any, g: tuple, value: float) -> Any:
    """x: (N, C, H, W) padded with `value` so that every window lies inside (pool._pad_for_windows)."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, H, W = x.shape
    Hp, Wp = max(H + ph, (oh - 1) * sh + kh), max(W + pw, (ow - 1) * sw + kw)
    if ph == 0 and pw == 0 and Hp == H and Wp == W:
        return x
    xp = backend.array_module(x)
    out = xp.full((N, C, Hp, Wp), value, x.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = x
    return out


def windows(xpad: Any, g: tuple) -> Any:
    """Every window of xpad: a (N, C, oh, ow, kh, kw) strided view (read only)."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C = xpad.shape[:2]
    s0, s1, s2, s3 = xpad.strides
    return backend.as_strided(xpad, (N, C, oh, ow, kh, kw), (s0, s1, s2 * sh, s3 * sw, s2, s3))


def _tiles(g: tuple, pshape: tuple) -> bool:
    """Whether the windows tile the padded input exactly: no overlap, no gaps, no padding."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    return (kh, kw) == (sh, sw) and ph == pw == 0 and pshape[2:] == (oh * kh, ow * kw)


def _untile(d5: Any, g: tuple) -> Any:
    """d5: (N, C, oh, ow, kh*kw) -> (N, C, oh*kh, ow*kw), each window's values back in place."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C = d5.shape[:2]
    xp = backend.array_module(d5)
    return xp.ascontiguousarray(d5.reshape(N, C, oh, ow, kh, kw).transpose(0, 1, 2, 4, 3, 5)) \
        .reshape(N, C, oh * kh, ow * kw)


def _crop(dxp: Any, g: tuple, xshape: tuple) -> Any:
    """The (N, C, H, W) input's part of a gradient for the padded input."""
    ph, pw = g[4], g[5]
    H, W = xshape[2:]
    if dxp.shape[2:] == (H, W):
        return dxp
    return dxp[:, :, ph:ph + H, pw:pw + W]


# ---------------------------------------------------------------------- max
def max_forward(ctx: Any, x: Any, g: tuple) -> Any:
    """MaxPool2d.forward: x (N, C, H, W) -> (N, C, oh, ow); keeps the argmax for backward."""
    xp = backend.array_module(x)
    kh, kw, sh, sw, ph, pw, oh, ow = g
    ctx.kernels = USE_KERNELS and xp.__name__ == "cupy"
    if ctx.kernels:  # one kernel: max and first argmax of each window
        out, arg = xp.empty(x.shape[:2] + (oh, ow), x.dtype), xp.empty(x.shape[:2] + (oh, ow), np.int32)
        _kernel(xp, "max_fwd", g, x.shape, x.size)(xp.ascontiguousarray(x), out, arg)
        ctx.save_for_backward(arg)
        ctx.geom, ctx.xshape = g, x.shape
        return out
    xpad = padded(x, g, -np.inf)  # padding never wins a max
    win = xp.ascontiguousarray(windows(xpad, g)).reshape(x.shape[:2] + (oh, ow, kh * kw))
    ctx.save_for_backward(win.argmax(axis=-1))
    ctx.geom, ctx.xshape, ctx.pshape = g, x.shape, xpad.shape
    return win.max(axis=-1)


def max_backward(ctx: Any, gout: Any) -> Any:
    """MaxPool2d.backward: gout (N, C, oh, ow) -> dx (N, C, H, W), to each window's first max."""
    xp = backend.array_module(gout)
    (idx,) = ctx.saved_tensors
    if ctx.kernels:  # one kernel: each input cell gathers from the windows whose argmax it is
        dx = xp.empty(ctx.xshape, gout.dtype)
        _kernel(xp, "max_bwd", ctx.geom, ctx.xshape, dx.size)(xp.ascontiguousarray(gout), idx, dx)
        return dx
    g, pshape = ctx.geom, ctx.pshape
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, Hp, Wp = pshape
    if _tiles(g, pshape):
        d5 = (xp.arange(kh * kw) == idx[..., None]) * gout[..., None]
        return _crop(_untile(d5, g), g, ctx.xshape)
    ki = idx // kw
    rows = ki + (xp.arange(oh) * sh)[:, None]  # (N, C, oh, ow) row of each argmax in xpad
    cols = (idx - ki * kw) + xp.arange(ow) * sw
    flat = (xp.arange(N * C).reshape(N, C, 1, 1) * Hp + rows) * Wp + cols
    dxp = xp.zeros(N * C * Hp * Wp, gout.dtype)
    backend.scatter_add(dxp, flat.reshape(-1), xp.ascontiguousarray(gout).reshape(-1))
    return _crop(dxp.reshape(pshape), g, ctx.xshape)


# One thread per output element; every size is a compile-time constant (P_*): one
# kernel per pooling geometry. The window loops skip cells outside x, which is what
# -inf padding does. Backward visits the windows in the order of the CPU's adds.
_SOURCES = {
    "max_fwd": ("raw T x", "T out, int32 arg", """
        const IDX j = i;
        const int ow = j % P_OW;  IDX t = j / P_OW;
        const int oh = t % P_OH;
        const IDX base = (t / P_OH) * (P_H * P_W);  // (n, c)'s plane
        T best = 0;
        int at = -1;
        for (int kh = 0; kh < P_KH; ++kh) {
            const int h = oh * P_SH + kh - P_PH;
            if (h < 0 || h >= P_H) continue;
            for (int kw = 0; kw < P_KW; ++kw) {
                const int w = ow * P_SW + kw - P_PW;
                if (w < 0 || w >= P_W) continue;
                const T v = x[base + h * P_W + w];
                if (at < 0 || (!isnan(best) && (isnan(v) || v > best))) { best = v; at = kh * P_KW + kw; }
            }
        }
        out = best;
        arg = at;
        """),
    "max_bwd": ("raw T g, raw int32 arg", "T dx", """
        const IDX j = i;
        const int w0 = j % P_W;  IDX t = j / P_W;
        const int h0 = t % P_H;
        const IDX plane = (t / P_H) * (P_OH * P_OW);  // (n, c)'s windows
        T acc = 0;
        for (int kh = 0; kh < P_KH; ++kh) {
            const int hh = h0 + P_PH - kh;
            if (hh < 0 || hh % P_SH != 0 || hh / P_SH >= P_OH) continue;
            for (int kw = 0; kw < P_KW; ++kw) {
                const int ww = w0 + P_PW - kw;
                if (ww < 0 || ww % P_SW != 0 || ww / P_SW >= P_OW) continue;
                const IDX o = plane + (hh / P_SH) * P_OW + ww / P_SW;
                if (arg[o] == kh * P_KW + kw) acc += g[o];
            }
        }
        dx = acc;
        """),
}
def pool_defines(g: tuple, xshape: tuple) -> str:
    """The P_* constants of one pooling geometry, as C #defines."""
    names = ("KH", "KW", "SH", "SW", "PH", "PW", "OH", "OW", "H", "W")
    return "".join(f"#define P_{k} {v}\n" for k, v in zip(names, tuple(g) + tuple(xshape[2:])))


def _kernel(cp: Any, name: str, g: tuple, xshape: tuple, largest: int) -> Any:
    """The ElementwiseKernel `name` for geometry g and input (N, C, H, W)."""
    idx = "int" if largest < 2 ** 31 - 1 else "long long"
    key = (name, idx) + tuple(g) + tuple(xshape[2:])
    params, out, body = _SOURCES[name]
    tag = "_".join(str(v) for v in key[2:])
    return dispatch.kernels.get(("pool",) + key, lambda: cp.ElementwiseKernel(
        params, out, body, f"chainrule_{name}_{idx.replace(' ', '')}_{tag}",
        preamble=f"typedef {idx} IDX;\n" + pool_defines(g, xshape)))


# ---------------------------------------------------------------------- avg
def _divisor(xp: Any, div: np.ndarray) -> Any:
    """The host divisor (oh, ow) as a Python float when constant (the usual case: no
    transfer, and x / d equals x / full(d) exactly), else as a device array."""
    d0 = div.flat[0]
    return float(d0) if (div == d0).all() else xp.asarray(div)


def avg_forward(ctx: Any, x: Any, g: tuple, div: np.ndarray) -> Any:
    """AvgPool2d.forward: x (N, C, H, W), div: the host (oh, ow) window sizes -> (N, C, oh, ow)."""
    xp = backend.array_module(x)
    xpad = padded(x, g, 0.0)
    d = _divisor(xp, div)
    ctx.geom, ctx.xshape, ctx.pshape, ctx.div = g, x.shape, xpad.shape, d
    return windows(xpad, g).sum(axis=(4, 5)) / d


def avg_backward(ctx: Any, gout: Any) -> Any:
    """AvgPool2d.backward: gout (N, C, oh, ow) -> dx (N, C, H, W)."""
    xp = backend.array_module(gout)
    g, pshape = ctx.geom, ctx.pshape
    kh, kw, sh, sw, ph, pw, oh, ow = g
    gd = gout / ctx.div
    if _tiles(g, pshape):
        return _crop(_untile(xp.broadcast_to(gd[..., None], gd.shape + (kh * kw,)), g), g, ctx.xshape)
    dxp = xp.zeros(pshape, gd.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += gd
    return _crop(dxp, g, ctx.xshape)


# ----------------------------------------------------------------- adaptive
def adaptive_forward(ctx: Any, x: Any, ph: np.ndarray, pw: np.ndarray) -> Any:
    """AdaptiveAvgPool2d.forward with pool.py's host bin matrices ph: (oh, H), pw: (ow, W).
    Global pooling (1x1) is one mean; other sizes Ph @ x @ Pw^T."""
    xp = backend.array_module(x)
    ctx.xshape = x.shape
    if ph.shape[0] == 1 and pw.shape[0] == 1:
        ctx.global_ = True
        return x.mean(axis=(2, 3), keepdims=True)
    ctx.global_ = False
    ctx.ph, ctx.pw = xp.asarray(ph), xp.asarray(pw)
    return xp.matmul(xp.matmul(ctx.ph, x), ctx.pw.T)


def adaptive_backward(ctx: Any, gout: Any) -> Any:
    """AdaptiveAvgPool2d.backward: gout (N, C, oh, ow) -> dx (N, C, H, W)."""
    xp = backend.array_module(gout)
    if ctx.global_:
        H, W = ctx.xshape[2:]
        return xp.broadcast_to(gout / (H * W), ctx.xshape).copy()
    return xp.matmul(xp.matmul(ctx.ph.T, gout), ctx.pw)
