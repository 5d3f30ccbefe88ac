"""2-D pooling on NumPy arrays: the CPU implementations `dispatch` picks (pool.py has the Functions).

Every kernel loops over the KH*KW window offsets only: offset (kh, kw) of all
windows at once is the strided view xpad[:, :, kh::sh, kw::sw], so max pooling
is a running np.maximum over KH*KW views (for 2x2/2 a 4-way maximum, far faster
than x.max(axis=(3, 5)) on a reshaped array). Max-pool backward routes each
window's gradient to its first maximum (PyTorch's rule on ties), found by
comparing the views with the output in the same order. g is pool's geometry tuple
(kh, kw, sh, sw, ph, pw, oh, ow); each backward returns dx alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .parallel import blocks as _blocks

__all__ = ["max_forward", "max_backward", "avg_forward", "avg_backward", "adaptive_forward", "adaptive_backward"]

_CHUNK_BYTES = 1 << 19  # max-pool backward works on ~512 KiB of input at a time (L2-sized)


def _pad_for_windows(x: np.ndarray, g: tuple, value: float) -> np.ndarray:
    """x padded so that every window lies inside: `pad` on the top/left and as
    much as the last (ceil_mode) window needs on the bottom/right."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, H, W = x.shape
    Hp, Wp = max(H + ph, (oh - 1) * sh + kh), max(W + pw, (ow - 1) * sw + kw)
    if ph == 0 and pw == 0 and Hp == H and Wp == W:
        return x
    xp = np.full((N, C, Hp, Wp), value, x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _view(a: np.ndarray, i: int, j: int, g: tuple) -> np.ndarray:
    """Offset (i, j) of every window: a (N, C, oh, ow) strided view."""
    kh, kw, sh, sw, ph, pw, oh, ow = g
    return a[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def _offsets(g: tuple):
    return ((i, j) for i in range(g[0]) for j in range(g[1]))


# ---------------------------------------------------------------------- max
def max_forward(ctx: Any, x: np.ndarray, g: tuple) -> np.ndarray:
    """x: (N, C, H, W) -> (N, C, oh, ow); the examples are split between threads (each block
    does all its window offsets)."""
    xp = _pad_for_windows(x, g, -np.inf)  # padding never wins a max
    offs = list(_offsets(g))
    out = np.empty(x.shape[:2] + g[6:], x.dtype)

    def block(i, lo, hi):
        xb, ob = xp[lo:hi], out[lo:hi]
        np.copyto(ob, _view(xb, *offs[0], g))
        for o in offs[1:]:
            np.maximum(ob, _view(xb, *o, g), out=ob)

    _blocks(block, x.shape[0], x.size)
    ctx.save_for_backward(xp, out)
    ctx.geom, ctx.xshape = g, x.shape
    return out


def max_backward(ctx: Any, gout: np.ndarray) -> np.ndarray:
    """gout: (N, C, oh, ow) -> dx: (N, C, H, W), each window's gradient to its first maximum."""
    xp, out = ctx.saved_tensors
    g = ctx.geom
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, H, W = ctx.xshape
    tiled = sh == kh and sw == kw  # windows tile the input: no overlap, no gaps
    dxp = (np.empty if tiled else np.zeros)(xp.shape, gout.dtype)
    offs = list(_offsets(g))

    def chunk(s):  # a few examples: their KH*KW strided passes run from the cache
        xb, ob, gb, db = xp[s], out[s], gout[s], dxp[s]
        if tiled:
            db[:, :, oh * kh:] = 0  # rows/cols no window covers
            db[:, :, :, ow * kw:] = 0
        taken = np.zeros(ob.shape, bool)  # window already routed (first max wins)
        hit = np.empty(ob.shape, bool)
        for n, o in enumerate(offs):
            np.equal(_view(xb, *o, g), ob, out=hit)
            if n:
                np.greater(hit, taken, out=hit)  # hit and not taken
            if n < len(offs) - 1:
                np.logical_or(taken, hit, out=taken)
            d = _view(db, *o, g)
            if not tiled:
                d += gb * hit
            else:  # each input cell is in exactly one window: assign, no add
                np.multiply(gb, hit, out=d)

    step = max(1, _CHUNK_BYTES // max(1, xp[:1].nbytes))

    def block(i, lo, hi):
        for a in range(lo, hi, step):
            chunk(slice(a, min(a + step, hi)))

    _blocks(block, N, xp.size)
    return dxp[:, :, ph:ph + H, pw:pw + W]


# ---------------------------------------------------------------------- avg
def avg_forward(ctx: Any, x: np.ndarray, g: tuple, div: np.ndarray) -> np.ndarray:
    """x: (N, C, H, W) -> (N, C, oh, ow); div: the (oh, ow) window sizes PyTorch divides by."""
    xp = _pad_for_windows(x, g, 0.0)
    offs = list(_offsets(g))
    out = np.array(_view(xp, *offs[0], g), copy=True)
    for o in offs[1:]:
        out += _view(xp, *o, g)
    out /= div
    ctx.geom, ctx.xshape, ctx.pshape, ctx.div = g, x.shape, xp.shape, div
    return out


def avg_backward(ctx: Any, gout: np.ndarray) -> np.ndarray:
    """gout: (N, C, oh, ow) -> dx: (N, C, H, W)."""
    g = ctx.geom
    kh, kw, sh, sw, ph, pw, oh, ow = g
    N, C, H, W = ctx.xshape
    gd = gout / ctx.div
    dxp = np.zeros(ctx.pshape, gd.dtype)
    for o in _offsets(g):
        _view(dxp, *o, g)[...] += gd
    return dxp[:, :, ph:ph + H, pw:pw + W]


# ----------------------------------------------------------------- adaptive
def adaptive_forward(ctx: Any, x: np.ndarray, ph: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """A bin's mean is separable: Ph @ x @ Pw^T with the (OH, H) and (OW, W) bin matrices."""
    ctx.ph, ctx.pw = ph, pw
    return np.matmul(np.matmul(ph, x), pw.T)


def adaptive_backward(ctx: Any, g: np.ndarray) -> np.ndarray:
    """Ph^T @ g @ Pw."""
    return np.matmul(np.matmul(ctx.ph.T, g), ctx.pw)
