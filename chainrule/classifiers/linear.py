"""Linear classifiers trained by minibatch SGD (lecture 3; assignment 1's `LinearClassifier`).

Scores are s = x W + b. The bias is folded into W (the "bias trick"): `W_` has
shape (D + 1, C), its LAST ROW is the bias, and samples get a column of ones
appended (`augment`). `b_` returns that row; the bias is never regularised.

    clf = LinearSVM(lr=1e-2, reg=1e-4).fit(X_train, y_train)   # X: (N, ...) any shape
    clf.score(X_test, y_test); clf.loss_history_
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..ops.activation import softmax_array
from ._validation import as_2d, as_labels, check_features
from .regularization import check_reg_type
from .softmax_loss import softmax_loss_naive, softmax_loss_vectorized
from .svm_loss import svm_loss_naive, svm_loss_vectorized

LossFn = Callable[..., tuple[float, np.ndarray]]


def augment(X: np.ndarray) -> np.ndarray:
    """Append a column of ones: (N, D) -> (N, D + 1), so x W_ includes the bias row."""
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


class LinearClassifier(ClassifierMixin, BaseEstimator):
    """Base class: minibatch SGD on `loss`; subclasses choose the loss.

    lr: learning rate, or "auto" (the default): 16 / mean(||x||^2 + 1) over the training rows
    (x with its bias 1), set as `lr_` by fit. A linear model's loss curvature grows with the
    squared norm of its inputs, so this one rule trains well whatever the pixels' scale (digits
    in [0, 1] or standardised, CIFAR in 0..255: the fixed 1e-3 of old scored 0.88 on digits,
    "auto" 0.95-0.96, as `chainrule linear`'s tuned lr 0.5 does). reg: regularisation strength
    (default 1e-4, `chainrule linear`'s). reg_type: "l2", "l1" or "elastic" (see
    `regularization.py`); beta: the L2 weight inside "elastic". num_iters: SGD steps. batch_size: samples per step, drawn WITHOUT replacement:
    each epoch walks through a fresh permutation (the last batch of an epoch may
    be smaller). seed: seeds W's initialisation (0.0001 * randn) and the permutations.
    verbose: print the loss every 100 steps.

    Learned attributes: `classes_` (C,), `W_` (D + 1, C) with the bias as last row, `lr_` (the
    learning rate used), `loss_history_` (num_iters,) minibatch losses, `n_features_in_` (D).
    """

    _loss_fn: LossFn
    _loss_naive_fn: LossFn

    def __init__(self, lr: float | str = "auto", reg: float = 1e-4, reg_type: str = "l2", beta: float = 0.5,
                 num_iters: int = 1500, batch_size: int = 200, seed: int = 0, verbose: bool = False):
        self.lr = lr
        self.reg = reg
        self.reg_type = reg_type
        self.beta = beta
        self.num_iters = num_iters
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose

    # ---------------------------------------------------------------- losses
    def loss(self, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float,
             bias_row: bool = True) -> tuple[float, np.ndarray]:
        """Vectorised loss and gradient with this classifier's reg_type and beta.

        W: (D + 1, C) with the bias as its last row; X: (N, D + 1) whose last column is
        ones (`augment(X)`); y: (N,) class indices. With bias_row=False, W: (D, C),
        X: (N, D) and every row of W is regularised. Returns (loss, dW).
        """
        return type(self)._loss_fn(W, X, y, reg, self.reg_type, self.beta, bias_row)

    def loss_naive(self, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float,
                   bias_row: bool = True) -> tuple[float, np.ndarray]:
        """The same loss computed with explicit loops (for teaching; agrees with `loss`)."""
        return type(self)._loss_naive_fn(W, X, y, reg, self.reg_type, self.beta, bias_row)

    # ------------------------------------------------------------------- fit
    def _check_params(self) -> None:
        name = type(self).__name__
        check_reg_type(self.reg_type, name)
        if isinstance(self.lr, str):
            if self.lr != "auto":
                raise ValueError(f"{name}: expected lr > 0, got {self.lr!r} (or 'auto')")
        elif not self.lr > 0:
            raise ValueError(f"{name}: expected lr > 0, got {self.lr!r} (or 'auto')")
        if not self.reg >= 0:
            raise ValueError(f"{name}: expected reg >= 0, got {self.reg!r}")
        for param in ("num_iters", "batch_size"):
            value = getattr(self, param)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected {param} to be a positive integer, got {value!r}")

    def _batches(self, n: int, rng: np.random.Generator):
        """Endless minibatch indices: consecutive slices of a new permutation per epoch."""
        size = min(self.batch_size, n)
        while True:
            perm = rng.permutation(n)
            for start in range(0, n, size):
                yield perm[start:start + size]

    def fit(self, X, y) -> "LinearClassifier":
        """Train by minibatch SGD. X: (N, ...) samples (flattened to (N, D)); y: (N,) labels."""
        name = type(self).__name__
        self._check_params()
        X = as_2d(X, name)
        y = as_labels(y, X.shape[0], name)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        num_train, dim = X.shape
        rng = np.random.default_rng(self.seed)
        W = 0.0001 * rng.standard_normal((dim + 1, len(self.classes_)))
        self.lr_ = self._learning_rate(X)
        history = np.empty(self.num_iters)
        batches = self._batches(num_train, rng)
        for it in range(self.num_iters):
            idx = next(batches)
            # Augment only the minibatch: the training set itself is never copied.
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
                loss, dW = self.loss(W, augment(X[idx].astype(np.float64)), y_idx[idx], self.reg)
            if not (np.isfinite(loss) and np.all(np.isfinite(dW))):
                raise ValueError(f"{name}: the loss diverged to {loss} at iteration {it}; "
                                 f"expected a smaller learning rate than lr={self.lr_:g}")
            W -= self.lr_ * dW
            history[it] = loss
            if self.verbose and (it % 100 == 0 or it == self.num_iters - 1):
                print(f"iteration {it} / {self.num_iters}: loss {loss:.6f}")
        self.W_ = W
        self.loss_history_ = history
        self.n_features_in_ = dim
        return self

    def _learning_rate(self, X: np.ndarray) -> float:
        """lr, or for "auto" 16 / mean(||x||^2 + 1) (x with its bias feature 1) over X's rows."""
        if not isinstance(self.lr, str):
            return float(self.lr)
        sq = 0.0
        for start in range(0, X.shape[0], 4096):  # in chunks: no float64 copy of a big X
            sq += float(np.sum(np.square(X[start:start + 4096], dtype=np.float64)))
        return 16.0 / (sq / X.shape[0] + 1.0)

    # --------------------------------------------------------------- predict
    @property
    def b_(self) -> np.ndarray:
        """The bias (C,): the last row of `W_`."""
        check_is_fitted(self, "W_")
        return self.W_[-1]

    def decision_function(self, X) -> np.ndarray:
        """Class scores (N, C) = X W + b, columns in the order of `classes_`."""
        check_is_fitted(self, "W_")
        X = as_2d(X, type(self).__name__)
        check_features(X, self.n_features_in_, type(self).__name__)
        return X @ self.W_[:-1] + self.W_[-1]

    def predict(self, X) -> np.ndarray:
        """Labels (N,) of the highest-scoring class."""
        scores = self.decision_function(X)  # checks fitted first
        return self.classes_[np.argmax(scores, axis=1)]


class LinearSVM(LinearClassifier):
    """Multiclass SVM (Weston-Watkins hinge loss, margin delta = 1) trained by SGD."""

    _loss_fn = staticmethod(svm_loss_vectorized)
    _loss_naive_fn = staticmethod(svm_loss_naive)


class Softmax(LinearClassifier):
    """Softmax (multinomial logistic regression) classifier trained by SGD."""

    _loss_fn = staticmethod(softmax_loss_vectorized)
    _loss_naive_fn = staticmethod(softmax_loss_naive)

    def predict_proba(self, X) -> np.ndarray:
        """(N, C) class probabilities softmax(X W + b), columns in the order of `classes_`."""
        return softmax_array(self.decision_function(X), axis=1)
