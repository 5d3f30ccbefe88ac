"""Gradient clipping (PyTorch's `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`).

    loss.backward()
    cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

Both work on the gradients where they live (CPU or GPU): no copy to the host, no sync.
"""
from __future__ import annotations

import math
from typing import Iterable

from .. import backend
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in ps if p.grad is not None]


def _norm(g, norm_type: float):
    """The norm_type-norm of all of g's entries, as a 0-d array on g's device."""
    if math.isinf(norm_type):
        return abs(g).max()
    if norm_type == 2.0:
        return (g * g).sum() ** 0.5
    return (abs(g) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients of `parameters` together so that their joint norm is at most max_norm.

    The norm is taken over all gradients as if concatenated into one vector (norm_type 2 by default,
    float("inf") for the largest |g|); each gradient is multiplied by min(1, max_norm / (norm + 1e-6)),
    as PyTorch does. Returns the norm before clipping (a 0-d Tensor on the gradients' device).
    error_if_nonfinite: raise RuntimeError when that norm is nan or inf (else the gradients become nan).
    """
    norm_type = float(norm_type)
    ps = _with_grads(parameters)
    if not ps:
        return Tensor(0.0)
    xp = backend.array_module(ps[0].grad.data)
    norms = xp.stack([_norm(p.grad.data, norm_type).astype(ps[0].grad.dtype) for p in ps])
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped (error_if_nonfinite=True)")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in ps:
        p.grad = p.grad.data * coef.astype(p.grad.dtype)  # a new array: a gradient may be shared
    return Tensor(total)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient entry of `parameters` into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for p in _with_grads(parameters):
        p.grad = p.grad.data.clip(-clip_value, clip_value)
