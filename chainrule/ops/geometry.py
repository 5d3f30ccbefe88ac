"""Sizes shared by convolution and pooling, and by the layers, transforms and models above them.

    pair(3) == (3, 3);  pair((1, 2)) == (1, 2)
    conv_output_size(32, k=5, stride=1, pad=2) == 32          (the lecture: (W - F + 2P) / S + 1)
    pool_output_size(5, k=2, stride=2, pad=1, ceil_mode=True) == 3
    conv_geometry(x.shape, w.shape, b.shape, stride=1, padding=1)   # a checked ConvGeometry
"""
from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["pair", "conv_output_size", "pool_output_size", "ConvGeometry", "conv_geometry"]


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


class ConvGeometry(NamedTuple):
    """Every size of one convolution: input (N, C, H, W), weight (F, C, KH, KW),
    stride (sh, sw), zero padding (ph, pw), output (N, F, OH, OW)."""

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    sh: int
    sw: int
    ph: int
    pw: int
    OH: int
    OW: int


def conv_geometry(x_shape: tuple, w_shape: tuple, b_shape: tuple | None = None,
                  stride: Any = 1, padding: Any = 0) -> ConvGeometry:
    """The checked geometry of conv2d(x, w, b, stride, padding); a ValueError naming the
    expected shapes otherwise. b_shape is None when there is no bias."""
    if len(x_shape) != 4:
        raise ValueError(f"conv2d: expected a 4-D input (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (F, C, KH, KW), got shape {tuple(w_shape)}")
    N, C, H, W = x_shape
    F, Cw, KH, KW = w_shape
    if C != Cw:
        raise ValueError(
            f"conv2d: weight of shape {tuple(w_shape)} expects {Cw} input channels, "
            f"got input of shape {tuple(x_shape)} with {C} channels"
        )
    if b_shape is not None and tuple(b_shape) != (F,):
        raise ValueError(f"conv2d: bias must have shape ({F},) to match weight {tuple(w_shape)}, "
                         f"got {tuple(b_shape)}")
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"conv2d: stride must be positive, got {stride!r}")
    if ph < 0 or pw < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding!r}")
    if KH > H + 2 * ph or KW > W + 2 * pw:
        raise ValueError(
            f"conv2d: kernel size ({KH}, {KW}) is larger than the padded input "
            f"({H + 2 * ph}, {W + 2 * pw}) (input shape {tuple(x_shape)}, padding ({ph}, {pw}))"
        )
    OH, OW = conv_output_size(H, KH, sh, ph), conv_output_size(W, KW, sw, pw)
    return ConvGeometry(N, C, H, W, F, KH, KW, sh, sw, ph, pw, OH, OW)
