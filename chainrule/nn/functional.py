"""`chainrule.nn.functional` (import as F): the stateless ops behind the layers.

PyTorch's names and semantics. The convolution, pooling and normalisation
kernels live in chainrule/ops/{conv,pool,norm}.py; activations and losses in
chainrule/ops/{activation,loss,dropout}.py; this module gathers them.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..ops.activation import elu, leaky_relu, log_softmax, softmax  # noqa: F401
from ..ops.conv import conv2d  # noqa: F401
from ..ops.dropout import dropout  # noqa: F401
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss, svm_loss  # noqa: F401
from ..ops.norm import batch_norm, local_response_norm  # noqa: F401
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401
from ..tensor import Tensor


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
