"""Colour histogram of the hue, exactly as CS231n assignment 1's `color_histogram_hsv`:
the image (values in [xmin, xmax]) goes to HSV as matplotlib's `rgb_to_hsv(im / xmax) * xmax`
computes it, and the hue channel is counted in `nbin` equal bins over [xmin, xmax] (the last
bin closed); normalized=True gives fractions that sum to 1 (the assignment's density times
bin width), False the counts times the bin width (as the assignment returns them).
"""
from __future__ import annotations

import numpy as np


def rgb_to_hue(rgb: np.ndarray) -> np.ndarray:
    """The hue in [0, 1) of RGB values in [0, 1], (..., 3) -> (...), as matplotlib.colors.rgb_to_hsv:
    0 where the pixel is grey; where channels tie for the max, the later channel's formula wins."""
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    vmax = rgb.max(axis=-1)
    delta = np.ptp(rgb, axis=-1)
    pos = delta > 0
    safe = np.where(pos, delta, 1.0)
    h = np.zeros_like(vmax)
    h = np.where(pos & (r == vmax), (g - b) / safe, h)
    h = np.where(pos & (g == vmax), 2.0 + (b - r) / safe, h)
    h = np.where(pos & (b == vmax), 4.0 + (r - g) / safe, h)
    return (h / 6.0) % 1.0


def color_histograms_hsv(images: np.ndarray, nbin: int = 10, xmin: float = 0, xmax: float = 255,
                         normalized: bool = True) -> np.ndarray:
    """Hue histograms of a batch: images (N, H, W, 3) -> (N, nbin) float64 (vectorised)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] < 3:
        raise ValueError("color_histogram_hsv: needs colour images (N, H, W, 3) with 3 channels last, "
                         f"got shape {images.shape}")
    if nbin < 1:
        raise ValueError(f"color_histogram_hsv: nbin must be at least 1, got {nbin}")
    edges = np.linspace(xmin, xmax, nbin + 1)
    hue = (rgb_to_hue(images[..., :3] / xmax) * xmax).reshape(images.shape[0], -1)
    idx = np.searchsorted(edges, hue, side="right") - 1
    idx[hue == edges[-1]] = nbin - 1  # np.histogram's last bin is closed
    inside = (hue >= edges[0]) & (hue <= edges[-1])
    counts = np.zeros((images.shape[0], nbin))
    rows = np.broadcast_to(np.arange(images.shape[0])[:, None], idx.shape)
    np.add.at(counts, (rows[inside], idx[inside]), 1.0)
    if normalized:
        total = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, total, out=np.full_like(counts, np.nan), where=total > 0)
    return counts * np.diff(edges)


def color_histogram_hsv(im: np.ndarray, nbin: int = 10, xmin: float = 0, xmax: float = 255,
                        normalized: bool = True) -> np.ndarray:
    """The hue histogram (nbin,) of one (H, W, 3) image with values in [xmin, xmax] (module docstring)."""
    im = np.asarray(im)
    if im.ndim != 3:
        raise ValueError(f"color_histogram_hsv: expected one image (H, W, 3), got shape {im.shape}")
    return color_histograms_hsv(im[None], nbin, xmin, xmax, normalized)[0]


color_histogram_hsv.batch = color_histograms_hsv
