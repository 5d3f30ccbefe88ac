"""Fully connected layers: `Linear`, `Maxout`, plus `Identity` and `Flatten`."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def layer_name(layer: Module) -> str:
    """"Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1))": how errors name a layer."""
    return f"{layer._get_name()}({layer.extra_repr()})"


def _check_features(layer: Module, x: Any, n: int) -> None:
    shape = np.shape(x)
    if len(shape) < 2 or shape[-1] != n:
        raise ValueError(f"{layer_name(layer)}: expected input of shape (N, {n}), got {shape}")


def _empty(*shape: int) -> Parameter:
    return Parameter(np.empty(shape, dtype=get_default_dtype()))


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) with the defaults start_dim=1, end_dim=-1."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension `dim` into `unflattened_size`: (N, 12) -> (N, 3, 2, 2) with
    Unflatten(1, (3, 2, 2)); the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]):
        super().__init__()
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(np.shape(x))
        d = self.dim % len(shape)
        known = int(np.prod([s for s in self.unflattened_size if s != -1]))
        if (-1 not in self.unflattened_size and known != shape[d]) or (known and shape[d] % known):
            raise ValueError(f"{layer_name(self)}: cannot unflatten dimension {self.dim} of size {shape[d]} "
                             f"into {self.unflattened_size}")
        return x.reshape(*shape[:d], *self.unflattened_size, *shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Linear(Module):
    """y = x W^T + b. x: (N, in_features) (or (N, ..., in_features)) -> (N, out_features).

    weight: (out_features, in_features), bias: (out_features,); initialised as in
    PyTorch: kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(in), 1/sqrt(in)) for the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = _empty(self.out_features, self.in_features)
        self.register_parameter("bias", _empty(self.out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        _check_features(self, x, self.in_features)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Maxout(Module):
    """Maxout (Goodfellow et al. 2013): the max over `pieces` affine maps of the input.

    One Linear to out_features * pieces, reshaped to (N, out_features, pieces), max over the last axis.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = int(in_features), int(out_features), int(pieces)
        self.linear = Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        shape = np.shape(x)
        if len(shape) != 2 or shape[1] != self.in_features:
            raise ValueError(f"{layer_name(self)}: expected input of shape (N, {self.in_features}), got {shape}")
        z = self.linear(x).reshape(shape[0], self.out_features, self.pieces)
        return z.max(axis=2)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"
