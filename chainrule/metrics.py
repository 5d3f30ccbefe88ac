"""Evaluating a classifier: class scores in batches, and accuracy.

    scores = predict_scores(model, X, batch_size=256)   # (N, K), eval mode, no graph
    acc = accuracy(scores, y)                           # fraction of argmax == y

X here is what the model eats (already preprocessed); the Solver and the
commands prepare raw images first.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import no_grad
from .nn.module import Module
from .tensor import Tensor

__all__ = ["predict_scores", "accuracy"]


def _param_dtype(model: Module) -> np.dtype:
    for p in model.parameters():
        return p.data.dtype
    return np.dtype(np.float32)


def predict_scores(model: Module, X: Any, batch_size: int = 256) -> np.ndarray:
    """Class scores (N, K) of X (N, ...) in eval mode, without a graph, `batch_size` at a time.

    X is cast to the model's parameter dtype (float32 by default); each module's
    training flag is restored afterwards.
    """
    if not isinstance(model, Module):
        raise TypeError(f"predict_scores: model must be a cr.nn.Module, got {type(model).__name__}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"predict_scores: batch_size must be a positive int, got {batch_size!r}")
    X = np.asarray(X.data if isinstance(X, Tensor) else X)
    dtype = _param_dtype(model)
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            out = [np.asarray(model(Tensor(X[i:i + batch_size].astype(dtype, copy=False))).data)
                   for i in range(0, X.shape[0], batch_size)]
    finally:
        for m, mode in flags:
            m.__dict__["training"] = mode
    return np.concatenate(out) if out else np.zeros((0, 0), dtype)


def accuracy(scores_or_labels: Any, y: Any) -> float:
    """Fraction of examples classified right: scores (N, K) (argmax taken) or labels (N,)
    against y (N,); NaN when N == 0."""
    pred = np.asarray(scores_or_labels)
    y = np.asarray(y)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    if pred.ndim != 1 or y.shape != pred.shape:
        raise ValueError(f"accuracy: expected scores (N, K) or labels (N,) and y (N,), "
                         f"got {np.shape(scores_or_labels)} and {y.shape}")
    return float(np.mean(pred == y)) if y.size else float("nan")
