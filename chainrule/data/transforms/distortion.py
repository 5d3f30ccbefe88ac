"""Lens and elastic distortions: two of the "random mix" of transformations the lecture lists
(lecture 7, data augmentation: "... lens distortions, ...").

Both move every output pixel p to a source position q(p) and read the image there, bilinearly,
from the image extended by `fill` (scipy.ndimage's map_coordinates, order 1, "grid-constant" mode,
as RandomAffine's border):

- lens (radial, Brown-Conrady's first term): with c the image centre and r the distance of p from
  c divided by the half-diagonal, q = c + (p - c) (1 + k r^2). k > 0 pulls the corners' content
  inward (barrel), k < 0 pushes it out (pincushion); each image draws k uniformly in [-K, K].
- elastic (Simard, Steinkraus and Platt 2003, used on MNIST): each image draws a displacement
  field of uniform(-1, 1) values per pixel and axis, smoothed by a Gaussian of std `sigma` pixels
  and scaled by `alpha` pixels; q = p + (dx, dy). Simard's MNIST values: alpha 34, sigma 4.

Specs for `--augment`: lens[:K] (0.3) and elastic[:ALPHA[:SIGMA]] (34, 4).
"""
from __future__ import annotations

import numpy as np

from .augment import RandomAugmentation


def remap(x: np.ndarray, qx: np.ndarray, qy: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """x: (N, C, H, W); qx, qy: (N, H, W) source columns / rows of each output pixel -> (N, C, H, W),
    bilinear, the image extended by `fill`."""
    from scipy.ndimage import map_coordinates

    out = np.empty_like(x)
    for n in range(x.shape[0]):
        coords = np.stack([qy[n], qx[n]])
        for c in range(x.shape[1]):
            out[n, c] = map_coordinates(x[n, c], coords, order=1, mode="grid-constant", cval=fill)
    return out


class RandomLensDistortion(RandomAugmentation):
    """Radial lens distortion with a coefficient k drawn per image from [-k_max, k_max] (module docstring)."""

    def __init__(self, k: float = 0.3, fill: float = 0.0):
        if not 0.0 <= k < 1.0:
            raise ValueError(f"RandomLensDistortion: k must be in [0, 1), got {k}")
        self.k, self.fill = float(k), float(fill)

    def get_params(self, shape, rng):
        return {"k": rng.uniform(-self.k, self.k, shape[0])}

    def apply(self, x, params):
        N, _, H, W = x.shape
        cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
        py, px = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")
        r2 = (px ** 2 + py ** 2) / max(cx ** 2 + cy ** 2, 1e-12)
        gain = 1.0 + params["k"][:, None, None] * r2[None]           # (N, H, W)
        return remap(x, cx + px[None] * gain, cy + py[None] * gain, self.fill)


class ElasticDistortion(RandomAugmentation):
    """Simard's elastic distortion: a smooth random displacement field per image (module docstring)."""

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, fill: float = 0.0):
        if alpha < 0 or sigma <= 0:
            raise ValueError(f"ElasticDistortion: expected alpha >= 0 and sigma > 0, got alpha={alpha}, sigma={sigma}")
        self.alpha, self.sigma, self.fill = float(alpha), float(sigma), float(fill)

    def get_params(self, shape, rng):
        from scipy.ndimage import gaussian_filter

        N, _, H, W = shape
        field = rng.uniform(-1.0, 1.0, (N, 2, H, W))
        # smooth each image's field in space only (sigma 0 along the image and axis dimensions)
        return {"d": gaussian_filter(field, sigma=(0, 0, self.sigma, self.sigma), mode="constant") * self.alpha}

    def apply(self, x, params):
        N, _, H, W = x.shape
        py, px = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
        d = params["d"]
        return remap(x, px[None] + d[:, 0], py[None] + d[:, 1], self.fill)
