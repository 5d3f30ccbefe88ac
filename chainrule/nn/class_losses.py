"""PyTorch's full `cross_entropy` / `nll_loss`: class weights, ignore_index, label smoothing,
probability targets and (N, C, d1, ...) inputs.

The plain case (N, C) scores with (N,) labels and no options goes to the fused ops in
chainrule/ops/loss.py (the lecture's (softmax - onehot) / N gradient). Every other case is
composed here from differentiable ops on the log-probabilities, so its gradient comes from
autograd:

    loss_i = (1 - eps) * w[y_i] * -logp[i, y_i] + eps / C * sum_c w[c] * -logp[i, c]

for rows whose label is not `ignore_index` (ignored rows give 0), and "mean" divides the sum by
sum_i w[y_i] over the rows kept (PyTorch's weighted mean). With probability targets p (floats of
the input's shape): loss_i = -sum_c w[c] * p'[i, c] * logp[i, c], p' = (1 - eps) p + eps / C, and
"mean" divides by the number of rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..ops import loss as fused
from ..ops.activation import log_softmax
from ..tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce flags turned into a reduction string."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: bool | None = None,  # noqa: A002
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, PyTorch's F.cross_entropy. input: (N, C) or (N, C, d1, ...) scores;
    target: class indices (N,) / (N, d1, ...) or class probabilities of input's shape.
    weight: (C,) per-class weights. reduction: "mean", "sum" or "none"."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check("cross_entropy", input, target, reduction, label_smoothing)
    if _plain(input, target, weight, ignore_index, label_smoothing):
        return fused.cross_entropy(input, target, reduction=reduction)
    dims = np.ndim(input)
    return _class_loss(log_softmax(input, dim=1 if dims > 1 else 0), target, weight, ignore_index,
                       reduction, label_smoothing, "cross_entropy")


def nll_loss(input: Tensor, target: Any, weight: Any = None, size_average: bool | None = None,  # noqa: A002
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities, PyTorch's F.nll_loss. input: (N, C) or
    (N, C, d1, ...); target: class indices (N,) / (N, d1, ...); weight: (C,) per-class weights."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check("nll_loss", input, target, reduction, 0.0)
    if _plain(input, target, weight, ignore_index, 0.0):
        return fused.nll_loss(input, target, reduction=reduction)
    if _is_probabilities(target):
        raise ValueError(f"nll_loss: expected target of integer class indices (int64), got dtype "
                         f"{_host(target).dtype}")
    return _class_loss(input, target, weight, ignore_index, reduction, 0.0, "nll_loss")


def _check(name: str, input: Any, target: Any, reduction: str, label_smoothing: float) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    shape = np.shape(input)
    if len(shape) == 0 or (len(shape) == 1 and np.ndim(_host(target)) not in (0, 1)) or (
            len(shape) == 1 and np.ndim(_host(target)) == 1 and not _is_probabilities(target)):
        raise ValueError(f"{name}: expected scores of shape (N, C) (or (C,) for one example, (N, C, d1, ...) "
                         f"per position), got shape {shape} for a target of shape {np.shape(_host(target))}")
    dtype = input.dtype if hasattr(input, "dtype") else np.asarray(input).dtype
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"{name}: expected floating-point scores, got dtype {dtype}")


def _is_probabilities(target: Any) -> bool:
    t = target.data if isinstance(target, Tensor) else target
    return np.asarray(backend.to_host(t) if backend.is_device_array(t) else t).dtype.kind == "f"


def _plain(input: Any, target: Any, weight: Any, ignore_index: int, label_smoothing: float) -> bool:
    """The fused op's case: (N, C) scores, integer labels, no weight, smoothing or ignored label."""
    if np.ndim(input) != 2 or weight is not None or label_smoothing != 0.0 or _is_probabilities(target):
        return False
    y = target.data if isinstance(target, Tensor) else target
    y = backend.to_host(y) if backend.is_device_array(y) else np.asarray(y)
    return not (y == ignore_index).any()


def _host(v: Any) -> np.ndarray:
    v = v.data if isinstance(v, Tensor) else v
    return np.asarray(backend.to_host(v) if backend.is_device_array(v) else v)


def _class_loss(logp: Tensor, target: Any, weight: Any, ignore_index: int, reduction: str,
                eps: float, name: str) -> Tensor:
    """The composed loss on log-probabilities logp: (N, C, d1, ...) (or (C,) for one example)."""
    single = logp.ndim == 1
    if single:  # one example of C scores, as PyTorch allows
        logp = logp.reshape(1, -1)
    shape = tuple(logp.shape)
    c = shape[1]
    # rows (N * d1 * ...) x classes: the class axis last
    rows = logp.permute(0, *range(2, len(shape)), 1).reshape(-1, c) if len(shape) > 2 else logp
    w = np.ones(c) if weight is None else _host(weight).astype(np.float64)
    if w.shape != (c,):
        raise ValueError(f"{name}: expected weight of shape ({c},), got {w.shape}")
    like = rows.data
    if _is_probabilities(target):
        p = _host(target)
        if p.shape != (shape[1:] if single else shape):
            raise ValueError(f"{name}: expected target of integer class indices (int64), or of class "
                             f"probabilities of the input's shape {shape}; got {p.dtype} of shape {p.shape}")
        p = p.reshape(shape)
        p = np.moveaxis(p, 1, -1).reshape(-1, c) if len(shape) > 2 else p
        p = p * (1 - eps) + eps / c
        losses = -(rows * _on(like, p * w)).sum(1)
        return _finish(losses, None, reduction, shape, single)
    y = _host(target)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer class indices as target, got dtype {y.dtype}")
    want = (shape[0], *shape[2:])
    if y.shape != (() if single else want):
        raise ValueError(f"{name}: expected target of shape {() if single else want}, got {y.shape}")
    y = y.reshape(-1).astype(np.int64)
    kept = y != ignore_index
    if ((y[kept] < 0) | (y[kept] >= c)).any():
        raise ValueError(f"{name}: expected class indices in [0, {c - 1}] for {c} classes, "
                         f"got {y[kept][(y[kept] < 0) | (y[kept] >= c)][:5].tolist()}")
    onehot = np.zeros((y.size, c))
    onehot[np.flatnonzero(kept), y[kept]] = 1.0
    coef = (1 - eps) * onehot * w + (eps / c) * kept[:, None] * w
    losses = -(rows * _on(like, coef)).sum(1)
    return _finish(losses, float(w[y[kept]].sum()), reduction, shape, single)


def _on(like: Any, a: np.ndarray) -> Any:
    """A float64 host constant in the scores' dtype, on their device."""
    a = a.astype(like.dtype)
    return backend.to_device(a, backend.device_of(like)) if backend.is_device_array(like) else a


def _finish(losses: Tensor, total_weight: float | None, reduction: str, shape: tuple, single: bool) -> Tensor:
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / (losses.shape[0] if total_weight is None else total_weight)
    if single:
        return losses.reshape(())
    return losses.reshape(shape[0], *shape[2:])
