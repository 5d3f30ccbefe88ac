"""SyncBatchNorm: batch normalisation whose training statistics are those of the global batch.

With data parallelism each rank sees only its share of the batch; plain BatchNorm then
normalises with per-rank statistics, which differ from one process's on the whole batch
(the more so the smaller the share). SyncBatchNorm all-reduces, per channel, the count, the
sum and the sum of squares in forward, and the sums of dy and dy * x_hat in backward (as
PyTorch's SyncBatchNorm), so the forward pass, the gradients (after DDP's average) and the
running statistics equal one process's on the whole batch. In eval mode, or with one
process, it is BatchNorm.

Two ways in: `SyncBatchNorm.convert_sync_batchnorm(model)` (PyTorch's: the layers become
SyncBatchNorm modules), or `sync_batchnorm_in_place(model)` (what DistributedDataParallel's
sync_batchnorm=True and the Solver use): the BatchNorm1d/2d layers keep their class, and so the
model's config, checkpoints, ONNX export and `cr.load`, and only their training forward pass
synchronises the statistics while more than one rank trains.
"""
from __future__ import annotations

import types
from typing import Any

import numpy as np

from ... import backend
from ... import distributed as dist
from ...autograd import Function
from ...tensor import Tensor
from ..module import Module
from ..normalization import BatchNorm1d, BatchNorm2d, _BatchNorm

__all__ = ["SyncBatchNorm", "sync_batchnorm_in_place"]


def _axes(x: Any) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _channel(v: Any, ndim: int) -> Any:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class _SyncBatchNormFn(Function):
    """y = weight * (x - mean) / sqrt(var + eps) + bias with the global batch's mean and
    (biased) var; the running statistics are updated from the same global values."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        xp = backend.array_module(x)
        axes = _axes(x)
        local = np.prod([x.shape[a] for a in axes])
        stats = xp.concatenate([x.sum(axis=axes), (x * x).sum(axis=axes),
                                xp.asarray([float(local)], dtype=x.dtype)])
        dist.all_reduce(stats, dist.ReduceOp.SUM)
        c = x.shape[1]
        count = float(stats[2 * c])
        mean = stats[:c] / count
        var = xp.maximum(stats[c:2 * c] / count - mean * mean, 0)
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * var * (count / max(count - 1, 1))
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = (x - _channel(mean, x.ndim)) * _channel(invstd, x.ndim)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.count = count
        out = xhat
        if weight is not None:
            out = out * _channel(weight, x.ndim)
        if bias is not None:
            out = out + _channel(bias, x.ndim)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dy):
        xhat, invstd, weight = ctx.saved_tensors
        xp = backend.array_module(dy)
        axes = _axes(dy)
        sum_dy, sum_dy_xhat = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
        both = xp.concatenate([sum_dy, sum_dy_xhat])
        dist.all_reduce(both, dist.ReduceOp.SUM)  # over the global batch (the rank-scaled dy)
        c = dy.shape[1]
        g_mean, g_xmean = both[:c] / ctx.count, both[c:] / ctx.count
        scale = invstd if weight is None else invstd * weight
        dx = _channel(scale, dy.ndim) * (dy - _channel(g_mean, dy.ndim) - xhat * _channel(g_xmean, dy.ndim))
        # weight and bias: this rank's part; DDP's average over the ranks completes them
        dw = sum_dy_xhat if weight is not None else None
        return dx.astype(dy.dtype, copy=False), dw, sum_dy, None, None, None, None


def _sync_forward(bn: _BatchNorm, x: Tensor, plain) -> Tensor:
    """bn's forward with the global batch's statistics while training on several ranks, else plain(x)."""
    if not bn.training or dist.get_world_size() == 1:
        return plain(x)
    shape = np.shape(x)
    if len(shape) < 2 or shape[1] != bn.num_features:
        raise ValueError(f"SyncBatchNorm: expected input of shape (N, {bn.num_features}, ...), got {shape}")
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.track_running_stats:
        bn.num_batches_tracked[...] += 1
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
    track = bn.track_running_stats
    return _SyncBatchNormFn.apply(x, bn.weight, bn.bias, bn.running_mean if track else None,
                                  bn.running_var if track else None, factor, bn.eps)


def sync_batchnorm_in_place(module: Module) -> int:
    """Make every BatchNorm1d/2d in `module` synchronise its training statistics over the ranks,
    keeping its class (an instance-level forward); returns how many. Idempotent."""
    count = 0
    for m in module.modules():
        if isinstance(m, (BatchNorm1d, BatchNorm2d)) and "forward" not in m.__dict__:
            m.forward = types.MethodType(_synced_forward, m)  # a bound method: deepcopy rebinds it
            count += 1
    return count


def _synced_forward(self: _BatchNorm, x: Tensor) -> Tensor:
    return _sync_forward(self, x, lambda t: type(self).forward(self, t))


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs whose training statistics span every rank's batch."""

    _shapes = (2, 3, 4, 5)
    _shape_text = "(N, {C}, ...)"

    def forward(self, x: Tensor) -> Tensor:
        return _sync_forward(self, x, super().forward)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """`module` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and buffers (in place for children; returns the new root if it is one)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      bias=module.bias is not None)
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    new.register_parameter(name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                new.register_buffer(name, getattr(module, name))
            new.train(module.training)
            return new
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child)
            if converted is not child:
                setattr(module, name, converted)
        return module
