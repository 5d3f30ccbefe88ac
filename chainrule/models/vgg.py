"""VGG-11/13/16/19 (Simonyan & Zisserman 2014, configurations A, B, D, E), with
and without batch norm, as in torchvision with the same parameter names
(`features.N`, `classifier.N`): VGG-16 has 138,357,544 parameters, most of
them (102,764,544) in the first fully connected layer.
"""
from __future__ import annotations

from contextlib import nullcontext as _nothing
from typing import Sequence

from .. import nn
from ..nn.init import constant_, kaiming_normal_, normal_
from ._init import deferred_init, drawing
from .registry import register_model

# Filter counts of the 3x3 convolutions; "M" is a 2x2 max pool with stride 2.
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg: Sequence, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """conv3x3 (pad 1, keeps the size) - [bn] - relu per number, 2x2 pool per "M"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 32 (224 as published) -> (N, num_classes).

    `cfg` is one of "A", "B", "D", "E" (VGG-11, 13, 16, 19) or a list as in CONFIGS.
    """

    def __init__(self, cfg="D", batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3,
                 init_weights: bool = True, dropout: float = 0.5):
        super().__init__()
        if isinstance(cfg, str) and cfg not in CONFIGS:
            raise ValueError(f"VGG: cfg must be one of {sorted(CONFIGS)} or a list, got {cfg!r}")
        layers = CONFIGS[cfg] if isinstance(cfg, str) else list(cfg)
        # The layers' default draws would be overwritten below: skip them (see _init.py).
        with deferred_init(nn.Linear, nn.Conv2d) if init_weights else _nothing():
            self.features = make_layers(layers, batch_norm, in_channels)
            # 224x224 inputs give 7x7 here; smaller ones are spread out to 7x7.
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
        if init_weights and drawing():  # torchvision's initialisation
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        constant_(m.bias, 0.0)
                elif isinstance(m, nn.BatchNorm2d):
                    constant_(m.weight, 1.0)
                    constant_(m.bias, 0.0)
                elif isinstance(m, nn.Linear):
                    normal_(m.weight, 0.0, 0.01)
                    constant_(m.bias, 0.0)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(cfg: str, batch_norm: bool, num_classes: int, in_channels: int, **kwargs) -> VGG:
    return VGG(cfg, batch_norm=batch_norm, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model
def vgg11(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters."""
    return _vgg("A", False, num_classes, in_channels, **kwargs)


@register_model
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-11 with batch norm: 132,868,840 parameters."""
    return _vgg("A", True, num_classes, in_channels, **kwargs)


@register_model
def vgg13(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-13 (configuration B): 133,047,848 parameters."""
    return _vgg("B", False, num_classes, in_channels, **kwargs)


@register_model
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-13 with batch norm: 133,053,736 parameters."""
    return _vgg("B", True, num_classes, in_channels, **kwargs)


@register_model
def vgg16(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters."""
    return _vgg("D", False, num_classes, in_channels, **kwargs)


@register_model
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-16 with batch norm: 138,365,992 parameters."""
    return _vgg("D", True, num_classes, in_channels, **kwargs)


@register_model
def vgg19(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters."""
    return _vgg("E", False, num_classes, in_channels, **kwargs)


@register_model
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG-19 with batch norm: 143,678,248 parameters."""
    return _vgg("E", True, num_classes, in_channels, **kwargs)
