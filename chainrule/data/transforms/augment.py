"""Data augmentation on whole batches, with a random choice per image.

Each class draws its per-image parameters in `get_params(shape, rng)` and applies
them in `apply(x, params)`; `__call__(x, rng)` does both. Tests (and curious
readers) can draw the parameters with a seeded generator and check the result
against a direct computation. Inputs: float (N, C, H, W) batches (convert uint8
with ToFloat first); outputs keep the dtype.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Transform, check_batch, get_rng, image_size
from .resize import crop_resize, short_side_size


class RandomAugmentation(Transform):
    def get_params(self, shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x, rng=None):
        x = check_batch(x, type(self).__name__)
        return self.apply(x, self.get_params(x.shape, get_rng(rng)))


class RandomHorizontalFlip(RandomAugmentation):
    """Mirror each image left-right with probability p."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def get_params(self, shape, rng):
        return {"flip": rng.random(shape[0]) < self.p}

    def apply(self, x, params):
        out = x.copy()
        f = params["flip"]
        out[f] = x[f, :, :, ::-1]
        return out


class RandomCrop(RandomAugmentation):
    """Zero-pad by `padding` on every side, then crop `size` at a random offset per image."""

    def __init__(self, size, padding: int = 0, fill: float = 0.0):
        self.size = image_size(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding, self.fill = int(padding), float(fill)

    def get_params(self, shape, rng):
        N, _, H, W = shape
        h, w = self.size
        Hp, Wp = H + 2 * self.padding, W + 2 * self.padding
        if h > Hp or w > Wp:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image {(Hp, Wp)}")
        return {"top": rng.integers(0, Hp - h + 1, N), "left": rng.integers(0, Wp - w + 1, N)}

    def apply(self, x, params):
        p = self.padding
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        h, w = self.size
        # windows[n, c, i, j] is the (h, w) patch at offset (i, j); pick one per image
        windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(2, 3))
        n = np.arange(x.shape[0])
        return np.ascontiguousarray(windows[n, :, params["top"], params["left"]])


class RandomScaleCrop(RandomAugmentation):
    """ResNet/VGG scale augmentation: resize the short side to L ~ U{min_size..max_size}, crop `crop`.

    Implemented as one bilinear crop-and-resize from the original image (the same
    sampling positions as resizing the whole image and then slicing).
    """

    def __init__(self, min_size: int, max_size: int, crop):
        if not 1 <= min_size <= max_size:
            raise ValueError(f"RandomScaleCrop: need 1 <= min_size <= max_size, got {min_size}, {max_size}")
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.crop = image_size(crop, "RandomScaleCrop")
        if min(self.crop) > self.min_size:
            raise ValueError(f"RandomScaleCrop: crop {self.crop} is larger than min_size {min_size}")

    def get_params(self, shape, rng):
        N, _, H, W = shape
        L = rng.integers(self.min_size, self.max_size + 1, N)
        sizes = np.array([short_side_size(H, W, int(s)) for s in L])   # resized (h, w) per image
        h, w = self.crop
        if np.any(sizes[:, 0] < h) or np.any(sizes[:, 1] < w):
            raise ValueError(f"RandomScaleCrop: crop {self.crop} does not fit the resized images")
        top = rng.integers(0, sizes[:, 0] - h + 1)
        left = rng.integers(0, sizes[:, 1] - w + 1)
        return {"L": L, "resized": sizes, "top": top, "left": left}

    def apply(self, x, params):
        N, _, H, W = x.shape
        sy = params["resized"][:, 0] / H
        sx = params["resized"][:, 1] / W
        h, w = self.crop
        boxes = np.stack([params["top"] / sy, params["left"] / sx, h / sy, w / sx], axis=1)
        return crop_resize(x, boxes, self.crop)


class RandomResizedCrop(RandomAugmentation):
    """Inception-style crop: a random area fraction in `scale` and aspect ratio in `ratio`, resized to `size`.

    Same sampling as torchvision (10 tries per image, then a centre crop of the
    closest allowed ratio), vectorised over the batch.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size = image_size(size, "RandomResizedCrop")
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: bad scale {scale} or ratio {ratio}")
        self.scale, self.ratio = tuple(map(float, scale)), tuple(map(float, ratio))

    def get_params(self, shape, rng):
        N, _, H, W = shape
        area = H * W
        tries = 10
        target = area * rng.uniform(self.scale[0], self.scale[1], (N, tries))
        logr = rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (N, tries))
        ar = np.exp(logr)
        w = np.round(np.sqrt(target * ar)).astype(np.int64)
        h = np.round(np.sqrt(target / ar)).astype(np.int64)
        ok = (w > 0) & (h > 0) & (w <= W) & (h <= H)
        first = np.argmax(ok, axis=1)
        found = ok[np.arange(N), first]
        hh, ww = h[np.arange(N), first], w[np.arange(N), first]
        # fallback: whole image, cropped to the nearest allowed aspect ratio
        in_ratio = W / H
        if in_ratio < self.ratio[0]:
            fw, fh = W, int(round(W / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fh, fw = H, int(round(H * self.ratio[1]))
        else:
            fw, fh = W, H
        hh, ww = np.where(found, hh, fh), np.where(found, ww, fw)
        top = np.where(found, rng.integers(0, H - hh + 1), (H - hh) // 2)
        left = np.where(found, rng.integers(0, W - ww + 1), (W - ww) // 2)
        return {"top": top, "left": left, "height": hh, "width": ww}

    def apply(self, x, params):
        boxes = np.stack([params["top"], params["left"], params["height"], params["width"]], 1)
        return crop_resize(x, boxes.astype(np.float64), self.size, clamp="box")


_GREY = np.array([0.299, 0.587, 0.114], np.float32)   # ITU-R 601 luma, as torchvision


def _grey(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, 1, H, W) luma (the channel itself for C = 1)."""
    if x.shape[1] == 1:
        return x
    g = _GREY.astype(x.dtype)
    return g[0] * x[:, 0:1] + g[1] * x[:, 1:2] + g[2] * x[:, 2:3]


