"""2-D convolution on NumPy arrays: the CPU implementation `dispatch` picks for conv2d.

Stride-1 convolutions take the wide-row path (`conv_wide`), any other stride im2col
(`conv_im2col`); inside the wide-row path the algorithm for each layer geometry (columns, or
one product per kernel offset) is timed on this machine on first use (`tune`). The geometry
(a `ConvGeometry`) is computed and checked once, in forward, and kept on ctx.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import conv_im2col, conv_wide
from .geometry import conv_geometry

__all__ = ["forward", "backward"]


def forward(ctx: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Any, padding: Any) -> np.ndarray:
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW)."""
    g = conv_geometry(np.shape(x), np.shape(w), None if b is None else np.shape(b), stride, padding)
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    bias = None if b is None else b.astype(dtype, copy=False)[:, None]
    ctx.save_for_backward(x, w)
    ctx.geom = g
    path = conv_wide if g.sh == g.sw == 1 else conv_im2col
    return path.forward(g, x, w, bias)


def backward(ctx: Any, dout: np.ndarray) -> tuple:
    """(dx, dw, db, None, None), None where not needed."""
    x, w = ctx.saved_tensors
    g = ctx.geom
    dout = dout.astype(w.dtype, copy=False)
    needs = ctx.needs_input_grad[:3]
    if g.sh == g.sw == 1:
        dx, dw, db = conv_wide.backward(g, dout, x, w, *needs)
    else:
        dx, dw, db = conv_im2col.backward(g, dout, x, w, *needs)
    return dx, dw, db, None, None
