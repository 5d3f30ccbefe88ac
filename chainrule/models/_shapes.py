"""Output shapes of the spatial layers, computed from their settings alone.

`summary` and `receptive_field` use these to follow a forward pass without
doing the convolutions' arithmetic (VGG-16 at 224x224 is ~15 G multiply-adds).
The formulas are PyTorch's (the layers compute the same sizes).
"""
from __future__ import annotations

import math
from typing import Any

from .. import nn


def pair(v: Any) -> tuple[int, int]:
    """3 -> (3, 3); (3, 5) -> (3, 5)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_out(size: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Output length along one axis of a convolution or pooling window."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    # A window may not start in the right padding (PyTorch's rule for ceil_mode).
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def window(m: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], bool] | None:
    """(kernel, stride, padding, dilation, ceil_mode) of a conv/pool layer, each per axis; else None."""
    if isinstance(m, nn.Conv2d):
        return (pair(m.kernel_size), pair(m.stride), pair(m.padding), pair(getattr(m, "dilation", 1)), False)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = pair(m.kernel_size)
        s = pair(m.stride) if m.stride is not None else k
        return (k, s, pair(m.padding), pair(getattr(m, "dilation", 1)), bool(getattr(m, "ceil_mode", False)))
    return None


def _spatial_out(m: nn.Module, name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil = window(m)
    oh = conv_out(shape[-2], kh, sh, ph, dh, ceil)
    ow = conv_out(shape[-1], kw, sw, pw, dw, ceil)
    if oh < 1 or ow < 1:
        raise ValueError(f"{name} ({type(m).__name__}): input of size {shape[-2]}x{shape[-1]} is too small "
                         f"for kernel {kh}x{kw} with padding {ph}x{pw} (output would be {oh}x{ow})")
    return oh, ow


def output_shape(m: nn.Module, name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The output shape of leaf layer `m` for an input of `shape`, or None if not
    known here (the layer is then run for real). Raises ValueError where the
    layer itself would reject the input."""
    if isinstance(m, nn.Conv2d):
        if len(shape) != 4 or shape[1] != m.in_channels:
            raise ValueError(f"{name} (Conv2d): expected input (N, {m.in_channels}, H, W), got {tuple(shape)}")
        return (shape[0], m.out_channels, *_spatial_out(m, name, shape))
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if len(shape) not in (3, 4):
            raise ValueError(f"{name} ({type(m).__name__}): expected input (N, C, H, W), got {tuple(shape)}")
        return (*shape[:-2], *_spatial_out(m, name, shape))
    if isinstance(m, nn.AdaptiveAvgPool2d):
        oh, ow = (m.output_size, m.output_size) if not isinstance(m.output_size, (tuple, list)) else m.output_size
        return (*shape[:-2], shape[-2] if oh is None else int(oh), shape[-1] if ow is None else int(ow))
    if isinstance(m, nn.Linear):
        if shape[-1] != m.in_features:
            raise ValueError(f"{name} (Linear): expected input (*, {m.in_features}), got {tuple(shape)}")
        return (*shape[:-1], m.out_features)
    return None
