"""Histogram of oriented gradients, exactly as CS231n assignment 1's `hog_feature` computes it
(a simplified Dalal-Triggs HOG: 9 unsigned-orientation bins, 8x8 cells, no block normalisation).

For an (H, W, 3) image (or an (H, W) grey one):
  grey      = 0.299 R + 0.587 G + 0.114 B   (`GREY_WEIGHTS`; see ASSIGNMENT_GREY_WEIGHTS below)
  gx, gy    = forward differences along columns / rows, zero in the last column / row
  magnitude = sqrt(gx^2 + gy^2)
  angle     = degrees(arctan2(gy, gx + 1e-15)) + 90, in (-90, 270]; a pixel counts only when its
              angle lies in (0, 180) (not folded: the others are dropped, as in the assignment)
  bin i     = [20 i, 20 (i + 1)), i = 0..8
  cell value = the mean over the cell's 8x8 pixels of the magnitudes binned there
  vector    = cells ordered column-cell first, then row-cell, then bin: 4 * 4 * 9 = 144 for 32x32.
Cells cover the top-left floor(H / 8) x floor(W / 8) cells; leftover rows/columns are ignored.

The assignment's own `rgb2gray` weights blue 0.144, a slip for BT.601's 0.114; pass
`grey_weights=ASSIGNMENT_GREY_WEIGHTS` to reproduce its numbers to the last bit.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ORIENTATIONS = 9
CELL = 8
GREY_WEIGHTS = (0.299, 0.587, 0.114)
ASSIGNMENT_GREY_WEIGHTS = (0.299, 0.587, 0.144)


def _grey(images: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """(N, H, W, 3) -> (N, H, W) float64; grey images (N, H, W) or (N, H, W, 1) pass through as float64
    (the assignment squeezes each image first)."""
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim == 4:
        if images.shape[-1] < 3:
            raise ValueError(f"hog_feature: a colour image needs 3 channels last (H, W, 3), got {images.shape[1:]}")
        return images[..., :3].astype(np.float64) @ np.asarray(weights, dtype=np.float64)
    return images.astype(np.float64)


def hog_features(images: np.ndarray, grey_weights: Sequence[float] = GREY_WEIGHTS) -> np.ndarray:
    """HOG of a batch: images (N, H, W, 3) or (N, H, W) with H, W >= 8 -> (N, nc * nr * 9) float64,
    each row `hog_feature` of one image (vectorised over the batch)."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"hog_features: expected images (N, H, W) or (N, H, W, 3), got shape {images.shape}")
    g = _grey(images, grey_weights)
    n, H, W = g.shape
    nr, nc = H // CELL, W // CELL
    if nr == 0 or nc == 0:
        raise ValueError(f"hog_feature: the image ({H}x{W}) is smaller than one {CELL}x{CELL} cell")
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    gx[:, :, :-1] = np.diff(g, axis=2)
    gy[:, :-1, :] = np.diff(g, axis=1)
    mag = np.sqrt(gx ** 2 + gy ** 2)
    ori = np.arctan2(gy, gx + 1e-15) * (180 / np.pi) + 90
    # bin by comparisons with the exact edges 0, 20, ..., 180 (a division could round across one)
    edges = np.arange(ORIENTATIONS + 1) * (180 / ORIENTATIONS)
    b = np.searchsorted(edges, ori, side="right") - 1
    counted = (ori > 0) & (ori < 180)
    crop = (slice(None), slice(0, nr * CELL), slice(0, nc * CELL))
    mag, b, counted = mag[crop], b[crop], counted[crop]
    out = np.zeros((n, nr, nc, ORIENTATIONS))
    for i in range(ORIENTATIONS):
        m = np.where(counted & (b == i), mag, 0.0)
        out[..., i] = m.reshape(n, nr, CELL, nc, CELL).mean(axis=(2, 4))
    return out.transpose(0, 2, 1, 3).reshape(n, -1)  # column-cell, row-cell, bin


def hog_feature(img: np.ndarray, grey_weights: Sequence[float] = GREY_WEIGHTS) -> np.ndarray:
    """HOG of one image (H, W, 3) or (H, W) -> (floor(W/8) * floor(H/8) * 9,) float64 (module docstring)."""
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"hog_feature: expected one image (H, W) or (H, W, 3), got shape {img.shape}")
    return hog_features(img[None], grey_weights)[0]


hog_feature.batch = hog_features  # extract_features uses the vectorised form
