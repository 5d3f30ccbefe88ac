"""k-nearest-neighbour classifier (lecture 2; assignment 1's `KNearestNeighbor`).

`fit` only memorises the training set; `predict` finds each test image's k
closest training images (L2 or L1 distance on the flattened pixels) and takes
a majority vote. Distances are computed three ways for teaching (two loops,
one loop, none) and they agree; the vectorised one works on chunks of test
rows so a 10,000 x 50,000 problem never holds the whole 4 GB distance matrix.

Ties are broken so results equal scikit-learn's brute-force search:
equally distant training points are taken in training order (a stable sort),
and a tied vote goes to the smallest label.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import as_2d, as_labels, check_features

_METRICS = ("l2", "l1")
_L1_BLOCK_MB = 2.0  # working-set cap of one L1 block (see _distance_chunks)


class KNearestNeighbor(ClassifierMixin, BaseEstimator):
    """k-NN classifier with L2 ("l2") or L1 ("l1") distance.

    k: number of neighbours that vote.
    metric: "l2" (Euclidean) or "l1" (Manhattan).
    memory_mb: working-memory budget for one chunk of the vectorised distance
        computation (test rows, and for L1 also training rows, are split to fit).

    Learned attributes (after `fit`): `classes_` (sorted labels, (C,)),
    `X_train_` ((N, D) float64, the memorised images), `y_train_` ((N,) indices
    into `classes_`), `n_features_in_`.
    """

    def __init__(self, k: int = 1, metric: str = "l2", memory_mb: float = 128.0):
        self.k = k
        self.metric = metric
        self.memory_mb = memory_mb

    # ------------------------------------------------------------------ fit
    def fit(self, X, y) -> "KNearestNeighbor":
        """Memorise the training data. X: (N, ...) any shape per sample; y: (N,) labels."""
        name = type(self).__name__
        if not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise ValueError(f"{name}: expected k to be a positive integer, got {self.k!r}")
        if self.metric not in _METRICS:
            raise ValueError(f"{name}: expected metric in {_METRICS}, got {self.metric!r}")
        if not self.memory_mb > 0:
            raise ValueError(f"{name}: expected memory_mb > 0, got {self.memory_mb!r}")
        X = as_2d(X, name)
        y = as_labels(y, X.shape[0], name)
        if self.k > X.shape[0]:
            raise ValueError(f"{name}: k={self.k} is larger than the training set "
                             f"({X.shape[0]} samples); expected k <= {X.shape[0]}")
        self.classes_, self.y_train_ = np.unique(y, return_inverse=True)
        # float64 so the |a|^2 - 2ab + |b|^2 expansion does not lose the small distances.
        self.X_train_ = X.astype(np.float64)
        self.n_features_in_ = X.shape[1]
        return self

    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self, "X_train_")
        X = as_2d(X, type(self).__name__)
        check_features(X, self.n_features_in_, type(self).__name__)
        return X.astype(np.float64, copy=False)

    # ------------------------------------------------------------ distances
    def compute_distances(self, X, num_loops: int = 0) -> np.ndarray:
        """Distances between every test sample and every training sample.

        X: (M, ...) test samples. Returns dists: (M, N), dists[i, j] = d(X[i], X_train_[j]).
        num_loops: 2 (loop over test and training samples), 1 (loop over test
        samples) or 0 (fully vectorised, in memory-bounded chunks). They agree.
        """
        X = self._check_X(X)
        if num_loops == 2:
            return self._distances_two_loops(X)
        if num_loops == 1:
            return self._distances_one_loop(X)
        if num_loops == 0:
            return np.concatenate([d for _, d in self._distance_chunks(X)], axis=0)
        raise ValueError(f"{type(self).__name__}: expected num_loops in (0, 1, 2), got {num_loops!r}")

    def _distances_two_loops(self, X: np.ndarray) -> np.ndarray:
        dists = np.zeros((X.shape[0], self.X_train_.shape[0]))
        for i in range(X.shape[0]):
            for j in range(self.X_train_.shape[0]):
                diff = X[i] - self.X_train_[j]
                if self.metric == "l2":
                    dists[i, j] = np.sqrt(np.sum(diff * diff))
                else:
                    dists[i, j] = np.sum(np.abs(diff))
        return dists

    def _distances_one_loop(self, X: np.ndarray) -> np.ndarray:
        dists = np.zeros((X.shape[0], self.X_train_.shape[0]))
        for i in range(X.shape[0]):
            diff = self.X_train_ - X[i]  # broadcast one test row against all training rows
            if self.metric == "l2":
                dists[i] = np.sqrt(np.sum(diff * diff, axis=1))
            else:
                dists[i] = np.sum(np.abs(diff), axis=1)
        return dists

    def _chunk_rows(self, bytes_per_row: int) -> int:
        return max(1, int(self.memory_mb * 2**20) // max(1, bytes_per_row))

    def _distance_chunks(self, X: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield (rows, dists[rows]) over chunks of test rows, each within `memory_mb`."""
        n_train, dim = self.X_train_.shape
        if self.metric == "l2":
            # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one matrix product per chunk.
            train_sq = np.sum(self.X_train_ ** 2, axis=1)
            rows = self._chunk_rows(3 * 8 * n_train)  # the chunk plus two temporaries
            for start in range(0, X.shape[0], rows):
                A = X[start:start + rows]
                d2 = np.sum(A ** 2, axis=1)[:, None] - 2.0 * (A @ self.X_train_.T) + train_sq[None, :]
                # Rounding can make the expansion slightly negative for (near-)equal images.
                yield slice(start, start + len(A)), np.sqrt(np.maximum(d2, 0.0))
        else:
            # |a - b|_1 has no matrix-product form: broadcast (rows, cols, D) blocks, kept
            # small (<= 2 MB) because the reduction over D is memory-bound: blocks that
            # stay in cache run several times faster than one big block.
            budget = min(self.memory_mb, _L1_BLOCK_MB) * 2**20
            rows = int(min(X.shape[0], max(1, budget // (8 * n_train * dim))))
            cols = int(min(n_train, max(1, budget // (8 * rows * dim))))
            for start in range(0, X.shape[0], rows):
                A = X[start:start + rows]
                out = np.empty((len(A), n_train))
                for c0 in range(0, n_train, cols):
                    B = self.X_train_[c0:c0 + cols]
                    out[:, c0:c0 + cols] = np.abs(A[:, None, :] - B[None, :, :]).sum(axis=2)
                yield slice(start, start + len(A)), out

    # ------------------------------------------------------------ neighbours
    @staticmethod
    def _k_smallest(dists: np.ndarray, k: int) -> np.ndarray:
        """Indices of the k smallest entries of each row, ordered by (distance, index).

        Equal to np.argsort(dists, kind="stable")[:, :k] but without sorting whole rows:
        keep every entry <= the row's k-th smallest value (ties included), then sort
        only those candidates by (row, distance, training index).
        """
        if k >= dists.shape[1]:
            return np.argsort(dists, axis=1, kind="stable")[:, :k]
        kth = np.partition(dists, k - 1, axis=1)[:, k - 1:k]
        rows, cols = np.nonzero(dists <= kth)
        order = np.lexsort((cols, dists[rows, cols], rows))
        cols = cols[order]
        counts = np.bincount(rows, minlength=dists.shape[0])
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return cols[starts[:, None] + np.arange(k)[None, :]]

    def kneighbors(self, X, num_loops: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training samples of each test sample.

        Returns (dist, ind), both (M, k), nearest first (equal distances in training order).
        """
        X = self._check_X(X)
        if num_loops == 0:
            chunks = self._distance_chunks(X)
        else:
            chunks = [(slice(0, X.shape[0]), self.compute_distances(X, num_loops))]
        dist = np.empty((X.shape[0], self.k))
        ind = np.empty((X.shape[0], self.k), dtype=np.int64)
        for rows, d in chunks:
            ind[rows] = self._k_smallest(d, self.k)
            dist[rows] = np.take_along_axis(d, ind[rows], axis=1)
        return dist, ind

    # ----------------------------------------------------------------- votes
    def _votes(self, ind: np.ndarray) -> np.ndarray:
        """(M, C) vote counts of the neighbours' labels."""
        labels = self.y_train_[ind]
        n_classes = len(self.classes_)
        offsets = np.arange(labels.shape[0])[:, None] * n_classes
        return np.bincount((labels + offsets).ravel(),
                           minlength=labels.shape[0] * n_classes).reshape(-1, n_classes)

    def predict_labels(self, dists: np.ndarray, k: int | None = None) -> np.ndarray:
        """Majority vote from a precomputed (M, N) distance matrix (the assignment's API).

        Lets one distance matrix serve many k. Ties go to the smallest label.
        """
        check_is_fitted(self, "X_train_")
        dists = np.asarray(dists)
        k = self.k if k is None else k
        if dists.ndim != 2 or dists.shape[1] != self.X_train_.shape[0]:
            raise ValueError(f"{type(self).__name__}: expected dists of shape (M, "
                             f"{self.X_train_.shape[0]}), got {dists.shape}")
        if not 1 <= k <= dists.shape[1]:
            raise ValueError(f"{type(self).__name__}: expected 1 <= k <= {dists.shape[1]}, got {k}")
        votes = self._votes(self._k_smallest(dists, k))
        return self.classes_[np.argmax(votes, axis=1)]  # argmax takes the first (smallest) label

    def predict(self, X, num_loops: int = 0) -> np.ndarray:
        """Predicted labels (M,) by majority vote of the k nearest neighbours."""
        votes = self._votes(self.kneighbors(X, num_loops)[1])
        return self.classes_[np.argmax(votes, axis=1)]  # argmax takes the first (smallest) label

    def predict_proba(self, X) -> np.ndarray:
        """(M, C) fraction of the k neighbours voting for each class in `classes_`."""
        return self._votes(self.kneighbors(X)[1]) / self.k
