"""`Conv2d`: a learnable bank of filters slid over the image (the kernel is chainrule.ops.conv)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops.geometry import pair
from ..tensor import Tensor, get_default_dtype
from . import functional as F
from . import init
from .linear import layer_name
from .module import Module
from .parameter import Parameter


class Conv2d(Module):
    """x: (N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = (H + 2 pad - KH) // stride + 1.

    padding: an int, an (h, w) pair, "valid" (0) or "same" (OH = H, OW = W; stride 1 only; an even
    kernel's extra zero row/column goes at the bottom/right, as PyTorch).

    weight: (out_channels, in_channels, KH, KW), bias: (out_channels,), initialised as in PyTorch
    (kaiming_uniform_(a=sqrt(5)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))). dilation and groups
    other than 1 are not supported.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros"):
        super().__init__()
        if pair(dilation, "dilation", "Conv2d") != (1, 1) or groups != 1 or padding_mode != "zeros":
            raise ValueError("Conv2d: only dilation=1, groups=1 and padding_mode='zeros' are supported, "
                             f"got dilation={dilation}, groups={groups}, padding_mode={padding_mode!r}")
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"Conv2d: channel counts must be positive, got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        if isinstance(padding, str):
            F.string_padding(padding, self.kernel_size, self.stride)  # checks the string and the stride
            self.padding = padding  # kept as given, as PyTorch does
        else:
            self.padding = pair(padding, "padding", "Conv2d")
        dt = get_default_dtype()
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels, *self.kernel_size), dtype=dt))
        self.register_parameter("bias", Parameter(np.empty(self.out_channels, dtype=dt)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        shape = np.shape(x)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(
                f"{layer_name(self)}: expected input of shape (N, {self.in_channels}, H, W), got {shape}"
            )
        kh, kw = self.kernel_size
        if isinstance(self.padding, str):
            (ph, pw), (eh, ew) = F.string_padding(self.padding, self.kernel_size, self.stride)
        else:
            (ph, pw), (eh, ew) = self.padding, (0, 0)
        if shape[2] + 2 * ph + eh < kh or shape[3] + 2 * pw + ew < kw:
            raise ValueError(
                f"{layer_name(self)}: input of spatial size {shape[2:]} (padded by {self.padding}) "
                f"is smaller than the kernel {self.kernel_size}"
            )
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s
