"""scikit-learn's 8x8 handwritten digits: the built-in dataset, no download needed.

1797 grey images of the digits 0-9 (UCI optdigits test set), 8x8 pixels with
values 0..16. Returned as float32 in [0, 1] (value / 16), shape (N, 1, 8, 8).
"""
from __future__ import annotations

import numpy as np

from .splits import Splits, make_splits, stratified_split


def load_digits(val_size: int | float | None = 360, test_size: int | float = 360,
                subsample: int | None = None, seed: int = 0) -> Splits:
    """The 8x8 digits split into train/val/test (defaults: 1077 / 360 / 360: a validation set
    as large as the test set, so that picking an epoch or a setting on it is not a coin toss).

    Images are float32 in [0, 1], shape (N, 1, 8, 8); labels int64 0..9.
    The test set is taken first (stratified, from `seed`), then the validation
    set from what is left; `subsample` caps the training set.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    X = (bunch.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, test_size, seed=seed, what="test_size")
    info = dict(name="digits", source="sklearn.datasets.load_digits (UCI optdigits, 8x8, values 0..16)",
                image_shape=(1, 8, 8), dtype="float32", value_range=(0.0, 1.0),
                test_size=test_size)
    return make_splits(X[train], y[train], X[test], y[test],
                       classes=[str(d) for d in range(10)], info=info,
                       val_size=val_size, subsample=subsample, seed=seed)
