"""Pictures of a training run: curves, first-layer filters, activation histograms,
the confusion matrix and misclassified examples (PNG files, matplotlib Agg).

Every function takes plain arrays or histories (optionally a model) and a path, and
returns the path. `save_training_plots(solver, out_dir)` writes all that applies.

    save_training_plots(solver, "runs/x/plots", X_val=data.X_val, y_val=data.y_val, classes=data.classes)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import backend
from ..diagnostics.stats import layer_activations
from ..metrics import param_dtype, predict_scores
from ..nn.conv import Conv2d
from .classifiers import save_figure

__all__ = ["smooth", "plot_training_curves", "filter_grid", "plot_first_layer_filters",
           "plot_activation_histograms", "confusion_matrix", "plot_confusion_matrix", "plot_misclassified",
           "first_layer_weights", "save_training_plots", "loss_panel", "framed"]


def smooth(values: Sequence[float], window: int | None = None) -> np.ndarray:
    """Moving average over `window` points (default: about 2% of the curve, at least 5),
    shrinking at the start so the smoothed curve has one value per point."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    window = window or max(5, v.size // 50)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


# ------------------------------------------------------------------ curves
LOSS_TITLE = "Training loss (per iteration)"


def loss_panel(ax: Any, loss: Sequence[float], iterations_per_epoch: float, colour: str = "C0",
               label: str | None = None, raw: bool = True, per_epoch: bool = False) -> bool:
    """Draw a training-loss history on `ax`, x in epochs: the raw per-iteration values (faint, if
    `raw`) and their moving average; `per_epoch`: the history holds epoch means instead. The one
    loss picture of plots/curves.png and the report. Returns whether it spans more than a decade
    (the caller then uses a log scale)."""
    v = np.asarray(loss, dtype=np.float64)
    ax.set_title(LOSS_TITLE if not per_epoch else "Training loss (epoch means)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    if not v.size:
        return False
    if per_epoch:
        ax.plot(np.arange(1, v.size + 1), v, "-o", ms=3, lw=1.8, color=colour, label=label or "epoch mean")
    else:
        x = np.arange(1, v.size + 1) / max(float(iterations_per_epoch), 1e-12)
        if raw:
            ax.plot(x, v, lw=0.6, alpha=0.35, color=colour, label="per iteration")
        ax.plot(x, smooth(v), lw=1.8, color=colour, label=label or "smoothed")
    finite = v[np.isfinite(v) & (v > 0)]
    return bool(finite.size and finite.max() / max(finite.min(), 1e-12) > 10)


def plot_training_curves(loss_history: Sequence[float], train_acc_history: Sequence[float],
                         val_acc_history: Sequence[float], path: str | os.PathLike,
                         lr_history: Sequence[float] | None = None, title: str = "") -> str:
    """Three panels: the loss per iteration with a smoothed line, x in epochs (log scale when it
    spans more than a decade; `loss_panel`, as in the report), train vs val accuracy per epoch,
    and the learning rate per epoch."""
    loss = np.asarray(loss_history, dtype=np.float64)
    tr, va = np.asarray(train_acc_history, float), np.asarray(val_acc_history, float)
    lr = np.asarray(lr_history if lr_history is not None else [], float)
    panels = 3 if lr.size else 2
    fig = Figure(figsize=(5 * panels, 4))
    ax = fig.add_subplot(1, panels, 1)
    epochs = max(tr.size, va.size)
    if loss_panel(ax, loss, loss.size / epochs if epochs else 1.0):
        ax.set_yscale("log")
    if loss.size:
        ax.legend(loc="upper right")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))

    ax = fig.add_subplot(1, panels, 2)
    ep = np.arange(1, max(tr.size, va.size) + 1)
    if tr.size:
        ax.plot(ep[:tr.size], tr, "-o", ms=3, label="train")
    if va.size:
        ax.plot(ep[:va.size], va, "-o", ms=3, label="val")
        best = int(np.nanargmax(va)) if np.any(np.isfinite(va)) else None
        if best is not None:
            ax.scatter([best + 1], [va[best]], s=80, facecolors="none", edgecolors="C1", zorder=3,
                       label=f"best val {va[best]:.3f}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy (gap = overfitting)")
    ax.grid(alpha=0.3)
    if tr.size or va.size:
        ax.legend(loc="lower right")

    if lr.size:
        ax = fig.add_subplot(1, panels, 3)
        ax.plot(np.arange(1, lr.size + 1), lr, "-o", ms=3, color="C2")
        if np.all(lr > 0) and lr.max() / lr.min() > 10:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.06 if panels == 3 else 0.08, right=0.98, bottom=0.13, top=0.85 if title else 0.91,
                        wspace=0.3)
    return save_figure(fig, path)


