"""`chainrule.nn.functional` (import as F): the stateless ops behind the layers.

PyTorch's names and semantics. The convolution, pooling and normalisation
kernels live in chainrule/ops/{conv,pool,norm}.py; activations and losses in
chainrule/ops/{activation,loss,dropout}.py; this module gathers them.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..ops.activation import elu, leaky_relu, log_softmax, softmax  # noqa: F401
from ..ops.conv import conv2d as _conv2d
from ..ops.dropout import dropout  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.loss import binary_cross_entropy_with_logits, mse_loss, svm_loss  # noqa: F401
from ..ops.norm import batch_norm, local_response_norm  # noqa: F401
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401
from ..ops.geometry import pair
from ..ops.shape import pad
from .. import backend, rng
from ..tensor import Tensor
from .class_losses import cross_entropy, nll_loss  # noqa: F401  (weights, ignore_index, smoothing)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """PyTorch's F.conv2d: input (N, C, H, W), weight (F, C, KH, KW), bias (F,) -> (N, F, OH, OW).

    padding: an int, an (h, w) pair, "valid" (none) or "same" (the output keeps H and W; stride 1
    only; an even kernel gets its extra row/column of zeros at the bottom/right, as PyTorch).
    dilation and groups other than 1 are not supported (ValueError).
    """
    if pair(dilation, "dilation", "conv2d") != (1, 1) or groups != 1:
        raise ValueError(f"conv2d: only dilation=1 and groups=1 are supported, got dilation={dilation}, "
                         f"groups={groups}")
    if isinstance(padding, str):
        (ph, pw), (eh, ew) = string_padding(padding, tuple(weight.shape[2:]), stride)
        if eh or ew:
            input = pad(input, (0, ew, 0, eh))
        padding = (ph, pw)
    return _conv2d(input, weight, bias, stride, padding)


def string_padding(padding: str, kernel_size: tuple[int, int], stride: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """("same" | "valid", kernel (KH, KW), stride) -> ((pad_h, pad_w) on both sides, (extra_h, extra_w)
    at the bottom/right only). "same" pads k - 1 in all along each axis: (k - 1) // 2 on both sides,
    and for an even k one more at the end (PyTorch's split)."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    if pair(stride, "stride", "conv2d") != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    total = [k - 1 for k in kernel_size]
    half = tuple(t // 2 for t in total)
    return half, tuple(t - 2 * h for t, h in zip(total, half))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Channel dropout: input (N, C, H, W); each (example, channel) map is zeroed with probability
    p (masks from chainrule.rng), survivors scaled by 1/(1-p); the identity when not training.
    A 3-D input is read as (N, C, L), as PyTorch does (it warns about it)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must be in [0, 1], got {p}")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected input of shape (N, C, H, W), got {tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    keep = rng.get_generator().random(shape) >= p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = (keep * scale).astype(input.dtype)
    if input.is_cuda:
        mask = backend.to_device(mask, input.device)
    return input * mask


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer class indices of any shape -> int64 one-hot of shape (*shape, num_classes)
    (num_classes=-1: the largest index + 1). Not differentiable, as in PyTorch."""
    y = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if y.dtype.kind not in "iu":
        raise ValueError(f"one_hot: expected integer class indices, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError("one_hot: class values must be non-negative")
    n = int(y.max()) + 1 if num_classes == -1 else int(num_classes)
    if y.size and y.max() >= n:
        raise ValueError(f"one_hot: class values must be smaller than num_classes ({n})")
    return Tensor((y[..., None] == np.arange(n)).astype(np.int64))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias. x: (N, in), weight: (out, in), bias: (out,) -> (N, out)."""
    out = x @ weight.T
    return out if bias is None else out + bias


# ------------------------------------------------------------- penalties
def _params(params: Any) -> list:
    if isinstance(params, Tensor):
        return [params]
    ps = list(params)
    if not ps:
        raise ValueError("penalty: got no parameters")
    return ps


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    """sum of w^2 over all parameters (multiply by the regularisation strength yourself)."""
    return _sum_terms((w * w).sum() for w in _params(params))


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    """sum of |w| over all parameters."""
    return _sum_terms(w.abs().sum() for w in _params(params))


def elastic_net_penalty(params: Iterable[Tensor], beta: float) -> Tensor:
    """sum of beta * w^2 + |w| over all parameters (the lecture's elastic net)."""
    return _sum_terms((w * w).sum() * beta + w.abs().sum() for w in _params(params))


def _sum_terms(terms) -> Tensor:
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total
