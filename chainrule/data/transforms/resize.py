"""Vectorised bilinear crop-and-resize for a batch with a different box per image.

Output pixel (r, c) of image n samples the source at
    y = top[n] + (r + 0.5) * height[n] / out_h - 0.5     (x likewise)
clamped to the image (or, with clamp="box", to the box: "crop, then resize"),
the half-pixel convention of torch's `interpolate(mode="bilinear",
align_corners=False, antialias=False)` and OpenCV's INTER_LINEAR. With a box
equal to the whole image it is a plain resize; a box at an integer offset with
the output's size is an exact crop.
No antialiasing: large downscales alias (fine for augmentation at modest scales).
"""
from __future__ import annotations

import numpy as np


def _coords(start: np.ndarray, length: np.ndarray, out: int, limit: int, box: bool):
    """Per-image sample positions -> (low index, high index, weight of high), each (N, out)."""
    pos = start[:, None] + (np.arange(out) + 0.5)[None, :] * (length[:, None] / out) - 0.5
    if box:  # integer boxes: never blend in pixels outside the crop
        lo_lim = np.maximum(start, 0.0)[:, None]
        hi_lim = np.minimum(start + length - 1, limit - 1)[:, None]
    else:
        lo_lim, hi_lim = 0.0, np.full((len(start), 1), limit - 1.0)
    pos = np.clip(pos, lo_lim, hi_lim)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, hi_lim.astype(np.intp))
    return lo, hi, pos - lo


def crop_resize(x: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                clamp: str = "image") -> np.ndarray:
    """x: (N, C, H, W) float; boxes: (N, 4) float (top, left, height, width) -> (N, C, h, w).

    clamp: "image" samples as if the whole image were resized then cropped;
    "box" as if the (integer) box were cropped then resized.
    """
    if clamp not in ("image", "box"):
        raise ValueError(f"crop_resize: clamp must be 'image' or 'box', got {clamp!r}")
    N, C, H, W = x.shape
    h, w = size
    boxes = np.asarray(boxes, dtype=np.float64).reshape(N, 4)
    y0, y1, wy = _coords(boxes[:, 0], boxes[:, 2], h, H, clamp == "box")
    x0, x1, wx = _coords(boxes[:, 1], boxes[:, 3], w, W, clamp == "box")
    # separable: interpolate along H (gathering whole rows), then along W; fancy indexing
    # on a leading axis is much faster than take_along_axis with a broadcast index
    n = np.arange(N)[:, None]
    xr = x.transpose(0, 2, 1, 3)                                  # (N, H, C, W)
    wy_ = wy[:, :, None, None].astype(x.dtype)                    # float32 stays float32
    t = xr[n, y0] * (1 - wy_) + xr[n, y1] * wy_                   # (N, h, C, W)
    tc = t.transpose(0, 3, 1, 2)                                  # (N, W, h, C)
    wx_ = wx[:, :, None, None].astype(x.dtype)
    out = tc[n, x0] * (1 - wx_) + tc[n, x1] * wx_                 # (N, w, h, C)
    return np.ascontiguousarray(out.transpose(0, 3, 2, 1))        # (N, C, h, w)


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
