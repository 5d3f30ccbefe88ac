"""Test-time transforms and averaging predictions over views (CS231n lecture 7).

`TenCrop(size)(x)` returns (10, N, C, h, w): the top-left, top-right,
bottom-left, bottom-right and centre crops, then the same five of the
left-right mirrored images (torchvision's TenCrop order).
`predict_tta` averages a model's class probabilities over such views;
`predict_multiscale` does it at several image scales (VGG / ResNet evaluation).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...ops.activation import softmax_array
from .base import Transform, check_batch, image_size
from .resize import resize, short_side_size


def _centre(x: np.ndarray, size: tuple[int, int], who: str) -> tuple[int, int]:
    """(top, left) of the centred (h, w) window in images x (N, C, H, W); odd margins put the
    extra pixel at the bottom/right."""
    (h, w), (H, W) = size, x.shape[2:]
    if h > H or w > W:
        raise ValueError(f"{who}: crop {size} is larger than the images {(H, W)}")
    return (H - h) // 2, (W - w) // 2


class CenterCrop(Transform):
    """The central (h, w) patch of every image; odd margins leave the extra pixel at the bottom/right."""

    def __init__(self, size):
        self.size = image_size(size, "CenterCrop")

    def __call__(self, x, rng=None):
        x = check_batch(x, "CenterCrop", floating=False)
        h, w = self.size
        t, l = _centre(x, self.size, "CenterCrop")
        return x[:, :, t:t + h, l:l + w].copy()


class Resize(Transform):
    """Bilinear resize: an int resizes the shorter side (aspect kept), (h, w) resizes exactly."""

    def __init__(self, size):
        self.size = size if isinstance(size, (int, np.integer)) else image_size(size, "Resize")

    def __call__(self, x, rng=None):
        x = check_batch(x, "Resize")
        H, W = x.shape[2:]
        hw = short_side_size(H, W, int(self.size)) if isinstance(self.size, (int, np.integer)) else self.size
        return x.copy() if hw == (H, W) else resize(x, hw)


class TenCrop(Transform):
    """Four corner crops + centre crop, and the same of the mirrored images: (10, N, C, h, w)."""

    def __init__(self, size):
        self.size = image_size(size, "TenCrop")

    def __call__(self, x, rng=None):
        x = check_batch(x, "TenCrop", floating=False)
        h, w = self.size
        H, W = x.shape[2:]
        t, l = _centre(x, self.size, "TenCrop")
        five = lambda im: [im[:, :, :h, :w], im[:, :, :h, W - w:], im[:, :, H - h:, :w],  # noqa: E731
                           im[:, :, H - h:, W - w:], im[:, :, t:t + h, l:l + w]]
        return np.stack(five(x) + five(x[:, :, :, ::-1]))


def _probs(predict_fn: Callable, views: np.ndarray, logits: bool) -> np.ndarray:
    out = predict_fn(views)
    out = np.asarray(getattr(out, "data", out), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != views.shape[0]:
        raise ValueError(f"predict_fn must return (N, num_classes) for N={views.shape[0]} images, "
                         f"got shape {out.shape}")
    return softmax_array(out, axis=1) if logits else out


def predict_tta(predict_fn: Callable, X: np.ndarray, crops: Callable | None = None,
                logits: bool = False, batch_size: int | None = None) -> np.ndarray:
    """Class probabilities of X (N, C, H, W) averaged over test-time views.

    predict_fn: (n, C, h, w) -> (n, K) class probabilities (or scores with logits=True,
    softmaxed before averaging). crops: X -> (V, N, C, h, w), e.g. TenCrop(size);
    None uses the single view X itself. batch_size: images per predict_fn call.
    Returns (N, K) float64 probabilities.
    """
    X = check_batch(X, "predict_tta", floating=False)
    views = crops(X) if crops is not None else X[None]
    if views.ndim != 5 or views.shape[1] != X.shape[0]:
        raise ValueError(f"predict_tta: crops must return (V, N, C, h, w), got {views.shape}")
    V, N = views.shape[:2]
    bs = batch_size or N
    total = None
    for v in range(V):
        p = np.concatenate([_probs(predict_fn, views[v, i:i + bs], logits) for i in range(0, N, bs)])
        total = p if total is None else total + p
    return total / V


def predict_multiscale(predict_fn: Callable, X: np.ndarray, scales: Sequence[int],
                       crops: Callable | None = None, logits: bool = False,
                       batch_size: int | None = None) -> np.ndarray:
    """Average class probabilities over scales: resize the short side to each scale, then the views.

    crops: applied at every scale (e.g. TenCrop(224)); None evaluates the whole
    resized image (for fully convolutional models with global pooling).
    """
    X = check_batch(X, "predict_multiscale")
    if not scales:
        raise ValueError("predict_multiscale: give at least one scale")
    total = 0.0
    for s in scales:
        total = total + predict_tta(predict_fn, Resize(int(s))(X), crops, logits, batch_size)
    return total / len(scales)
