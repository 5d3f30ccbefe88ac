"""DistributedDataParallel: one model replica per process, kept equal by averaging gradients.

    dist.init_process_group("mpi")
    ddp = DistributedDataParallel(model)      # every rank starts from rank 0's weights
    loss = loss_fn(ddp(X_shard), y_shard)     # each rank: its share of the global batch
    loss.backward()                           # ... gradients averaged over the ranks here
    opt.step()                                # the same step on every rank

As PyTorch's DDP: at wrap time rank 0's parameters and buffers are broadcast to every rank;
when a backward pass through the wrapped model ends, the gradients are averaged with
all_reduce in flat buckets of at most `bucket_cap_mb` (Horovod's tensor fusion: one message
per bucket instead of one per parameter), the buckets in one fixed order on every rank (the
parameters in reverse registration order, roughly the order backward produces them).
`no_sync()` skips the averaging for gradient accumulation; the next backward outside it
averages the accumulated sums. With one process nothing is sent.

A parameter without a gradient on a rank counts as zeros in the average, and gets the average
as its .grad when another rank had one (so every rank steps alike); None everywhere stays None.
Each rank's loss must be the mean over its share; with equal shares the average of the ranks'
gradients is the gradient of the mean over the global batch.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from ... import backend
from ... import distributed as dist
from ...autograd import Function, is_grad_enabled, queue_callback
from ...tensor import Tensor, wrap
from ..module import Module
from .sync_batchnorm import sync_batchnorm_in_place

__all__ = ["DistributedDataParallel"]


def _grad_array(p: Any) -> Any:
    """p.grad as an array (a chainrule Tensor's .data, or the array itself), or None."""
    g = p.grad
    return g.data if isinstance(g, Tensor) else g


def _set_grad(p: Any, a: Any) -> None:
    """Give p the gradient array a, as the autograd engine does (a Tensor around it)."""
    p.grad = wrap(a)


class _AfterBackward(Function):
    """Identity whose backward queues the gradient averaging for the end of the backward pass."""

    @staticmethod
    def forward(ctx, x, ddp):
        ctx.ddp = ddp
        return x

    @staticmethod
    def backward(ctx, grad_output):
        ctx.ddp._queue_reduce()
        return grad_output, None


class DistributedDataParallel(Module):
    """Data-parallel wrapper of `module` (see the module docstring).

    bucket_cap_mb: the largest flat bucket of gradients sent in one all_reduce (PyTorch's 25).
    broadcast_buffers: also give every rank rank 0's buffers (batch-norm running statistics)
        at wrap time.
    sync_batchnorm: the BatchNorm layers normalise with the global batch's statistics while
        training (as one process on the whole batch), keeping their class
        (nn.parallel.sync_batchnorm_in_place; SyncBatchNorm.convert_sync_batchnorm is PyTorch's way).
    `module` is the wrapped model (state_dict keys start with "module.", as PyTorch's).
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True,
                 sync_batchnorm: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a cr.nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        if sync_batchnorm:
            sync_batchnorm_in_place(module)
        self.module = module
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        self._queued = False
        self.buckets = self._buckets(int(self.bucket_cap_mb * 2 ** 20))
        for p in module.parameters():  # the same start everywhere
            dist.broadcast(p.data, src=0)
        if broadcast_buffers:
            for b in module.buffers():
                if b is not None:
                    dist.broadcast(b, src=0)

    def _buckets(self, cap: int) -> list[list[Any]]:
        """The parameters in reverse registration order, cut into runs of one dtype and device of
        at most `cap` bytes (a larger parameter gets a bucket of its own)."""
        buckets: list[list[Any]] = []
        size, key = 0, None
        for p in reversed([p for p in self.module.parameters() if p.requires_grad]):
            k = (p.data.dtype, backend.device_of(p.data))
            nbytes = p.data.size * p.data.itemsize
            if not buckets or k != key or size + nbytes > cap:
                buckets.append([])
                size, key = 0, k
            buckets[-1].append(p)
            size += nbytes
        return buckets

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module(*args, **kwargs)
        if not (is_grad_enabled() and self.require_backward_grad_sync and dist.get_world_size() > 1):
            return out
        if isinstance(out, Tensor):
            return _AfterBackward.apply(out, self) if out.requires_grad else out
        if isinstance(out, (tuple, list)):
            return type(out)(_AfterBackward.apply(o, self) if isinstance(o, Tensor) and o.requires_grad else o
                             for o in out)
        return out

    def _queue_reduce(self) -> None:
        if not self._queued:  # once per backward, however many outputs lead back here
            self._queued = True
            queue_callback(self._reduce_after_backward)

    def _reduce_after_backward(self) -> None:
        self._queued = False
        self.reduce_gradients()

    def reduce_gradients(self) -> None:
        """Average every parameter's gradient over the ranks now, bucket by bucket (backward
        does this by itself; call it on a rank that had nothing to backpropagate this step)."""
        if dist.get_world_size() == 1:
            return
        n = dist.get_world_size()
        for bucket in self.buckets:
            grads = [_grad_array(p) for p in bucket]
            xp = backend.array_module(bucket[0].data)
            flat = xp.concatenate([(g if g is not None else xp.zeros_like(p.data)).reshape(-1)
                                   for g, p in zip(grads, bucket)])
            dist.all_reduce(flat, dist.ReduceOp.SUM)
            flat /= n
            start = 0
            for g, p in zip(grads, bucket):
                avg = flat[start:start + p.data.size].reshape(p.data.shape)
                start += p.data.size
                if g is not None:
                    g[...] = avg
                elif xp.any(avg != 0):  # others had a gradient (the same test on every rank)
                    _set_grad(p, avg.copy())

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within the block, backward passes accumulate gradients locally (no communication);
        the first backward after it averages the sums."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before
