"""Normalisation layers: batch norm (lecture 6) and local response norm (AlexNet).

Batch norm normalises each channel over the batch (and spatial) axes:

    xhat = (x - mean) * invstd,    y = gamma * xhat + beta,    invstd = 1 / sqrt(var + eps)

and its backward, in the compact closed form (m values per channel):

    dx = (1/m) * gamma * invstd * (m * dy - sum(dy) - xhat * sum(dy * xhat))

In training it uses the batch statistics and moves the running statistics
towards them in place (with the UNBIASED batch variance, as PyTorch); in eval
it uses the running statistics, and backward is just the affine map's.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .conv import buffers


def _channels_last_axis(x: np.ndarray) -> np.ndarray:
    """x viewed as (N, C, L): every reduction is then over axes 0 and 2."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def _per_channel(v, C: int, dtype) -> np.ndarray:
    return v.astype(dtype, copy=False).reshape(1, C, 1)


def _check_bn(x, running_mean, running_var, weight, bias, training, momentum) -> None:
    if np.ndim(x) not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected a 2-D, 3-D or 4-D input (N, C[, L | H, W]), got shape {np.shape(x)}")
    C = x.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if v is not None and np.shape(v) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input of shape {x.shape}, got {np.shape(v)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    if training and x.size // C <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape {x.shape}")
    if training and running_mean is not None and momentum is None:
        raise ValueError("batch_norm: momentum must be a float (the module handles momentum=None)")


class BatchNorm(Function):
    """x: (N, C), (N, C, L) or (N, C, H, W); weight, bias: (C,) or None."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        _check_bn(x, running_mean, running_var, weight, bias, training, momentum)
        C = x.shape[1]
        x3 = _channels_last_axis(x)
        m = x3.shape[0] * x3.shape[2]
        if training:
            mean = x3.sum(axis=2).sum(axis=0) / m
            xc = x3 - mean.reshape(1, C, 1)
            var = np.einsum("ncl,ncl->c", xc, xc) / m  # biased: used to normalise
            if running_mean is not None:  # unbiased variance for the running estimate
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * var * (m / (m - 1))
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
            xc = None
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        scale = invstd if weight is None else invstd * weight
        # y = (x - mean) * invstd * gamma + beta as one multiply and one add
        if training:
            y = np.multiply(xc, _per_channel(scale, C, x.dtype))
            shift = bias
        else:
            y = np.multiply(x3, _per_channel(scale, C, x.dtype))
            shift = -mean * scale if bias is None else bias - mean * scale
        if shift is not None:
            y += _per_channel(shift, C, x.dtype)
        ctx.training = training
        ctx.save_for_backward(xc if training else x3, mean, invstd, weight)
        ctx.shape = x.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xs, mean, invstd, weight = ctx.saved_tensors
        C = ctx.shape[1]
        g3 = _channels_last_axis(g)
        m = g3.shape[0] * g3.shape[2]
        gamma = np.ones(C, g.dtype) if weight is None else weight.astype(g.dtype, copy=False)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        sum_dy = g3.sum(axis=2).sum(axis=0)
        if ctx.training:
            xc = xs  # x - mean
            sum_dy_xhat = np.einsum("ncl,ncl->c", g3, xc) * invstd
        else:
            sum_dy_xhat = (np.einsum("ncl,ncl->c", g3, xs) - mean * sum_dy) * invstd
        dx = None
        if need_x:
            a = gamma * invstd
            if ctx.training:
                # dx = a * dy - a/m * sum(dy) - a/m * invstd * sum(dy*xhat) * (x - mean)
                b = -a * invstd * sum_dy_xhat / m
                tmp = buffers.get("bn.tmp", xc.shape, g.dtype)  # scratch: avoids a fresh temporary
                np.multiply(xc, _per_channel(b, C, g.dtype), out=tmp)
                dx = np.multiply(g3, _per_channel(a, C, g.dtype))
                dx += tmp
                dx -= _per_channel(a * sum_dy / m, C, g.dtype)
            else:  # the statistics are constants: backward of an affine map
                dx = g3 * _per_channel(a, C, g.dtype)
            dx = dx.reshape(ctx.shape)
        dw = sum_dy_xhat if need_w else None
        db = sum_dy if need_b else None
        return dx, dw, db, None, None, None, None, None


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
    ap = np.pad(a, pad)
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
        if np.ndim(x) < 3:
            raise ValueError(f"local_response_norm: expected an input with 3 or more dimensions (N, C, ...), "
                             f"got shape {np.shape(x)}")
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
