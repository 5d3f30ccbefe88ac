"""Network in Network (Lin, Chen and Yan 2013), the CIFAR-10 model of the paper's Caffe release.

Two ideas the lecture credits to it (and GoogLeNet reuses): the "mlpconv" layer, a convolution
followed by 1x1 convolutions (a small MLP slid over every position), and a classifier with no
fully connected layer: the last mlpconv gives one map per class and a global average pool turns
each map into that class's score.

    mlpconv(5x5 192, 1x1 160, 1x1 96) - 3x3/2 max pool - dropout
    mlpconv(5x5 192, 1x1 192, 1x1 192) - 3x3/2 avg pool - dropout
    mlpconv(3x3 192, 1x1 192, 1x1 num_classes) - global average pool

966,986 parameters for 10 classes (all convolutions have biases; ReLU after each, the class maps too).
"""
from __future__ import annotations

from .. import nn
from .registry import register_model


def mlpconv(in_channels: int, widths: tuple[int, int, int], kernel_size: int) -> list[nn.Module]:
    """conv k x k - relu - conv 1x1 - relu - conv 1x1 - relu (size kept: padding k // 2)."""
    a, b, c = widths
    return [nn.Conv2d(in_channels, a, kernel_size, padding=kernel_size // 2), nn.ReLU(),
            nn.Conv2d(a, b, 1), nn.ReLU(), nn.Conv2d(b, c, 1), nn.ReLU()]


@register_model
def nin(in_channels: int = 3, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """Network in Network for 32x32 images (any size >= 5 works: the pools use ceil mode as in
    Caffe, and the last pool is global). x: (N, in_channels, H, W) -> (N, num_classes)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"nin: dropout must be in [0, 1), got {dropout}")
    return nn.Sequential(
        *mlpconv(in_channels, (192, 160, 96), 5),
        nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=True),
        nn.Dropout(dropout),
        *mlpconv(96, (192, 192, 192), 5),
        nn.AvgPool2d(3, stride=2, padding=0, ceil_mode=True),
        nn.Dropout(dropout),
        *mlpconv(192, (192, 192, num_classes), 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
