"""Multiclass SVM (hinge) loss, lecture 3:

    L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + delta),   s = x_i W
    L   = (1/N) sum_i L_i + R(W)

Each violated margin pushes s_j up the gradient (+x_i into column j) and the
correct score down (-x_i into column y_i, once per violating class).
"""
from __future__ import annotations

import numpy as np

from .regularization import regularization


def svm_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, reg_type: str = "l2",
                   beta: float = 0.5, bias_row: bool = False,
                   delta: float = 1.0) -> tuple[float, np.ndarray]:
    """Hinge loss with explicit loops (for reading, not speed).

    W: (D, C) weights; X: (N, D) samples; y: (N,) class indices in [0, C); reg: strength.
    Returns (loss, dW) with dW: (D, C).
    """
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W, dtype=np.float64)
    for i in range(num_train):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + delta
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    R, dR = regularization(W, reg, reg_type, beta, bias_row)
    return loss + R, dW + dR


def svm_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, reg_type: str = "l2",
                        beta: float = 0.5, bias_row: bool = False,
                        delta: float = 1.0) -> tuple[float, np.ndarray]:
    """Hinge loss without loops; same arguments and results as `svm_loss_naive`."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W                                              # (N, C)
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + delta)
    margins[rows, y] = 0.0                                      # the correct class is not a margin
    loss = margins.sum() / num_train
    # dL/ds: 1 for each violated margin, minus their count at the correct class.
    dscores = (margins > 0).astype(np.float64)
    dscores[rows, y] = -dscores.sum(axis=1)
    dW = X.T @ dscores / num_train
    R, dR = regularization(W, reg, reg_type, beta, bias_row)
    return float(loss) + R, dW + dR
