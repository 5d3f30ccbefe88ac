"""Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture") as torchvision
builds it, with torchvision's parameter names, and its factorised convolution as a block.

What v3 adds to GoogLeNet (v1), and what the lecture names:
  - factorisation: a 5x5 becomes two 3x3s (InceptionA), and an n x n becomes a 1 x n then an n x 1
    (`Factorized`; InceptionC with n = 7, InceptionE with n = 3 side by side): 2n C^2 weights
    instead of n^2 C^2 for the same receptive field (14 against 49 for n = 7);
  - grid reduction by parallel stride-2 branches (InceptionB, InceptionD) instead of a pool alone;
  - one auxiliary classifier on the 17x17 grid (`AuxLogits`), used in training only;
  - batch norm after every convolution (`BasicConv2d`, eps 1e-3, as in googlenet.py).

`inception_v3()` has 27,161,264 parameters (with the auxiliary classifier, 1000 classes; torchvision's
`Inception_V3_Weights.IMAGENET1K_V1` meta gives the same) and 23,834,568 without it. Input
299x299 as published; the smallest it accepts is 75x75.
"""
from __future__ import annotations

from collections import namedtuple
from contextlib import nullcontext as _nothing

from .. import nn
from ..nn import functional as F
from ..nn.init import constant_
from ..ops import cat
from ._init import deferred_init, drawing, trunc_normal_
from .googlenet import BasicConv2d, imagenet_to_half_range
from .registry import register_model

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])


class Factorized(nn.Module):
    """An n x n convolution factorised as 1 x n then n x 1 (each a BasicConv2d: conv - bn - relu).

    (N, in_channels, H, W) -> (N, out_channels, H, W) (the paddings keep the size). The same
    receptive field as one n x n conv with (n + n) * C_mid * C weights instead of n * n; mid
    (default out_channels) is the width between the two. `first="col"` puts the n x 1 first, as
    half of InceptionC's double branch does.
    """

    def __init__(self, in_channels: int, out_channels: int, n: int = 7, mid_channels: int | None = None,
                 first: str = "row"):
        super().__init__()
        if n < 1 or n % 2 == 0:
            raise ValueError(f"Factorized: n must be an odd kernel size >= 1 to keep the size, got {n}")
        if first not in ("row", "col"):
            raise ValueError(f"Factorized: first must be 'row' (1 x n first) or 'col' (n x 1 first), got {first!r}")
        mid = out_channels if mid_channels is None else mid_channels
        row, col = ((1, n), (0, n // 2)), ((n, 1), (n // 2, 0))
        (k1, p1), (k2, p2) = (row, col) if first == "row" else (col, row)
        self.conv_a = BasicConv2d(in_channels, mid, kernel_size=k1, padding=p1)
        self.conv_b = BasicConv2d(mid, out_channels, kernel_size=k2, padding=p2)

    def forward(self, x):
        return self.conv_b(self.conv_a(x))


def _avg3(x):
    # the pool branch: 3x3, stride 1, padding 1, the zeros counted (PyTorch's default count_include_pad)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 grid: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1 (64+64+96+pool_features)."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg3(x))], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionC(nn.Module):
    """17x17 grid with 7x7s factorised: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> (7x1 -> 1x7) x 2 | pool -> 1x1."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = conv(d)
        return cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | max pool."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionE(nn.Module):
    """8x8 grid, the expanded filter bank: 1x1 | 1x1 -> (1x3 and 3x1 side by side) |
    1x1 -> 3x3 -> (1x3 and 3x1 side by side) | pool -> 1x1; 320 + 768 + 768 + 192 = 2048 channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], dim=1)
        return cat([self.branch1x1(x), b3, d, self.branch_pool(_avg3(x))], dim=1)


class InceptionAux(nn.Module):
    """The auxiliary classifier on the 17x17 grid: 5x5 avg pool stride 3 - 1x1 conv (128) - 5x5 conv
    (768) - global average pool - fc."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(F.adaptive_avg_pool2d(x, (1, 1)).flatten(1))


class Inception3(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 75 (299 as published; 299 at least for the auxiliary
    classifier, whose 5x5 conv needs the 17x17 grid) -> (N, num_classes).

    In training mode with `aux_logits=True` the forward returns `InceptionOutputs(logits,
    aux_logits)` (train on loss + 0.4 * aux loss, as the paper), else the logits.
    `transform_input=True` maps ImageNet-normalised inputs to the (x - 0.5) / 0.5 of Google's weights.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: bool = True, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"Inception3: transform_input needs 3 input channels, got {in_channels}")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        with deferred_init(nn.Conv2d) if init_weights else _nothing():  # convs are drawn below
            self._build(num_classes, aux_logits, dropout, in_channels)
        if init_weights and drawing():
            self._init_weights()

    def _build(self, num_classes: int, aux_logits: bool, dropout: float, in_channels: int) -> None:
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)

    def _init_weights(self) -> None:
        # torchvision: truncated normal (cut at +-2, absolute), std 0.1, but 0.01 for the auxiliary
        # classifier's 5x5 conv and 0.001 for its fc; the fc biases keep nn.Linear's default draw;
        # batch norm 1 / 0.
        special = {}
        if self.AuxLogits is not None:
            special = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_(m.weight, std=special.get(id(m), 0.1), a=-2.0, b=2.0)
            elif isinstance(m, nn.BatchNorm2d):
                constant_(m.weight, 1.0)
                constant_(m.bias, 0.0)

    def _transform_input(self, x):
        return imagenet_to_half_range(x) if self.transform_input else x

    def forward(self, x):
        H, W = x.shape[-2:]
        if H < 75 or W < 75:
            raise ValueError(f"Inception3 needs inputs of at least 75x75 (299x299 as published), got {H}x{W}")
        if self.training and self.AuxLogits is not None and (H < 299 or W < 299):
            raise ValueError(f"Inception3: the auxiliary classifier (training mode, aux_logits=True) needs "
                             f"inputs of at least 299x299, got {H}x{W}; use eval mode or aux_logits=False")
        x = self._transform_input(x)
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = block(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(self.dropout(self.avgpool(x)).flatten(1))
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x


@register_model
def inception_v3(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 transform_input: bool = False, **kwargs) -> Inception3:
    """Inception-v3: 27,161,264 parameters with the auxiliary classifier (torchvision's count),
    23,834,568 without. Inputs 299x299 (at least 75x75)."""
    return Inception3(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                      in_channels=in_channels, **kwargs)
