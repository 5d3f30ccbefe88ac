"""The lecture's convolution: plain loops over examples, filters and output pixels.

Kept for teaching and as the reference that every fast path (conv_im2col,
conv_wide) is tested against, without PyTorch.
"""
from __future__ import annotations

import numpy as np

from .geometry import conv_geometry

__all__ = ["conv2d_naive", "conv2d_naive_backward"]


def conv2d_naive(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW) ndarray.

        out[n, f, i, j] = sum(xpad[n, :, i*sh : i*sh + KH, j*sw : j*sw + KW] * w[f]) + b[f]
    """
    x, w = np.asarray(getattr(x, "data", x)), np.asarray(getattr(w, "data", w))
    b = None if b is None else np.asarray(getattr(b, "data", b))
    g = conv_geometry(x.shape, w.shape, None if b is None else b.shape, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)))
    out = np.zeros((g.N, g.F, g.OH, g.OW), np.result_type(x, w))
    for n in range(g.N):
        for f in range(g.F):
            for i in range(g.OH):
                for j in range(g.OW):
                    window = xp[n, :, i * g.sh:i * g.sh + g.KH, j * g.sw:j * g.sw + g.KW]
                    out[n, f, i, j] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out


def conv2d_naive_backward(dout, x, w, stride=1, padding=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain-loop backward of `conv2d_naive`: each output pixel sends its gradient
    back to the window it saw (dx) and to the filter it used (dw).

    dout: (N, F, OH, OW) -> (dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,))."""
    x, w, dout = (np.asarray(getattr(a, "data", a)) for a in (x, w, dout))
    g = conv_geometry(x.shape, w.shape, None, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (g.ph, g.ph), (g.pw, g.pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(g.N):
        for f in range(g.F):
            for i in range(g.OH):
                for j in range(g.OW):
                    hs, ws = i * g.sh, j * g.sw
                    dxp[n, :, hs:hs + g.KH, ws:ws + g.KW] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, hs:hs + g.KH, ws:ws + g.KW] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, g.ph:g.ph + g.H, g.pw:g.pw + g.W], dw, db
