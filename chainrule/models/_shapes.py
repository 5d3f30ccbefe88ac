"""Output shapes of the spatial layers, computed from their settings alone.

`summary` and `receptive_field` use these to follow a forward pass without
doing the convolutions' arithmetic (VGG-16 at 224x224 is ~15 G multiply-adds).
The formulas are PyTorch's (the layers compute the same sizes).
"""
from __future__ import annotations

from .. import nn
from ..ops.geometry import conv_output_size, pair, pool_output_size


def _conv_padding(padding, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """A conv's padding per axis at the top/left. PyTorch's strings: 'valid' is 0; 'same' pads
    dilation * (k - 1) in all, the odd pixel (even kernels) at the bottom/right, so the top/left
    share is the floor of half."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        raise ValueError(f"Conv2d: padding must be a number, a pair, 'same' or 'valid', got {padding!r}")
    return pair(padding)


def window(m: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], bool] | None:
    """(kernel, stride, padding, dilation, ceil_mode) of a conv/pool layer, each per axis (padding:
    the top/left share); else None."""
    if isinstance(m, nn.Conv2d):
        k, d = pair(m.kernel_size), pair(getattr(m, "dilation", 1))
        return (k, pair(m.stride), _conv_padding(m.padding, k, d), d, False)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = pair(m.kernel_size)
        s = pair(m.stride) if m.stride is not None else k
        return (k, s, pair(m.padding), pair(getattr(m, "dilation", 1)), bool(getattr(m, "ceil_mode", False)))
    return None


def _spatial_out(m: nn.Module, name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil = window(m)
    if isinstance(m, nn.Conv2d) and getattr(m, "padding", None) == "same":  # stride 1 only: the size is kept
        return shape[-2], shape[-1]
    if isinstance(m, nn.Conv2d):
        oh, ow = conv_output_size(shape[-2], kh, sh, ph, dh), conv_output_size(shape[-1], kw, sw, pw, dw)
    else:  # the pools take dilation 1 only
        oh, ow = pool_output_size(shape[-2], kh, sh, ph, ceil), pool_output_size(shape[-1], kw, sw, pw, ceil)
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
