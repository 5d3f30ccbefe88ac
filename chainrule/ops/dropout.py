"""Inverted dropout: zero each activation with probability p and scale the
survivors by 1/(1-p) at train time, so nothing changes at test time."""
from __future__ import annotations

from .. import backend, rng
from ..autograd import Function
from ..tensor import Tensor


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        keep = rng.get_generator().random(x.shape) >= p
        if backend.is_device_array(x):
            # Drawn on the host from chainrule's generator, then copied (as booleans: a quarter
            # of a float32 mask's bytes): a seed gives the same mask on every device, so GPU
            # and CPU runs can be compared step for step.
            keep = backend.to_device(keep, backend.device_of(x))
        # p == 1 drops everything (and must not divide by zero)
        mask = keep.astype(x.dtype) * (x.dtype.type(1.0 / (1.0 - p)) if p < 1 else x.dtype.type(0))
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout; the identity when not training or p == 0. Draws from chainrule.rng."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    return Dropout.apply(x, float(p))
