"""Vectorised bilinear crop-and-resize for a batch with a different box per image.

Output pixel (r, c) of image n samples the source at
    y = top[n] + (r + 0.5) * height[n] / out_h - 0.5     (x likewise)
clamped to the image, the half-pixel convention of torch's
`interpolate(mode="bilinear", align_corners=False, antialias=False)` and
OpenCV's INTER_LINEAR. With a box equal to the whole image it is a plain resize;
a box at an integer offset with the output's size is an exact crop.
No antialiasing: large downscales alias (fine for augmentation at modest scales).
"""
from __future__ import annotations

import numpy as np


def _coords(start: np.ndarray, length: np.ndarray, out: int, limit: int):
    """Per-image sample positions -> (low index, high index, weight of high), each (N, out)."""
    pos = start[:, None] + (np.arange(out) + 0.5)[None, :] * (length[:, None] / out) - 0.5
    pos = np.clip(pos, 0.0, limit - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, limit - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def crop_resize(x: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """x: (N, C, H, W) float; boxes: (N, 4) float (top, left, height, width) -> (N, C, h, w)."""
    N, C, H, W = x.shape
    h, w = size
    boxes = np.asarray(boxes, dtype=np.float64).reshape(N, 4)
    y0, y1, wy = _coords(boxes[:, 0], boxes[:, 2], h, H)
    x0, x1, wx = _coords(boxes[:, 1], boxes[:, 3], w, W)
    n = np.arange(N)[:, None, None]
    # gather rows then columns; fancy indices (N,h,1)/(N,1,w) put (N,h,w) first, channels last
    def at(rows, cols):
        return x[n, :, rows[:, :, None], cols[:, None, :]]  # (N, h, w, C)
    wy_, wx_ = wy[:, :, None, None], wx[:, None, :, None]
    top = at(y0, x0) * (1 - wx_) + at(y0, x1) * wx_
    bottom = at(y1, x0) * (1 - wx_) + at(y1, x1) * wx_
    out = top * (1 - wy_) + bottom * wy_
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)


def resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of every image of x (N, C, H, W) to size (h, w)."""
    N, _, H, W = x.shape
    boxes = np.tile(np.array([0.0, 0.0, H, W]), (N, 1))
    return crop_resize(x, boxes, size)


def short_side_size(H: int, W: int, short: int) -> tuple[int, int]:
    """(h, w) with the shorter side equal to `short`, aspect ratio kept (rounded)."""
    if H <= W:
        return short, max(1, int(round(W * short / H)))
    return max(1, int(round(H * short / W))), short
