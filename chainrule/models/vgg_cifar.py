"""A compact VGG-style network for small images (32x32 CIFAR, 28x28 MNIST, 8x8 digits).

Blocks of [conv3x3 - batch norm - relu] x convs_per_block followed by a 2x2
max pool, widths 32-64-128 by default, then global average pooling and one
affine layer (instead of VGG's three big fully connected layers).
"""
from __future__ import annotations

from typing import Sequence

from .. import nn
from .registry import register_model


@register_model
def vgg_cifar(in_channels: int = 3, num_classes: int = 10, widths: Sequence[int] = (32, 64, 128),
              convs_per_block: int = 2, batchnorm: bool = True, dropout: float = 0.0,
              input_size: int = 32) -> nn.Sequential:
    """x: (N, in_channels, H, W) -> (N, num_classes); H, W >= 2 ** (len(widths) - 1).

    A block is only followed by a pool while the map is at least 2x2, so 8x8
    digits go 8 -> 4 -> 2 -> 1 with three blocks and 28x28 MNIST 28 -> 14 -> 7 -> 3.
    """
    if input_size < 1:
        raise ValueError(f"vgg_cifar: input_size must be positive, got {input_size}")
    layers: list[nn.Module] = []
    c_in, size = in_channels, input_size
    for w in widths:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(c_in, w, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU())
            c_in = w
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(c_in, num_classes))
    return nn.Sequential(*layers)