class ColorJitter(RandomAugmentation):
    """Random brightness, contrast and saturation factors per image (torchvision semantics).

    Each factor is drawn uniformly from [max(0, 1 - v), 1 + v] and applied in the
    fixed order brightness (x * f), contrast (blend with the image's mean grey
    level), saturation (blend with the grey image; needs 3 channels).
    clip: (low, high) to clamp the result to, e.g. (0, 1) for images in [0, 1]
    as torchvision does; None (default) leaves values unclamped.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 clip: tuple[float, float] | None = None):
        for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if v < 0:
                raise ValueError(f"ColorJitter: {name} must be >= 0, got {v}")
        self.brightness, self.contrast, self.saturation = float(brightness), float(contrast), float(saturation)
        self.clip = None if clip is None else (float(clip[0]), float(clip[1]))

    def get_params(self, shape, rng):
        N = shape[0]
        draw = lambda v: rng.uniform(max(0.0, 1 - v), 1 + v, N).astype(np.float32)  # noqa: E731
        return {"brightness": draw(self.brightness), "contrast": draw(self.contrast),
                "saturation": draw(self.saturation)}

    def apply(self, x, params):
        f = lambda k: params[k].astype(x.dtype)[:, None, None, None]  # noqa: E731
        out = x * f("brightness")
        if self.clip:
            out = np.clip(out, *self.clip)
        if self.contrast:
            m = _grey(out).mean(axis=(1, 2, 3), keepdims=True)
            out = out * f("contrast") + m * (1 - f("contrast"))
            if self.clip:
                out = np.clip(out, *self.clip)
        if self.saturation:
            if x.shape[1] != 3:
                raise ValueError(f"ColorJitter: saturation needs RGB (3 channels), got {x.shape[1]}")
            out = out * f("saturation") + _grey(out) * (1 - f("saturation"))
            if self.clip:
                out = np.clip(out, *self.clip)
        return out.astype(x.dtype, copy=False)


class PCALighting(RandomAugmentation):
    """AlexNet's colour augmentation: add sum_i alpha_i * lambda_i * p_i to every pixel.

    p_i, lambda_i: eigenvectors / eigenvalues of the 3x3 covariance of RGB pixel
    values over the training set (`fit(X_train)`, or give them directly);
    alpha_i ~ N(0, alphastd), drawn per image.
    """

    def __init__(self, alphastd: float = 0.1, eigval=None, eigvec=None):
        self.alphastd = float(alphastd)
        self.eigval = None if eigval is None else np.asarray(eigval, np.float32)
        self.eigvec = None if eigvec is None else np.asarray(eigvec, np.float32)  # columns p_i

    def fit(self, X) -> "PCALighting":
        X = check_batch(X, "PCALighting.fit", floating=False, channels=3)
        pix = X.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)
        evals, evecs = np.linalg.eigh(np.cov(pix))
        order = np.argsort(evals)[::-1]
        self.eigval = np.maximum(evals[order], 0).astype(np.float32)
        self.eigvec = evecs[:, order].astype(np.float32)
        return self

    def state_dict(self):
        self._fitted()
        return {"eigval": self.eigval, "eigvec": self.eigvec}

    def load_state_dict(self, state):
        self.eigval, self.eigvec = np.asarray(state["eigval"]), np.asarray(state["eigvec"])

    def to_config(self):
        return {"class": "PCALighting", "alphastd": self.alphastd}

    def _fitted(self):
        if self.eigval is None or self.eigvec is None:
            raise RuntimeError("PCALighting is not fitted: call fit(X_train) or pass eigval/eigvec")

    def get_params(self, shape, rng):
        return {"alpha": rng.normal(0.0, self.alphastd, (shape[0], 3)).astype(np.float32)}

    def offsets(self, params) -> np.ndarray:
        """(N, 3): the RGB value added to every pixel of each image."""
        self._fitted()
        return (params["alpha"] * self.eigval) @ self.eigvec.T

    def apply(self, x, params):
        if x.shape[1] != 3:
            raise ValueError(f"PCALighting: expected RGB images (N, 3, H, W), got {x.shape}")
        return (x + self.offsets(params).astype(x.dtype)[:, :, None, None]).astype(x.dtype, copy=False)
