"""`chainrule.nn.functional` (import as F): the stateless ops behind the layers.

PyTorch's names and semantics. The convolution, pooling and normalisation
kernels live in chainrule/ops/{conv,pool,norm}.py; activations and losses in
chainrule/ops/{activation,loss,dropout}.py; this module gathers them.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..ops.activation import elu, leaky_relu, log_softmax, softmax  # noqa: F401
from ..ops.dropout import dropout  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.loss import cross_entropy, mse_loss, svm_loss  # noqa: F401
from ..ops.loss import binary_cross_entropy_with_logits  # noqa: F401
from ..tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias. x: (N, in), weight: (out, in), bias: (out,) -> (N, out)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """x: (N, C, H, W), weight: (F, C, KH, KW), bias: (F,) -> (N, F, OH, OW)."""
    from ..ops.conv import conv2d as _conv2d

    return _conv2d(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False) -> Tensor:
    from ..ops.pool import max_pool2d as _max_pool2d

    return _max_pool2d(x, kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    from ..ops.pool import avg_pool2d as _avg_pool2d

    return _avg_pool2d(x, kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                       count_include_pad=count_include_pad)


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    from ..ops.pool import adaptive_avg_pool2d as _adaptive_avg_pool2d

    return _adaptive_avg_pool2d(x, output_size)


def batch_norm(x: Tensor, running_mean: Any, running_var: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm: running_mean/running_var (ndarrays) are updated in
    place when training (with the unbiased batch variance)."""
    from ..ops.norm import batch_norm as _batch_norm

    return _batch_norm(x, running_mean, running_var, weight, bias, training=training,
                       momentum=momentum, eps=eps)


def local_response_norm(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    from ..ops.norm import local_response_norm as _lrn

    return _lrn(x, size, alpha=alpha, beta=beta, k=k)


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