# ------------------------------------------------------------------ filters
FRAME = (0x5b / 255, 0x84 / 255, 0xb1 / 255)  # the blue-grey around filters: white and black cells both show


def framed(grid: np.ndarray, border: int = 1, colour: tuple[float, float, float] = FRAME) -> np.ndarray:
    """A filter_grid (NaN gaps) as an opaque RGB image whose gaps and outer border are `colour`, so
    that a filter's white (or black) cells stand out on any page."""
    rgb = np.repeat(grid[..., None], 3, axis=2) if grid.ndim == 2 else np.asarray(grid, np.float64)
    rgb = np.pad(rgb, ((border, border), (border, border), (0, 0)), constant_values=np.nan)
    gaps = ~np.isfinite(rgb[..., 0])
    rgb[gaps] = colour
    return rgb


def filter_grid(weights: np.ndarray, pad: int = 1, pad_value: float = np.nan) -> np.ndarray:
    """Tile conv filters (F, C, KH, KW) into one image, each filter scaled to [0, 1] on its own.

    Returns (rows*(KH+pad)-pad, cols*(KW+pad)-pad) for C = 1, or (..., 3) RGB for C = 3;
    other channel counts show the mean over channels (grey). The gaps hold `pad_value`
    (NaN: drawn transparent, so a filter's white edge stays visible).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: expected conv weights (F, C, KH, KW), got shape {w.shape}")
    F, C, KH, KW = w.shape
    if C not in (1, 3):
        w, C = w.mean(axis=1, keepdims=True), 1
    lo = w.reshape(F, -1).min(axis=1)[:, None, None, None]
    hi = w.reshape(F, -1).max(axis=1)[:, None, None, None]
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    cols = int(np.ceil(np.sqrt(F)))
    rows = int(np.ceil(F / cols))
    grid = np.full((rows * (KH + pad) - pad, cols * (KW + pad) - pad, C), pad_value, dtype=np.float64)
    for i in range(F):
        r, c = divmod(i, cols)
        grid[r * (KH + pad): r * (KH + pad) + KH, c * (KW + pad): c * (KW + pad) + KW] = w[i].transpose(1, 2, 0)
    return grid[..., 0] if C == 1 else grid


def first_layer_weights(model: Any) -> np.ndarray | None:
    """The weights of the first Conv2d of a model (F, C, KH, KW), or None if it has none."""
    for m in model.modules():
        if isinstance(m, Conv2d):
            return np.asarray(backend.to_host(m.weight.data))  # a host copy of a GPU model's
    return None


def plot_first_layer_filters(weights_or_model: Any, path: str | os.PathLike, title: str = "First-layer filters"
                             ) -> str:
    """The first conv layer's filters as an image grid (each normalised to its own range;
    C=1 grey, C=3 RGB). Accepts the weights (F, C, KH, KW) or a model."""
    w = weights_or_model
    if not isinstance(w, np.ndarray) and hasattr(w, "modules"):
        w = first_layer_weights(w)
        if w is None:
            raise ValueError("plot_first_layer_filters: the model has no Conv2d layer")
    w = np.asarray(getattr(w, "data", w))
    grid = framed(filter_grid(w))  # gaps and border in FRAME: white cells stay visible on white paper
    F, C, KH, KW = w.shape
    fig = Figure(figsize=(6, 6 * grid.shape[0] / grid.shape[1] + 0.5))
    ax = fig.add_subplot()
    ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}: {F} filters, {C}x{KH}x{KW}")
    fig.tight_layout()
    return save_figure(fig, path)


# ------------------------------------------------------------------ histograms
def plot_activation_histograms(activations: Mapping[str, np.ndarray], path: str | os.PathLike,
                               title: str = "Activations per layer", bins: int = 50) -> str:
    """One histogram per layer (as the lecture's init figures), with the layer's mean and std
    in its title; the x range is shared when all layers are bounded in [-1, 1]."""
    items = [(k, np.asarray(v, np.float64).reshape(-1)) for k, v in activations.items()]
    if not items:
        raise ValueError("plot_activation_histograms: no activations given")
    n = len(items)
    cols = min(n, 5)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3 * cols, 2.6 * rows + 0.5))
    bounded = all(v.size and np.abs(v).max() <= 1 for _, v in items)
    for i, (name, v) in enumerate(items):
        ax = fig.add_subplot(rows, cols, i + 1)
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = (-1.0, 1.0) if bounded else (float(finite.min()), float(finite.max()))
            counts, edges = np.histogram(finite, bins=bins, range=(lo, hi if hi > lo else lo + 1e-12))
            ax.stairs(counts, edges, fill=True, color="C0")  # one artist, not one patch per bin: fast
        m, s = (float(finite.mean()), float(finite.std())) if finite.size else (float("nan"),) * 2
        ax.set_title(f"{name}\nmean {m:.3g}, std {s:.3g}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    fig.suptitle(title)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.08 / rows, top=1 - 0.85 / (2.6 * rows + 0.5),
                        hspace=0.6, wspace=0.15)
    return save_figure(fig, path)


# ------------------------------------------------------------------ confusion
def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    t, p = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: y_true {t.shape} and y_pred {p.shape} differ in shape")
    K = int(num_classes) if num_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    cm = np.zeros((K, K), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def plot_confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], path: str | os.PathLike,
                          classes: Sequence[str] | None = None, title: str = "Confusion matrix") -> str:
    """Counts (true class in rows, predicted in columns) with the class names and the accuracy."""
    K = len(classes) if classes is not None else None
    cm = confusion_matrix(y_true, y_pred, K)
    K = cm.shape[0]
    names = list(classes) if classes is not None else [str(i) for i in range(K)]
    size = max(4.0, 0.5 * K + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(K))
    ax.set_yticks(range(K))
    ax.set_xticklabels(names, rotation=45 if max(len(n) for n in names) > 2 else 0, ha="right" if K else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if K <= 30:
        thresh = cm.max() / 2 if cm.size else 0
        for i in range(K):
            for j in range(K):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if cm[i, j] > thresh else "black")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"{title} (accuracy {acc:.3f}, {cm.sum()} examples)")
    fig.subplots_adjust(left=0.15, right=0.95, bottom=0.15, top=0.92)
    return save_figure(fig, path)


# ------------------------------------------------------------------ misclassified
def _display(img: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W[, C]) in any range -> (H, W) or (H, W, 3) in [0, 1] for imshow."""
    x = np.asarray(img, np.float64)
    if x.ndim == 3 and x.shape[0] in (1, 3):  # chainrule's channel-first layout
        x = x.transpose(1, 2, 0)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def plot_misclassified(images: np.ndarray, y_true: Sequence[int], y_pred: Sequence[int], path: str | os.PathLike,
                       classes: Sequence[str] | None = None, max_images: int = 25, cols: int = 5,
                       title: str = "Misclassified examples") -> str:
    """A grid of (up to max_images of) the examples whose prediction is wrong, each labelled
    "true -> predicted". images: (N, C, H, W) or (N, H, W[, C]), any value range (each image
    is scaled to its own range)."""
    images = np.asarray(images)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if not (images.shape[0] == t.shape[0] == p.shape[0]):
        raise ValueError(f"plot_misclassified: {images.shape[0]} images, {t.shape[0]} labels, "
                         f"{p.shape[0]} predictions")
    wrong = np.flatnonzero(t != p)[:max_images]
    name = (lambda k: str(classes[int(k)])) if classes is not None else (lambda k: str(int(k)))
    n = len(wrong)
    cols = max(1, min(cols, n))
    rows = max(1, int(np.ceil(n / cols)))
    heading = f"{title}: {int(np.sum(t != p))} of {t.shape[0]}\n(true -> predicted)"
    # wide enough for the heading however few images there are (about 0.09 inch a character)
    width = max(1.8 * cols + 0.4, 0.09 * max(len(line) for line in heading.splitlines()) + 0.6)
    height = 2.0 * rows + 0.9
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 - 0.75 / height))
    ax.axis("off")
    if n:
        # One mosaic in one axes (many small axes make matplotlib slow); a label row above each image.
        tiles = [_display(images[i]) for i in wrong]
        colour = any(tl.ndim == 3 for tl in tiles)
        tiles = [np.repeat(tl[..., None], 3, axis=2) if colour and tl.ndim == 2 else tl for tl in tiles]
        H, W = tiles[0].shape[:2]
        gap, label = max(1, W // 8), max(3, H // 3)
        mosaic = np.full((rows * (H + label + gap), cols * (W + gap)) + ((3,) if colour else ()), np.nan)
        for k, tl in enumerate(tiles):
            r, c = divmod(k, cols)
            y0, x0 = r * (H + label + gap) + label, c * (W + gap)
            mosaic[y0:y0 + H, x0:x0 + W] = tl
            ax.text(x0 + W / 2, y0 - 0.5, f"{name(t[wrong[k]])} -> {name(p[wrong[k]])}", ha="center",
                    va="bottom", fontsize=9, color="C3")
        if colour:
            alpha = np.isfinite(mosaic[..., :1]).astype(np.float64)
            ax.imshow(np.concatenate([np.nan_to_num(mosaic), alpha], axis=2), interpolation="nearest")
        else:
            ax.imshow(np.ma.masked_invalid(mosaic), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    fig.suptitle(heading, fontsize=11)
    return save_figure(fig, path)


# ------------------------------------------------------------------ all of them
def _histories(src: Any) -> dict[str, list[float]]:
    keys = ("loss_history", "train_acc_history", "val_acc_history", "lr_history")
    if isinstance(src, Mapping):
        h = dict(src.get("history", src))
        return {k: list(h.get(k, [])) for k in keys}
    return {k: list(getattr(src, k, []) or []) for k in keys}


def save_training_plots(solver: Any, out_dir: str | os.PathLike, X_val: np.ndarray | None = None,
                        y_val: np.ndarray | None = None, classes: Sequence[str] | None = None, *,
                        model: Any = None, preprocess: Any = None, max_hist_examples: int = 256,
                        split: str = "validation") -> list[str]:
    """Write every plot that applies into out_dir; returns the paths written.

    solver: a cr.Solver (after training), or a dict of histories (loss_history,
        train_acc_history, val_acc_history, lr_history; e.g. `solver.history`).
    X_val, y_val: raw validation images/labels for the confusion matrix and the misclassified
        grid. Without them a Solver's own (preprocessed) validation split is used.
    model: the model, when `solver` is only histories (for filters and activation histograms).
    preprocess: the fitted preprocessing X_val needs (default: the Solver's `preprocess_`).
    split: the name of the split X_val is, written in the titles of confusion.png and misclassified.png.

    Files: curves.png; and with a model: filters.png (if it has a Conv2d),
    activations.png; and with predictions: confusion.png, misclassified.png.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    h = _histories(solver)
    paths.append(plot_training_curves(h["loss_history"], h["train_acc_history"], h["val_acc_history"],
                                      out / "curves.png", lr_history=h["lr_history"]))
    model = model if model is not None else getattr(solver, "model", None)
    if classes is None:
        classes = getattr(solver, "classes", None)

    # the validation images as the model sees them, and its predictions
    images = truth = prepared = None
    if X_val is not None and y_val is not None:
        images, truth = np.asarray(X_val), np.asarray(y_val)
        pre = preprocess if preprocess is not None else getattr(solver, "preprocess_", None)
        prepared = pre(images) if pre is not None else images
    elif isinstance(getattr(solver, "data", None), Mapping) and "X_val" in solver.data:
        images, truth = solver.data["X_val"], solver.data["y_val"]
        prepared = images
    pred = None
    if model is not None and prepared is not None and len(truth):
        pred = predict_scores(model, prepared).argmax(axis=1)
    if model is not None:
        if first_layer_weights(model) is not None:
            paths.append(plot_first_layer_filters(model, out / "filters.png"))
        if prepared is not None and len(prepared):
            acts = layer_activations(model, np.asarray(prepared[:max_hist_examples], param_dtype(model)))
            kinds = {n or type(m).__name__: type(m).__name__ for n, m in model.named_modules()}
            acts = {f"{n} {kinds.get(n, '')}".strip(): v for n, v in acts.items()}
            if acts:
                paths.append(plot_activation_histograms(acts, out / "activations.png",
                                                        title=f"Activations per layer ({split} batch, eval mode)"))
    if pred is not None:
        if classes is not None and len(classes) <= int(max(truth.max(), pred.max())):
            classes = None
        paths.append(plot_confusion_matrix(truth, pred, out / "confusion.png", classes=classes,
                                           title=f"Confusion matrix, {split} split"))
        paths.append(plot_misclassified(images, truth, pred, out / "misclassified.png", classes=classes,
                                        title=f"Misclassified {split} examples"))
    return paths
