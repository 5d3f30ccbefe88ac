"""What every transform shares: batch checks, the rng convention, Compose, ToFloat.

A transform maps a whole batch x: (N, C, H, W) to a batch. Random transforms take
`rng=` (a numpy Generator) when called; the DataLoader passes its own per-batch
generator, so augmentation is reproducible from the loader's seed. Called
without one, they draw from chainrule's shared generator (`cr.manual_seed`).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ...ops.geometry import pair
from ...rng import get_generator
from ..loader import accepts_rng


def get_rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        return get_generator()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def check_batch(x: Any, who: str, floating: bool = True, channels: int | None = None) -> np.ndarray:
    """x as an ndarray of shape (N, C, H, W), float if `floating`, else a clear ValueError/TypeError."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(getattr(x, "data", x))
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a batch of images (N, C, H, W), got shape {x.shape}")
    if floating and x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a float batch, got dtype {x.dtype} "
                        "(convert uint8 images first, e.g. with ToFloat())")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{who}: expected {channels} channels, got {x.shape[1]} (shape {x.shape})")
    return x


def image_size(size, who: str) -> tuple[int, int]:
    """An int or (height, width) as a pair of positive ints; a ValueError naming `who` otherwise."""
    h, w = pair(size, "size", who)
    if h < 1 or w < 1:
        raise ValueError(f"{who}: size must be a positive int or (height, width), got {size!r}")
    return h, w


def call(transform: Callable, x: np.ndarray, rng: np.random.Generator | None):
    """Call a transform, passing rng only to those that take one (plain functions may not)."""
    if isinstance(transform, Transform):
        return transform(x, rng=rng)
    return transform(x, rng=rng) if accepts_rng(transform) else transform(x)


class Transform:
    """Base class: `__call__(x, rng=None)` on a batch (N, C, H, W)."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_") and not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, all drawing from the same rng."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        rng = get_rng(rng)
        for t in self.transforms:
            x = call(t, x, rng)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat(Transform):
    """uint8 images -> float32 times `scale` (default 1/255: values in [0, 1])."""

    def __init__(self, scale: float = 1.0 / 255.0):
        self.scale = float(scale)

    def __call__(self, x, rng=None):
        x = check_batch(x, "ToFloat", floating=False)
        return x.astype(np.float32) * np.float32(self.scale)
