"""Moving a tensor between devices, as a differentiable op (PyTorch's `x.to("cuda")`)."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import Tensor

__all__ = ["ToDevice", "to_device"]


class ToDevice(Function):
    """a: any shape -> the same values on `device`; the gradient goes back to a's device."""

    @staticmethod
    def forward(ctx, a, device):
        ctx.source = backend.device_of(a)
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return backend.to_device(g, ctx.source), None


def to_device(a: Tensor, device) -> Tensor:
    """a on `device` ("cpu", "cuda", "cuda:N" or a `cr.device`)."""
    return ToDevice.apply(a, backend.device(device))
