"""Sizes shared by convolution and pooling, and by the layers, transforms and models above them.

    pair(3) == (3, 3);  pair((1, 2)) == (1, 2)
    conv_output_size(32, k=5, stride=1, pad=2) == 32          (the lecture: (W - F + 2P) / S + 1)
    pool_output_size(5, k=2, stride=2, pad=1, ceil_mode=True) == 3
"""
from __future__ import annotations

from typing import Any

__all__ = ["pair", "conv_output_size", "pool_output_size"]


def pair(v: Any, name: str = "size", op: str = "conv2d") -> tuple[int, int]:
    """An int or a pair of ints as (a, b); a clear ValueError naming `op` and `name` otherwise."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair, got {v!r}")
        a, b = v
    else:
        a = b = v
    if isinstance(a, bool) or isinstance(b, bool):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    try:
        ia, ib = int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None
    if ia != a or ib != b:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return ia, ib


def conv_output_size(size: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: (size + 2*pad - dilation*(k-1) - 1) // stride + 1."""
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def pool_output_size(size: int, k: int, stride: int, pad: int, ceil_mode: bool = False) -> int:
    """Output length of a pooling window along one axis, PyTorch's rule: with ceil_mode the last
    window must start inside the input or the left padding."""
    num = size + 2 * pad - k
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out
