"""Random rotations, translations, scalings and shears ("get creative" augmentation).

Each image n gets a forward map about its centre, in pixel coordinates (x right, y down):

    dst = A_n @ (src - c) + c + t_n,    A = R(angle) * scale * SHy(shear_y) * SHx(shear_x)

with R(a) = [[cos a, sin a], [-sin a, cos a]] (a positive angle turns the image
counter-clockwise on screen, as torchvision's `rotate`), SHx(s) = [[1, -tan s], [0, 1]],
SHy(s) = [[1, 0], [-tan s, 1]] (torchvision's shears), c = ((W-1)/2, (H-1)/2) and t
a whole number of pixels. Each output pixel is read back through the inverse map and
interpolated bilinearly from the image extended by `fill` (scipy.ndimage's
"grid-constant" mode), so pixels near the border blend with the fill value.

Differences from torchvision: its RandomAffine turns *clockwise* for positive angles
(its `affine` and `rotate` disagree; here both turn counter-clockwise; ranges
symmetric about 0 make it moot), and at the border it blends with fill through a
sampled mask, which also darkens border pixels when fill is 0.
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from .augment import RandomAugmentation


def affine_matrices(angle: Any, scale: Any = 1.0, shear: Any = (0.0, 0.0)) -> np.ndarray:
    """The forward 2x2 maps A (see the module docstring). angle: (N,) degrees; scale: (N,);
    shear: (N, 2) degrees (x, y) -> (N, 2, 2), acting on (x, y) column vectors."""
    a = np.radians(np.atleast_1d(np.asarray(angle, np.float64)))
    n = a.shape[0]
    s = np.broadcast_to(np.asarray(scale, np.float64), (n,))
    sh = np.radians(np.broadcast_to(np.asarray(shear, np.float64), (n, 2)))
    cos, sin = np.cos(a), np.sin(a)
    R = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    one, zero = np.ones(n), np.zeros(n)
    shx = np.stack([np.stack([one, -np.tan(sh[:, 0])], -1), np.stack([zero, one], -1)], -2)
    shy = np.stack([np.stack([one, zero], -1), np.stack([-np.tan(sh[:, 1]), one], -1)], -2)
    return R @ shy @ shx * s[:, None, None]


def warp_affine(x: np.ndarray, A: np.ndarray, translate: Any = 0.0, fill: float = 0.0) -> np.ndarray:
    """x: (N, C, H, W) float; A: (N, 2, 2) forward maps about the centre; translate: (N, 2) pixels
    (x, y) -> (N, C, H, W), bilinear, outside the image = fill."""
    N, C, H, W = x.shape
    t = np.broadcast_to(np.asarray(translate, np.float64), (N, 2))
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    inv = np.linalg.inv(A)                                              # (N, 2, 2)
    qy, qx = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")
    q = np.stack([qx.ravel(), qy.ravel()])                              # (2, H*W) output, centred
    p = inv @ (q[None] - t[:, :, None]) + np.array([[cx], [cy]])        # (N, 2, H*W) source pixels
    # snap coordinates within 1e-9 of a pixel: a 90-degree turn (cos = 6e-17) is then exact
    p = np.where(np.abs(p - np.round(p)) < 1e-9, np.round(p), p)
    # index into the image padded by one pixel of fill; anything further out is fill too
    u = np.clip(p[:, 0] + 1, 0, W + 1).reshape(N, H, W)
    v = np.clip(p[:, 1] + 1, 0, H + 1).reshape(N, H, W)
    u0 = np.minimum(np.floor(u).astype(np.intp), W)
    v0 = np.minimum(np.floor(v).astype(np.intp), H)
    wu = (u - u0).astype(x.dtype)[..., None]
    wv = (v - v0).astype(x.dtype)[..., None]
    # gather rows of the padded images as (pixels, C): one flat index is cheaper than three
    flat = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill).transpose(0, 2, 3, 1)
    flat = np.ascontiguousarray(flat).reshape(-1, C)
    i = (np.arange(N)[:, None, None] * (H + 2) + v0) * (W + 2) + u0    # (N, H, W) top-left corner
    top = flat[i] * (1 - wu) + flat[i + 1] * wu                         # (N, H, W, C)
    bottom = flat[i + W + 2] * (1 - wu) + flat[i + W + 3] * wu
    out = top * (1 - wv) + bottom * wv
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)


def _range(v: Any, name: str, who: str, center: float = 0.0) -> tuple[float, float]:
    """A number d -> (center - d, center + d); a pair (lo, hi) as is."""
    if isinstance(v, numbers.Number):
        if v < 0:
            raise ValueError(f"{who}: if {name} is a single number, it must be non-negative, got {v}")
        return center - float(v), center + float(v)
    v = tuple(float(a) for a in v)
    if len(v) != 2 or v[0] > v[1]:
        raise ValueError(f"{who}: {name} must be a number or a pair (min, max) with min <= max, got {v!r}")
    return v


class RandomAffine(RandomAugmentation):
    """A random affine map per image (torchvision's parameters):

    degrees: d (angle in [-d, d]) or (min, max); positive turns counter-clockwise.
    translate: (a, b): horizontal shift in [-a W, a W], vertical in [-b H, b H], rounded
        to whole pixels (as torchvision). None: no shift.
    scale: (min, max) zoom factor. None: 1.
    shear: s (x-shear in [-s, s] degrees), (min, max) for x, or (xmin, xmax, ymin, ymax). None: 0.
    fill: the value of pixels that come from outside the image.
    """

    def __init__(self, degrees: Any, translate: Sequence[float] | None = None,
                 scale: Sequence[float] | None = None, shear: Any = None, fill: float = 0.0):
        who = type(self).__name__
        self.degrees = _range(degrees, "degrees", who)
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"{who}: translate must be a pair of fractions in [0, 1], got {translate!r}")
        self.translate = translate
        if scale is not None:
            scale = tuple(float(s) for s in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(f"{who}: scale must be a pair (min, max) with 0 < min <= max, got {scale!r}")
        self.scale = scale
        if shear is not None:
            if isinstance(shear, numbers.Number) or len(shear) == 2:
                shear = _range(shear, "shear", who) + (0.0, 0.0)
            else:
                shear = tuple(float(s) for s in shear)
                if len(shear) != 4 or shear[0] > shear[1] or shear[2] > shear[3]:
                    raise ValueError(f"{who}: shear must be a number, a pair or 4 values "
                                     f"(xmin, xmax, ymin, ymax), got {shear!r}")
        self.shear = shear
        self.fill = float(fill)

    def get_params(self, shape, rng):
        N, _, H, W = shape
        p = {"angle": rng.uniform(*self.degrees, N)}
        if self.translate is not None:
            d = rng.uniform(-1.0, 1.0, (N, 2)) * np.array([self.translate[0] * W, self.translate[1] * H])
            p["translate"] = np.round(d).astype(np.int64)
        if self.scale is not None:
            p["scale"] = rng.uniform(*self.scale, N)
        if self.shear is not None:
            p["shear"] = np.stack([rng.uniform(*self.shear[:2], N), rng.uniform(*self.shear[2:], N)], 1)
        return p

    def apply(self, x, params):
        A = affine_matrices(params["angle"], params.get("scale", 1.0), params.get("shear", (0.0, 0.0)))
        return warp_affine(x, A, params.get("translate", 0.0), self.fill)


class RandomRotation(RandomAffine):
    """Turn each image by a random angle in [-degrees, degrees] (or (min, max)) about its
    centre; positive is counter-clockwise, as torchvision's RandomRotation."""

    def __init__(self, degrees: Any, fill: float = 0.0):
        super().__init__(degrees, fill=fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees!r}, fill={self.fill!r})"
