"""ResNets for 32x32 images (He et al. 2015, "Deep Residual Learning", section 4.2).

The first layer is a 3x3 convolution with 16 filters, then three stages of n
basic blocks (two 3x3 convolutions each) on maps of 32x32, 16x16 and 8x8 with
16, 32 and 64 filters, then global average pooling and a 10-way affine layer:
6n + 2 weighted layers (resnet20: n = 3, resnet56: n = 9).

Where a stage halves the map and doubles the width, the shortcut must change
shape too. Option A (the paper's CIFAR choice, the default) keeps it
parameter-free: take every second pixel and pad the new channels with zeros.
Option B uses a 1x1 convolution with stride 2 plus batch norm (a projection),
adding a few parameters. Parameter counts (option A): resnet20 269,722 (the
paper's table 6: 0.27M), resnet56 853,018 (0.85M).
"""
from __future__ import annotations

from .. import nn
from ..nn import functional as F
from ._init import deferred_init, resnet_init_
from ..ops import pad
from .registry import register_model


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: subsample by `stride` and zero-pad channels in_planes -> out_planes."""

    def __init__(self, in_planes: int, out_planes: int, stride: int = 2):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ZeroPadShortcut: out_planes ({out_planes}) must be >= in_planes ({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_planes - self.in_planes
        return pad(x, ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)))

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


class CifarBasicBlock(nn.Module):
    """conv3x3 - bn - relu - conv3x3 - bn, plus the shortcut, then relu."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride == 1 and in_planes == planes:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ZeroPadShortcut(in_planes, planes, stride)
        elif shortcut == "B":
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        else:
            raise ValueError(f"CifarBasicBlock: shortcut must be 'A' or 'B', got {shortcut!r}")

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """A 6n+2-layer ResNet for 32x32 inputs. x: (N, in_channels, H, W) -> (N, num_classes)."""

    def __init__(self, n: int = 3, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A",
                 widths: tuple = (16, 32, 64)):
        super().__init__()
        if n < 1:
            raise ValueError(f"ResNetCifar: n (blocks per stage) must be >= 1, got {n}")
        w1, w2, w3 = widths
        with deferred_init(nn.Conv2d):  # every conv is initialised below
            self.conv1 = nn.Conv2d(in_channels, w1, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(w1)
            self.layer1 = self._stage(w1, w1, n, 1, shortcut)
            self.layer2 = self._stage(w1, w2, n, 2, shortcut)
            self.layer3 = self._stage(w2, w3, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        # He et al.: "We initialize the weights as in [13]" (He init), BN scale 1, shift 0.
        resnet_init_(self)

    @staticmethod
    def _stage(in_planes: int, planes: int, n: int, stride: int, shortcut: str) -> nn.Sequential:
        blocks = [CifarBasicBlock(in_planes, planes, stride, shortcut)]
        blocks += [CifarBasicBlock(planes, planes, 1, shortcut) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


@register_model
def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> ResNetCifar:
    """A ResNet of `depth` = 6n + 2 layers (20, 32, 44, 56, 110, ...)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth}")
    return ResNetCifar((depth - 2) // 6, num_classes, in_channels, shortcut)


@register_model
def resnet20(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> ResNetCifar:
    """ResNet-20 (n = 3): 269,722 parameters with option A shortcuts (paper: 0.27M)."""
    return ResNetCifar(3, num_classes, in_channels, shortcut)


@register_model
def resnet56(num_classes: int = 10, in_channels: int = 3, shortcut: str = "A") -> ResNetCifar:
    """ResNet-56 (n = 9): 853,018 parameters with option A shortcuts (paper: 0.85M)."""
    return ResNetCifar(9, num_classes, in_channels, shortcut)
