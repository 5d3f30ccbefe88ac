"""Softmax (cross-entropy) loss, lecture 3:

    p = softmax(x_i W),   L_i = -log p_{y_i}
    L = (1/N) sum_i L_i + R(W),   dL/ds = p - onehot(y)

Scores are shifted by their row maximum before exp: the probabilities are
unchanged and exp cannot overflow.
"""
from __future__ import annotations

import numpy as np

from .regularization import regularization


def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, reg_type: str = "l2",
                       beta: float = 0.5, bias_row: bool = False) -> tuple[float, np.ndarray]:
    """Cross-entropy loss with explicit loops (for reading, not speed).

    W: (D, C) weights; X: (N, D) samples; y: (N,) class indices in [0, C); reg: strength.
    Returns (loss, dW) with dW: (D, C).
    """
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W, dtype=np.float64)
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)
        exp_scores = np.exp(scores)
        total = np.sum(exp_scores)
        loss += np.log(total) - scores[y[i]]   # -log(exp(s_y) / sum exp(s))
        for j in range(num_classes):
            p = exp_scores[j] / total
            dW[:, j] += (p - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    R, dR = regularization(W, reg, reg_type, beta, bias_row)
    return float(loss) + R, dW + dR


def softmax_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float,
                            reg_type: str = "l2", beta: float = 0.5,
                            bias_row: bool = False) -> tuple[float, np.ndarray]:
    """Cross-entropy loss without loops; same arguments and results as `softmax_loss_naive`."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / num_train
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    dW = X.T @ dscores / num_train
    R, dR = regularization(W, reg, reg_type, beta, bias_row)
    return float(loss) + R, dW + dR
