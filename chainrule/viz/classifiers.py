"""Plots for the classical classifiers: cross-validation accuracy, loss curves, class templates.

Figures are built with matplotlib's object API on an Agg canvas, so they work
without a display and never change the global pyplot backend.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def save_figure(fig: Figure, path: str | os.PathLike) -> str:
    """Draw `fig` on an Agg canvas and write it as PNG at `path` (folders made as needed); returns path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, format="png")
    return path


def plot_cv_accuracy(values: Sequence[float], scores: np.ndarray, path: str,
                     xlabel: str = "k", title: str = "Cross-validation accuracy") -> str:
    """Accuracy vs a hyperparameter: every fold as a dot, the mean with std error bars.

    values: (S,) the hyperparameter; scores: (S, F) accuracy per setting and fold.
    Returns path.
    """
    scores = np.asarray(scores)
    values = np.asarray(values)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for f in range(scores.shape[1]):
        ax.scatter(values, scores[:, f], s=10, color="0.6", zorder=1)
    ax.errorbar(values, scores.mean(axis=1), yerr=scores.std(axis=1), fmt="-o", capsize=3,
                zorder=2, label="mean +- std over folds")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy")
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_loss_curve(loss_history: Sequence[float], path: str, title: str = "Training loss") -> str:
    """Minibatch loss per SGD iteration. Returns path."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(np.arange(len(loss_history)), loss_history, lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def save_image_grid(images: np.ndarray, names: Sequence[str], path: str, title: str = "",
                    cols: int | None = None) -> str:
    """Save uint8 images (C, H, W) grey or (C, H, W, 3) colour as a labelled grid PNG."""
    n = len(images)
    cols = cols or min(n, 10)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(1.3 * cols, 1.5 * rows + (0.4 if title else 0)))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(images[i], cmap="gray" if images[i].ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(str(names[i]), fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
