"""Loss functions as fused ops: softmax cross-entropy, multiclass SVM (hinge), MSE,
binary cross-entropy on logits.

Fusing softmax with the log-likelihood gives the lecture's famous gradient,
(softmax(s) - onehot(y)) / N, and stays exact for logits of any size thanks
to the log-sum-exp trick (subtract each row's maximum first).

Every loss runs on NumPy or CuPy scores; targets, weights and labels given as
NumPy arrays or lists move to the scores' device (`_on_device_of`), and the
checks (shapes, dtypes, label range) fire the same on both.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import sigmoid_array

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    xp = backend.array_module(losses)
    if reduction == "mean":
        return xp.asarray(losses.mean(), dtype=losses.dtype)
    if reduction == "sum":
        return xp.asarray(losses.sum(), dtype=losses.dtype)
    return losses


def _per_example_grad(g: np.ndarray, n: int, reduction: str) -> np.ndarray:
    """Upstream gradient of each example's loss, as a column (N, 1) (on a GPU a (1, 1) one
    that broadcasts the same way: no array of N copies, no sync to read g)."""
    if reduction == "none":
        return g.reshape(n, 1)
    if backend.is_device_array(g):
        return (g / n if reduction == "mean" else g).reshape(1, 1).astype(g.dtype, copy=False)
    return np.full((n, 1), g / n if reduction == "mean" else g, dtype=g.dtype)


def _data(v: Any) -> Any:
    return v.data if isinstance(v, Tensor) else v


def _on_device_of(like: Any, v: Any, dtype: Any = None, what: str = "") -> Any:
    """v (array, list, number; not a Tensor) as an array on the device of the array `like`
    (NumPy's asarray on the CPU, as before), with `dtype` if given. Host values go up to a GPU;
    GPU values for CPU scores are an error, as in PyTorch (`what` names the loss and argument)."""
    if backend.is_device_array(like):
        if not backend.is_device_array(v):
            v = backend.to_device(np.asarray(v, dtype=dtype), backend.device_of(like))
        return v if dtype is None else v.astype(dtype, copy=False)
    if backend.is_device_array(v):
        raise RuntimeError(f"{what or 'loss'} is on {backend.device_of(v)}, the input on cpu; "
                           "move them to one device with .to(device)")
    return np.asarray(v, dtype=dtype)


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_targets(name: str, scores: Any, target: Any) -> np.ndarray:
    """Validate (N, C) scores and (N,) integer labels in [0, C); return the labels as int64."""
    shape = np.shape(scores)
    if len(shape) != 2:
        raise ValueError(f"{name}: expected scores of shape (N, C), got shape {shape}")
    s = _data(scores)
    dtype = s.dtype if hasattr(s, "dtype") else np.asarray(s).dtype
    if dtype.kind != "f":
        raise ValueError(f"{name}: expected floating-point scores, got dtype {dtype}")
    y = _data(target)
    if not backend.is_device_array(y):
        y = np.asarray(y)
    n, c = shape
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected target of integer class indices (int64), got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name}: expected target of shape ({n},) for scores of shape {shape}, got shape {y.shape}")
    if n and (bool(((y < 0) | (y >= c)).any()) if backend.is_device_array(y)  # one read-back (a sync)
              else (y.min() < 0 or y.max() >= c)):
        bad = y[(y < 0) | (y >= c)]
        raise ValueError(f"{name}: expected class indices in [0, {c - 1}] for {c} classes, got {bad[:5].tolist()}")
    return _on_device_of(s, y, np.int64, f"{name}: target")


class CrossEntropy(Function):
    """-log softmax(s)[y], per example."""

    @staticmethod
    def forward(ctx, s, y, reduction):
        n = s.shape[0]
        rows = backend.array_module(s).arange(n)
        shifted = s - s.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - lse
        ctx.save_for_backward(log_probs, y)
        ctx.reduction = reduction
        return _reduce(-log_probs[rows, y], reduction)

    @staticmethod
    def backward(ctx, g):
        log_probs, y = ctx.saved_tensors
        n = log_probs.shape[0]
        ds = np.exp(log_probs)  # softmax
        ds[backend.array_module(ds).arange(n), y] -= 1  # minus the one-hot target
        return ds * _per_example_grad(g, n, ctx.reduction), None, None


class MulticlassSVM(Function):
    """sum over j != y of max(0, s_j - s_y + margin), per example (CS231n's hinge loss)."""

    @staticmethod
    def forward(ctx, s, y, margin, reduction):
        n = s.shape[0]
        rows = backend.array_module(s).arange(n)
        margins = np.maximum(0, s - s[rows, y][:, None] + margin)
        margins[rows, y] = 0  # the correct class does not compete with itself
        ctx.save_for_backward(margins > 0, y)
        ctx.reduction = reduction
        return _reduce(margins.sum(axis=1), reduction)

    @staticmethod
    def backward(ctx, g):
        active, y = ctx.saved_tensors
        n = active.shape[0]
        ds = active.astype(g.dtype)
        # each violated margin pushes s_j up by 1 and the correct score s_y down by 1
        ds[backend.array_module(ds).arange(n), y] = -active.sum(axis=1)
        return ds * _per_example_grad(g, n, ctx.reduction), None, None, None


class MSE(Function):
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce(d * d, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        scale = 2.0 / d.size if ctx.reduction == "mean" else 2.0
        gd = d * (g * scale)
        return gd, -gd, None


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy. logits: (N, C) floats; target: (N,) int class indices.
    reduction: "mean" (over N), "sum" or "none" (a (N,) tensor)."""
    _check_reduction("cross_entropy", reduction)
    y = _class_targets("cross_entropy", logits, target)
    return CrossEntropy.apply(logits, y, reduction)


def svm_loss(scores: Tensor, target: Any, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """Multiclass hinge loss: mean over examples of sum_{j != y} max(0, s_j - s_y + margin).
    (torch's multi_margin_loss divides each example's sum by C as well.)"""
    _check_reduction("svm_loss", reduction)
    y = _class_targets("svm_loss", scores, target)
    return MulticlassSVM.apply(scores, y, float(margin), reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean (or sum, or elementwise) squared error; input and target of the same shape."""
    _check_reduction("mse_loss", reduction)
    if np.shape(input) != np.shape(target):
        raise ValueError(
            f"mse_loss: expected target of the input's shape {np.shape(input)}, got {np.shape(target)}"
        )
    if not isinstance(target, Tensor):
        target = _on_device_of(_data(input), target, _data(input).dtype, "mse_loss: target")
    return MSE.apply(input, target, reduction)


# ------------------------------------------------- binary cross-entropy on logits
def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


class BCEWithLogits(Function):
    """w * [p y softplus(-x) + (1 - y) softplus(x)], elementwise: -w [p y log s(x) + (1-y) log(1 - s(x))].

    With p = 1 this is max(x, 0) - x y + log1p(exp(-|x|)): exact for logits of any size.
    Gradients: d/dx = w [(1 - y) s(x) - p y (1 - s(x))] (= w (s(x) - y) for p = 1),
    d/dy = w [p softplus(-x) - softplus(x)] (= -w x for p = 1). weight and pos_weight are constants.
    """

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, reduction):
        if pos_weight is None:
            loss = _softplus(x) - x * y
        else:
            loss = pos_weight * y * _softplus(-x) + (1 - y) * _softplus(x)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, y, weight, pos_weight)
        ctx.reduction = reduction
        xp = backend.array_module(x, y)
        return _reduce(xp.asarray(loss, dtype=xp.result_type(x, y)), reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight = ctx.saved_tensors
        up = g / x.size if ctx.reduction == "mean" else g  # "none": g has x's shape
        s = sigmoid_array(x)
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = s - y if pos_weight is None else (1 - y) * s - pos_weight * y * (1 - s)
            gx = gx * up if weight is None else gx * weight * up
        if ctx.needs_input_grad[1]:
            gy = -x if pos_weight is None else pos_weight * _softplus(-x) - _softplus(x)
            gy = gy * up if weight is None else gy * weight * up
        return gx, gy, None, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op (torch.nn.functional's signature).

    input: logits of any shape; target: probabilities in [0, 1] of the same shape.
    weight: rescales each element's loss (broadcast to input's shape).
    pos_weight: weight of the positive examples, broadcast along the last (class) dimension,
        e.g. (C,) for (N, C) multi-label logits; n_negative / n_positive balances the classes.
    reduction: "mean" (over all elements), "sum" or "none".
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if np.shape(input) != np.shape(target):
        raise ValueError(f"binary_cross_entropy_with_logits: target size {np.shape(target)} must be the "
                         f"same as input size {np.shape(input)}")
    x = _data(input)
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if dtype.kind != "f":
        raise ValueError(f"binary_cross_entropy_with_logits: expected floating-point logits, got dtype {dtype}")
    if not isinstance(target, Tensor):
        target = _on_device_of(x, target, dtype, "binary_cross_entropy_with_logits: target")

    def const(v: Any, name: str) -> np.ndarray | None:
        if v is None:
            return None
        a = _on_device_of(x, _data(v), dtype, f"binary_cross_entropy_with_logits: {name}")  # NumPy ones follow x
        try:
            np.broadcast_shapes(a.shape, np.shape(input))
        except ValueError:
            raise ValueError(f"binary_cross_entropy_with_logits: {name} of shape {a.shape} does not "
                             f"broadcast to the input's shape {np.shape(input)}") from None
        return a

    return BCEWithLogits.apply(input, target, const(weight, "weight"), const(pos_weight, "pos_weight"),
                               reduction)


# ------------------------------------------------------------ negative log-likelihood
class NLL(Function):
    """-logp[y], per example (the input already holds log-probabilities)."""

    @staticmethod
    def forward(ctx, logp, y, reduction):
        ctx.save_for_backward(y)
        ctx.shape, ctx.reduction = logp.shape, reduction
        return _reduce(-logp[backend.array_module(logp).arange(logp.shape[0]), y], reduction)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        n = ctx.shape[0]
        xp = backend.array_module(g)
        d = xp.zeros(ctx.shape, dtype=g.dtype)
        d[xp.arange(n), y] = -1
        return d * _per_example_grad(g, n, ctx.reduction), None, None


def nll_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Negative log-likelihood of log-probabilities (torch's nll_loss, without class weights):
    input: (N, C) log-probabilities (log_softmax, or an Ensemble's output); target: (N,) ints.
    nll_loss(log_softmax(s), y) == cross_entropy(s, y)."""
    _check_reduction("nll_loss", reduction)
    y = _class_targets("nll_loss", input, target)
    return NLL.apply(input, y, reduction)
