"""Preprocessing and augmentation from short text specs, as the command line writes them.

    pre = preprocess_from_spec("perchannel").fit(data.X_train)      # fitted on train only
    aug = augment_from_spec("flip,crop:4,jitter:0.4", pre(data.X_train))

Preprocessing specs: perchannel | center | mean-image | zca | pca[:K] | none.
Augmentation specs: a comma list of the names in AUGMENTATIONS (or none); each takes
optional arguments after colons, e.g. crop:2, scale:8:10, rcrop:0.5, rotate:10, jitter:0.4:0.4:0.4.
The augmentation acts on preprocessed images (the Solver augments after preprocessing),
so `lighting` is fitted on the preprocessed training images given.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .affine import RandomAffine, RandomRotation
from .augment import ColorJitter, PCALighting, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomScaleCrop
from .base import Compose
from .distortion import ElasticDistortion, RandomLensDistortion
from .preprocess import MeanImage, PCAWhiten, PerChannelNormalize

PREPROCESSORS: dict[str, tuple[Callable[..., Any], str]] = {
    "perchannel": (lambda: PerChannelNormalize(), "subtract the per-channel mean, divide by its std"),
    "center": (lambda: PerChannelNormalize(std=False), "subtract the per-channel mean (VGG)"),
    "mean-image": (lambda: MeanImage(), "subtract the mean image (AlexNet)"),
    "zca": (lambda: PCAWhiten(zca=True), "ZCA whitening (images stay images)"),
    "pca": (lambda k=None: PCAWhiten(n_components=None if k is None else int(k)),
            "pca[:K]: PCA-whitened vectors of K components (for MLPs)"),
    "none": (lambda: None, "raw pixels"),
}


def preprocess_help() -> str:
    """'perchannel | center | ...' for a --preprocess help text."""
    return " | ".join("pca[:K]" if name == "pca" else name for name in PREPROCESSORS)


def preprocess_from_spec(spec: str | None):
    """An unfitted preprocessor for `spec` (see PREPROCESSORS), or None for "none"/None."""
    if spec is None:
        return None
    name, *args = spec.strip().split(":")
    if name not in PREPROCESSORS:
        raise ValueError(f"unknown preprocessing {spec!r}; expected one of {preprocess_help()}")
    try:
        return PREPROCESSORS[name][0](*args)
    except (TypeError, ValueError):
        raise ValueError(f"bad preprocessing {spec!r}; expected one of {preprocess_help()}") from None


def _size(X: np.ndarray) -> tuple[int, int]:
    return int(X.shape[2]), int(X.shape[3])


def _pad(H: int, pad=None) -> int:
    return max(1, H // 8) if pad is None else int(pad)


def _crop(X, pad=None):
    H, W = _size(X)
    return RandomCrop((H, W), padding=_pad(H, pad))


def _scale(X, lo=None, hi=None):
    H, W = _size(X)
    short = min(H, W)
    lo = short if lo is None else int(lo)
    hi = max(lo, round(short * 1.25)) if hi is None else int(hi)
    return RandomScaleCrop(lo, hi, (H, W))


def _affine(X, deg=10, shift=0.1, lo=0.9, hi=1.1):
    return RandomAffine(float(deg), translate=(float(shift), float(shift)), scale=(float(lo), float(hi)))


def _jitter(X, b=0.4, c=None, s=None):
    b = float(b)
    c = b if c is None else float(c)
    s = (b if X.shape[1] == 3 else 0.0) if s is None else float(s)  # saturation needs colour
    return ColorJitter(b, c, s)


def _lighting(X, std=0.1):
    return PCALighting(float(std)).fit(X)


# name -> (builder(X_train, *args), help)
AUGMENTATIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "flip": (lambda X, p=0.5: RandomHorizontalFlip(float(p)), "flip[:P] mirror left-right (P=0.5)"),
    "crop": (_crop, "crop[:PAD] zero-pad, crop back (PAD=H//8)"),
    "scale": (_scale, "scale[:MIN[:MAX]] short side to MIN..MAX, crop (VGG; H..1.25H)"),
    "rcrop": (lambda X, lo=0.08, hi=1.0: RandomResizedCrop(_size(X), scale=(float(lo), float(hi))),
              "rcrop[:MIN[:MAX]] random-resized crop of area MIN..MAX (Inception; 0.08..1)"),
    "rotate": (lambda X, deg=15: RandomRotation(float(deg)), "rotate[:DEG] turn by up to DEG degrees (15)"),
    "affine": (_affine, "affine[:DEG[:SHIFT[:MIN:MAX]]] rotate, shift (fraction), zoom (10, 0.1, 0.9..1.1)"),
    "jitter": (_jitter,
               "jitter[:B[:C[:S]]] colour jitter of brightness, contrast, saturation (0.4)"),
    "lighting": (_lighting, "lighting[:STD] AlexNet's PCA colour lighting (0.1; RGB)"),
    "lens": (lambda X, k=0.3: RandomLensDistortion(float(k)), "lens[:K] radial lens distortion, k in [-K, K] (0.3)"),
    "elastic": (lambda X, a=34, s=4: ElasticDistortion(float(a), float(s)),
                "elastic[:ALPHA[:SIGMA]] Simard's elastic distortion in pixels (34, 4)"),
}


def augment_help() -> str:
    """The augmentation names and their arguments, for a --augment help text."""
    return ", ".join(h for _, h in AUGMENTATIONS.values()) + ", or none"


def augment_from_spec(spec: str | None, X_train: np.ndarray):
    """The augmentation for `spec` ("flip,crop:4", see AUGMENTATIONS) on images like X_train
    (N, C, H, W), already preprocessed; None for "none"/""/None. One transform is returned
    as itself, several as a Compose."""
    if not spec or spec.strip() == "none":
        return None
    if np.ndim(X_train) != 4:
        raise ValueError(f"augmentation {spec!r} needs images (N, C, H, W), got shape {np.shape(X_train)} "
                         "(PCA preprocessing gives vectors: use zca or no augmentation)")
    parts = []
    for item in spec.split(","):
        name, *args = item.strip().split(":")
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r} in {spec!r}; expected {augment_help()}")
        try:
            parts.append(AUGMENTATIONS[name][0](X_train, *args))
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad augmentation {item.strip()!r}: {e}") from None
    return parts[0] if len(parts) == 1 else Compose(parts)


def crop_padding(spec: str | None, image_shape: tuple[int, ...]) -> int:
    """The padding `crop` uses in `spec` for images of image_shape (C, H, W); 0 without crop."""
    for item in (spec or "").split(","):
        name, *args = item.strip().split(":")
        if name == "crop":
            return _pad(int(image_shape[1]), *args)
    return 0
