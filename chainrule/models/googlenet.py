"""GoogLeNet / Inception v1 (Szegedy et al. 2014) as torchvision builds it, with
the same parameter names: every convolution is a `BasicConv2d` (conv without
bias - batch norm (eps 1e-3) - relu), and, like torchvision, the "5x5" branch of
each Inception module uses a 3x3 kernel (a known quirk kept so that
torchvision's weights load). 6,624,904 parameters without the auxiliary
classifiers (`aux_logits=False`, the default here).
"""
from __future__ import annotations

from collections import namedtuple
from contextlib import nullcontext as _nothing

from .. import nn
from ..nn import functional as F
from ..ops import cat
from ..nn.init import constant_
from ._init import deferred_init, drawing, trunc_normal_
from .registry import register_model

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])



def imagenet_to_half_range(x):
    """(N, 3, H, W) ImageNet-normalised input -> the (x - 0.5) / 0.5 range Google's weights expect
    (torchvision's transform_input for GoogLeNet and Inception-v3)."""
    x0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
    x1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
    x2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
    return cat([x0, x1, x2], dim=1)

class BasicConv2d(nn.Module):
    """conv (no bias) - batch norm - relu."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels:
    1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 ("5x5") | 3x3 max pool -> 1x1."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),  # 3x3, as torchvision
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool - 1x1 conv (128) - fc 1024 - relu - dropout - fc."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = self.dropout(F.relu(self.fc1(x.flatten(1))))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 32 (224 as published) -> (N, num_classes).

    In training mode with `aux_logits=True` the forward returns
    `GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`, else the logits.
    `transform_input=True` maps inputs normalised with ImageNet's mean/std to
    the (x - 0.5) / 0.5 normalisation Google's original weights expect.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, transform_input: bool = False,
                 init_weights: bool = True, dropout: float = 0.2, dropout_aux: float = 0.7,
                 in_channels: int = 3):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"GoogLeNet: transform_input needs 3 input channels, got {in_channels}")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        with deferred_init(nn.Conv2d) if init_weights else _nothing():  # convs are re-drawn below
            self._build(num_classes, aux_logits, dropout, dropout_aux, in_channels)
        if init_weights and drawing():
            # torchvision: truncated normal, std 0.01, cut at +-2 (absolute), for conv and fc
            # weights (the fc biases keep PyTorch's default); batch norm 1 / 0.
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    trunc_normal_(m.weight, std=0.01, a=-2.0, b=2.0)
                elif isinstance(m, nn.BatchNorm2d):
                    constant_(m.weight, 1.0)
                    constant_(m.bias, 0.0)

    def _build(self, num_classes: int, aux_logits: bool, dropout: float, dropout_aux: float,
               in_channels: int) -> None:
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def _transform_input(self, x):
        return imagenet_to_half_range(x) if self.transform_input else x

    def forward(self, x):
        x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.dropout(self.avgpool(x).flatten(1))
        x = self.fc(x)
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


@register_model
def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
              transform_input: bool = False, **kwargs) -> GoogLeNet:
    """GoogLeNet (Inception v1): 6,624,904 parameters without auxiliary classifiers."""
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, transform_input=transform_input,
                     in_channels=in_channels, **kwargs)
