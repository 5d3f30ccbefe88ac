"""Input checks shared by the classifiers: every error names what was expected and what was got."""
from __future__ import annotations

import numpy as np


def as_2d(X, name: str, what: str = "X") -> np.ndarray:
    """Flatten any (N, ...) array to (N, D), keeping a floating dtype (float32 stays float32).

    Raises ValueError for fewer than 2 dimensions, no samples, a non-numeric dtype or NaN/inf.
    """
    X = np.asarray(getattr(X, "data", X))  # accept chainrule Tensors too
    if X.ndim < 2:
        raise ValueError(f"{name}: expected {what} of shape (N, ...) with at least 2 dimensions "
                         f"(one sample per row), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample in {what}, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected numeric features in {what}, got dtype {X.dtype}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    X = X.reshape(X.shape[0], -1)
    if not np.all(np.isfinite(X)):
        bad = int(np.size(X) - np.count_nonzero(np.isfinite(X)))
        raise ValueError(f"{name}: expected finite features in {what}, got {bad} NaN or infinite "
                         f"value(s)")
    return X


def as_labels(y, n: int, name: str) -> np.ndarray:
    """Check labels y: shape (n,), integer (or other discrete) values matching X's length."""
    y = np.asarray(getattr(y, "data", y))
    if y.ndim != 1:
        raise ValueError(f"{name}: expected y of shape (N,), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name}: X and y have different lengths: X has {n} samples, "
                         f"y has {y.shape[0]} labels")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{name}: expected integer class labels in y, got non-integer floats")
    return y


def check_features(X: np.ndarray, n_features: int, name: str) -> None:
    if X.shape[1] != n_features:
        raise ValueError(f"{name}: X has {X.shape[1]} features per sample but the model was fit "
                         f"with {n_features}")
