"""Normalisation layers: BatchNorm1d, BatchNorm2d, LocalResponseNorm (kernels in chainrule.ops.norm).

BatchNorm normalises with the batch's statistics while training and keeps an
exponential moving average of them (running_mean, running_var, the variance
unbiased as in PyTorch) for eval mode. The buffers' names and
`num_batches_tracked` match PyTorch's state_dict keys.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, get_default_dtype
from . import functional as F
from .linear import layer_name
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    _shapes: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = get_default_dtype()
        # affine=True learns a scale (weight) and, unless bias=False, a shift (bias), as torch >= 2.6
        self.register_parameter("weight", Parameter(np.ones(self.num_features, dtype=dt)) if affine else None)
        self.register_parameter(
            "bias", Parameter(np.zeros(self.num_features, dtype=dt)) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        shape = np.shape(x)
        if len(shape) not in self._shapes or shape[1] != self.num_features:
            raise ValueError(
                f"{layer_name(self)}: expected input of shape {self._shape_text.format(C=self.num_features)}, got {shape}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight, self.bias, training=use_batch_stats, momentum=factor, eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per feature C."""

    _shapes = (2, 3)
    _shape_text = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Spatial batch normalisation of (N, C, H, W) inputs, per channel (statistics over N, H, W)."""

    _shapes = (4,)
    _shape_text = "(N, {C}, H, W)"


class LocalResponseNorm(Module):
    """AlexNet's normalisation across `size` neighbouring channels (PyTorch semantics):
    b_c = a_c / (k + alpha / size * sum_{c' near c} a_{c'}^2) ** beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        if np.ndim(x) < 3:
            raise ValueError(f"{layer_name(self)}: expected input of shape (N, C, ...) with 3 or more "
                             f"dimensions, got {np.shape(x)}")
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
