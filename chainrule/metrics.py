"""Evaluating a classifier: its class scores on a batch of examples, and accuracy.

    scores = cr.metrics.predict_scores(model, X_prepared)   # (N, K), eval mode, no graph
    cr.metrics.accuracy(scores, y)                           # fraction of argmax == y
    cr.metrics.accuracy(scores, y, topk=(1, 5))              # (top-1, top-5)

The Solver, `chainrule evaluate` and `chainrule train` all evaluate through these two, so a
model scores the same wherever it is evaluated (same dtype, same batching, same modes).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import backend
from .autograd import no_grad
from .nn.module import Module, kept_modes, module_device
from .tensor import Tensor

__all__ = ["accuracy", "predict_scores"]


def param_dtype(model: Module) -> np.dtype:
    """The dtype of the model's first parameter (float32 for a model without parameters)."""
    for p in model.parameters():
        return p.data.dtype
    return np.dtype(np.float32)


def predict_scores(model: Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class scores (N, K) of already-preprocessed X: (N, ...), `batch_size` examples at a time.

    X is cast to the model's parameter dtype and each batch moved to the model's device; the
    scores come back as a host NumPy array. The model runs in eval mode under no_grad and
    every module's train/eval flag is restored afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"predict_scores: batch_size must be at least 1, got {batch_size}")
    X = backend.to_host(X.data if isinstance(X, Tensor) else X)
    X = np.asarray(X).astype(param_dtype(model), copy=False)
    dev = module_device(model)
    with kept_modes(model), no_grad():
        model.eval()
        out = [backend.to_host(model(Tensor(X[i:i + batch_size]).to(dev)).data)
               for i in range(0, X.shape[0], batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), X.dtype)


def accuracy(scores_or_labels: np.ndarray, y: np.ndarray,
             topk: int | Sequence[int] | None = None) -> float | tuple[float, ...]:
    """Fraction of examples classified as y: `scores_or_labels` is (N, K) scores (argmax taken)
    or (N,) predicted labels; y: (N,) int labels. NaN for no examples.

    topk: an int k, or a sequence such as (1, 5) (ILSVRC reports top-5): an example counts when
    its label is among the k highest scores; a tuple in, a tuple of fractions out (PyTorch's
    ImageNet example's `accuracy(output, target, topk=(1, 5))`). Ties rank as argmax does (the
    lower class index first), so top-1 equals the plain accuracy.
    """
    pred = np.asarray(backend.to_host(scores_or_labels))
    y = np.asarray(backend.to_host(y))
    if topk is not None:
        return _topk_accuracy(pred, y, topk)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    if pred.shape != y.shape:
        raise ValueError(f"accuracy: predictions of shape {pred.shape} do not match labels of shape {y.shape}")
    if y.shape[0] == 0:
        return float("nan")
    return float(np.mean(pred == y))


def _topk_accuracy(scores: np.ndarray, y: np.ndarray, topk: int | Sequence[int]) -> float | tuple[float, ...]:
    ks = (topk,) if isinstance(topk, (int, np.integer)) else tuple(topk)
    if scores.ndim != 2:
        raise ValueError(f"accuracy(topk=...) needs (N, K) scores, got an array of shape {scores.shape}")
    n, K = scores.shape
    if y.shape != (n,):
        raise ValueError(f"accuracy: scores of shape {scores.shape} do not match labels of shape {y.shape}")
    for k in ks:
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= K:
            raise ValueError(f"accuracy: topk values must be integers from 1 to the number of classes ({K}), got {k!r}")
    if n == 0:
        fractions = tuple(float("nan") for _ in ks)
    else:
        if y.min() < 0 or y.max() >= K:
            raise ValueError(f"accuracy: labels must lie in 0..{K - 1} for {K} class scores")
        true = scores[np.arange(n), y][:, None]
        cols = np.arange(K)[None, :]
        # the label's rank: classes scored higher, and equal ones with a lower index (argmax's order)
        rank = (scores > true).sum(axis=1) + ((scores == true) & (cols < y[:, None])).sum(axis=1)
        fractions = tuple(float(np.mean(rank < k)) for k in ks)
    return fractions[0] if isinstance(topk, (int, np.integer)) else fractions
