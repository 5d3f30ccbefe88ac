"""k-fold cross-validation over a grid of hyperparameters (lecture 2).

The data is shuffled once (seeded) and cut into `num_folds` folds with
np.array_split, as in assignment 1. Every setting is trained on all folds
but one and scored on the held-out fold, once per fold.

    res = cross_validate(KNearestNeighbor, X, y, {"k": [1, 3, 5]}, num_folds=5)
    res.best_params, res.mean, res.std, print(res.table())
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._validation import as_labels


@dataclass
class CVResult:
    """Scores of every setting on every fold.

    params: the settings, in grid order (itertools.product over param_grid's lists).
    scores: (S, F) accuracy of setting s on fold f. mean, std: (S,) over folds.
    best_index: the highest mean; ties go to the first setting in grid order
    (the smallest value when the lists are ascending).
    """

    params: list[dict[str, Any]]
    scores: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.scores.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        return self.scores.std(axis=1)

    @property
    def best_index(self) -> int:
        mean = self.mean
        # A tolerance so that equal accuracies summed in another order still tie.
        return int(np.flatnonzero(mean >= mean.max() - 1e-12)[0])

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.params[self.best_index])

    @property
    def best_score(self) -> float:
        return float(self.mean[self.best_index])

    def table(self) -> str:
        """A text table: one row per setting with mean, std and the fold scores."""
        lines = []
        names = list(self.params[0]) if self.params else []
        head = "  ".join(f"{n:>10}" for n in names)
        lines.append(f"{head}  {'mean':>7}  {'std':>7}  folds")
        best = self.best_index
        for s, p in enumerate(self.params):
            vals = "  ".join(f"{_fmt(p[n]):>10}" for n in names)
            folds = " ".join(f"{a:.3f}" for a in self.scores[s])
            mark = "  <- best" if s == best else ""
            lines.append(f"{vals}  {self.mean[s]:7.4f}  {self.std[s]:7.4f}  {folds}{mark}")
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def parameter_grid(param_grid: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination of the values in param_grid (a dict of lists), in product order."""
    if not isinstance(param_grid, dict) or not param_grid:
        raise ValueError(f"cross_validate: expected param_grid to be a non-empty dict of lists, "
                         f"got {param_grid!r}")
    for name, values in param_grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"cross_validate: expected a non-empty list of values for {name!r}, "
                             f"got {values!r}")
    names = list(param_grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(param_grid[n] for n in names))]


def cross_validate(make_estimator: Callable[..., Any], X, y, param_grid: dict[str, list],
                   num_folds: int = 5, seed: int = 0) -> CVResult:
    """Score every setting of param_grid by k-fold cross-validation.

    make_estimator: called as make_estimator(**setting) -> an unfitted estimator with
        fit(X, y) and score(X, y) (a class, or functools.partial for fixed arguments).
    X: (N, ...) samples; y: (N,) labels; num_folds: >= 2 and <= N; seed: the shuffle.
    Returns a CVResult.
    """
    X = np.asarray(getattr(X, "data", X))
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"cross_validate: expected X of shape (N, ...) with N >= 1, got {X.shape}")
    y = as_labels(y, X.shape[0], "cross_validate")
    if not isinstance(num_folds, (int, np.integer)) or not 2 <= num_folds <= X.shape[0]:
        raise ValueError(f"cross_validate: expected 2 <= num_folds <= {X.shape[0]} (the number of "
                         f"samples), got {num_folds!r}")
    settings = parameter_grid(param_grid)
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    folds = np.array_split(perm, num_folds)
    scores = np.zeros((len(settings), num_folds))
    for f, val_idx in enumerate(folds):
        train_idx = np.concatenate([folds[g] for g in range(num_folds) if g != f])
        for s, params in enumerate(settings):
            est = make_estimator(**params).fit(X[train_idx], y[train_idx])
            scores[s, f] = est.score(X[val_idx], y[val_idx])
    return CVResult(params=settings, scores=scores)
