"""`extract_features`: several per-image feature functions applied to a batch and concatenated
(assignment 1's), and `feature_splits`: a dataset's splits as HOG / colour-histogram features,
standardised with the training split's mean and std, as the assignment's features notebook does."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from .color import color_histogram_hsv
from .hog import hog_feature

FEATURES = {"hog": hog_feature, "hsv": color_histogram_hsv}


def extract_features(images: np.ndarray, feature_fns: Sequence[Callable[[np.ndarray], np.ndarray]],
                     verbose: bool = False) -> np.ndarray:
    """images (N, H, W, C) -> (N, F_1 + ... + F_k) float64: each function maps one (H, W, C) image
    to a 1-D vector; the vectors are concatenated per image. A function with a `.batch` attribute
    (hog_feature, color_histogram_hsv, and their functools.partial) is run on the whole batch at once."""
    images = np.asarray(images)
    if images.ndim < 3:
        raise ValueError(f"extract_features: expected a batch of images (N, H, W[, C]), got shape {images.shape}")
    if not feature_fns:
        raise ValueError("extract_features: give at least one feature function")
    blocks = []
    for fn in feature_fns:
        batch = _batch_form(fn)
        if batch is not None:
            block = batch(images)
        else:
            rows = []
            for i, img in enumerate(images):
                f = np.asarray(fn(img.squeeze()))
                if f.ndim != 1:
                    raise ValueError(f"extract_features: feature functions must return 1-D vectors, "
                                     f"{getattr(fn, '__name__', fn)} gave shape {f.shape}")
                rows.append(f)
                if verbose and i % 1000 == 999:
                    print(f"Done extracting features for {i + 1} / {len(images)} images")
            block = np.stack(rows) if rows else np.zeros((0, 0))
        blocks.append(np.asarray(block, dtype=np.float64).reshape(len(images), -1))
    return np.hstack(blocks)


def _batch_form(fn: Callable) -> Callable | None:
    if isinstance(fn, partial):
        inner = getattr(fn.func, "batch", None)
        return partial(inner, *fn.args, **fn.keywords) if inner is not None else None
    return getattr(fn, "batch", None)


def feature_functions(names: str | Sequence[str], value_range: Sequence[float] = (0, 255)) -> list[Callable]:
    """"hog,hsv" -> [hog_feature, color_histogram_hsv with xmin/xmax = value_range]."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    fns = []
    for name in names:
        if name not in FEATURES:
            raise ValueError(f"unknown feature {name!r}; expected a comma-separated list of {sorted(FEATURES)}")
        fn = FEATURES[name]
        if name == "hsv":
            fn = partial(fn, xmin=value_range[0], xmax=value_range[1])
        fns.append(fn)
    if not fns:
        raise ValueError("no features named; expected e.g. hog,hsv")
    return fns


def feature_splits(data: Any, names: str | Sequence[str]) -> dict[str, np.ndarray]:
    """X_train/X_val/X_test of `data` (a cr.data.Splits of (N, C, H, W) images) as features, each
    column standardised by the training split's mean and std (the std floored at 1e-12, so a
    constant feature becomes 0), and the labels y_*. The hsv histogram needs 3 channels."""
    fns = feature_functions(names, data.info.get("value_range") or (0, 255))
    if any(getattr(f, "func", f) is color_histogram_hsv for f in fns) and data.X_train.shape[1] != 3:
        raise ValueError(f"the hsv feature needs colour images (3 channels); "
                         f"{data.info.get('name', 'this dataset')} has {data.X_train.shape[1]}")
    out = {}
    for part in ("train", "val", "test"):
        X = np.asarray(data["X_" + part])
        out["X_" + part] = extract_features(X.transpose(0, 2, 3, 1), fns)  # (N, C, H, W) -> (N, H, W, C)
        out["y_" + part] = np.asarray(data["y_" + part])
    mean = out["X_train"].mean(axis=0)
    std = np.maximum(out["X_train"].std(axis=0), 1e-12)
    for part in ("train", "val", "test"):
        out["X_" + part] = ((out["X_" + part] - mean) / std).astype(np.float32)
    return out
