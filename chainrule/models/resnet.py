"""ResNet-18/34/50/101/152 (He et al. 2015) as torchvision builds them (v1.5:
the stride of a bottleneck sits on its 3x3 convolution), with the same
parameter names (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`).
"""
from __future__ import annotations

from typing import Sequence

from .. import nn
from ..nn.init import constant_
from ._init import deferred_init, resnet_init_
from .registry import register_model


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _downsample(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """The projection shortcut (option B) where the block changes size or width."""
    return nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))


class BasicBlock(nn.Module):
    """conv3x3 - bn - relu - conv3x3 - bn, plus the shortcut, then relu (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: bool = False):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(inplanes, planes, stride) if downsample else None
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """conv1x1 (reduce) - bn - relu - conv3x3 - bn - relu - conv1x1 (expand x4) - bn,
    plus the shortcut, then relu (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: bool = False):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride) if downsample else None
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 32 (224 as published) -> (N, num_classes).

    block: "basic" or "bottleneck"; layers: blocks per stage, e.g. [2, 2, 2, 2].
    `zero_init_residual` zeroes each block's last batch-norm scale, so that every
    block starts as the identity (Goyal et al. 2017).
    """

    def __init__(self, block: str = "basic", layers: Sequence[int] = (2, 2, 2, 2), num_classes: int = 1000,
                 in_channels: int = 3, zero_init_residual: bool = False):
        super().__init__()
        try:
            block_cls = _BLOCKS[block]
        except KeyError:
            raise ValueError(f"ResNet: block must be one of {sorted(_BLOCKS)}, got {block!r}") from None
        with deferred_init(nn.Conv2d):  # every conv is re-initialised below
            self._build(block_cls, layers, num_classes, in_channels)
        resnet_init_(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    constant_(m.bn3.weight, 0.0)
                elif isinstance(m, BasicBlock):
                    constant_(m.bn2.weight, 0.0)

    def _build(self, block_cls, layers: Sequence[int], num_classes: int, in_channels: int) -> None:
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block_cls, 64, layers[0])
        self.layer2 = self._make_layer(block_cls, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block_cls, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block_cls, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block_cls.expansion, num_classes)  # PyTorch's default init

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        needs_projection = stride != 1 or self.inplanes != planes * block.expansion
        layers = [block(self.inplanes, planes, stride, needs_projection)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _resnet(block: str, layers: list, num_classes: int, in_channels: int, **kwargs) -> ResNet:
    return ResNet(block, layers, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model
def resnet18(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-18: 11,689,512 parameters."""
    return _resnet("basic", [2, 2, 2, 2], num_classes, in_channels, **kwargs)


@register_model
def resnet34(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-34: 21,797,672 parameters."""
    return _resnet("basic", [3, 4, 6, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet50(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-50: 25,557,032 parameters."""
    return _resnet("bottleneck", [3, 4, 6, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet101(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-101: 44,549,160 parameters."""
    return _resnet("bottleneck", [3, 4, 23, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet152(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-152: 60,192,808 parameters."""
    return _resnet("bottleneck", [3, 8, 36, 3], num_classes, in_channels, **kwargs)
