"""Normalisation layers: batch norm (lecture 6) and local response norm (AlexNet).

Batch norm normalises each channel over the batch (and spatial) axes:

    xhat = (x - mean) * invstd,    y = gamma * xhat + beta,    invstd = 1 / sqrt(var + eps)

and its backward, in the compact closed form (m values per channel):

    dx = (1/m) * gamma * invstd * (m * dy - sum(dy) - xhat * sum(dy * xhat))

In training it uses the batch statistics and moves the running statistics
towards them in place (with the UNBIASED batch variance, as PyTorch); in eval
it uses the running statistics, and backward is just the affine map's.

Speed: `norm_cpu` (chunked NumPy passes, the reference, or norm_jit's compiled loops,
the default where Numba is there), `norm_device` on CuPy arrays; `dispatch` chooses.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import dispatch

def _check_bn(x, running_mean, running_var, weight, bias, training, momentum) -> None:
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected a 2-D, 3-D or 4-D input (N, C[, L | H, W]), got shape {x.shape}")
    C = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and v.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input of shape {x.shape}, got {v.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    if training and x.size // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape {x.shape}")
    if training and running_mean is not None and momentum is None:
        raise ValueError("batch_norm: momentum must be a float (the module handles momentum=None)")


class BatchNorm(Function):
    """x: (N, C), (N, C, L) or (N, C, H, W); weight, bias: (C,) or None. Where it runs
    (`norm_cpu` with NumPy or compiled passes, `norm_device`) is `dispatch`'s choice."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        _check_bn(x, running_mean, running_var, weight, bias, training, momentum)
        return dispatch.forward("batch_norm", ctx, x, weight, bias, running_mean, running_var,
                                training, momentum, eps)

    @staticmethod
    def backward(ctx, g):
        return dispatch.backward(ctx, g)


def batch_norm(x: Tensor, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm: normalise each channel of x: (N, C), (N, C, L) or
    (N, C, H, W). Training uses batch statistics and updates running_mean/running_var
    (float ndarrays (C,), or None) in place; eval uses the running statistics."""
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    return BatchNorm.apply(x, weight, bias, rm, rv, bool(training), momentum, eps)


# ---------------------------------------------------------------------- LRN
def _channel_window_sum(a: np.ndarray, before: int, after: int, size: int) -> np.ndarray:
    """s[:, c] = sum of a[:, c - before : c + after + 1] (zero outside the channels)."""
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    ap = backend.array_module(a).pad(a, pad)
    C = a.shape[1]
    s = ap[:, 0:C].copy()
    for t in range(1, size):  # a loop over the `size` offsets, not over channels
        s += ap[:, t:t + C]
    return s


class LocalResponseNorm(Function):
    """b_c = a_c / (k + alpha/size * sum_{c' in window(c)} a_c'^2)^beta, window
    c - size//2 .. c + (size-1)//2 (PyTorch's, also for even sizes)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        if x.ndim < 3:
            raise ValueError(f"local_response_norm: expected an input with 3 or more dimensions (N, C, ...), "
                             f"got shape {x.shape}")
        if int(size) <= 0:
            raise ValueError(f"local_response_norm: size must be positive, got {size!r}")
        size = int(size)
        s = _channel_window_sum(x * x, size // 2, (size - 1) // 2, size)
        d = k + (alpha / size) * s
        dpow = d ** -beta
        ctx.save_for_backward(x, d, dpow)
        ctx.params = (size, alpha, beta)
        return x * dpow

    @staticmethod
    def backward(ctx, g):
        x, d, dpow = ctx.saved_tensors
        size, alpha, beta = ctx.params
        # dL/da_j = g_j d_j^-beta - 2 beta alpha/size a_j * sum_{c: j in window(c)} g_c a_c d_c^(-beta-1);
        # j is in window(c) exactly when c is in j - (size-1)//2 .. j + size//2.
        t = g * x * dpow / d
        r = _channel_window_sum(t, (size - 1) // 2, size // 2, size)
        return g * dpow - (2 * beta * alpha / size) * x * r, None, None, None, None


def local_response_norm(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """torch.nn.functional.local_response_norm over the channels of x: (N, C, ...)."""
    return LocalResponseNorm.apply(x, size, alpha, beta, k)
