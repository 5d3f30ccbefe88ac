"""VGG-11/13/16/19 (Simonyan & Zisserman 2014, configurations A, B, D, E), with
and without batch norm, as in torchvision with the same parameter names
(`features.N`, `classifier.N`): VGG-16 has 138,357,544 parameters, most of
them (102,764,544) in the first fully connected layer.

The paper's two other configurations are here too (not in torchvision):
A-LRN (`vgg11_lrn`: A with a local response norm after the first convolution,
no parameters of its own: 132,863,336, the table's 133M) and C (`vgg16_c`: B plus
a 1x1 convolution at the end of blocks 3, 4 and 5: 133,638,952, the table's 134M).
"""
from __future__ import annotations

from contextlib import nullcontext as _nothing
from typing import Sequence

from .. import nn
from ..nn.init import constant_, kaiming_normal_, normal_
from ._init import deferred_init, drawing
from .registry import register_model

# Filter counts of the 3x3 convolutions; "M" is a 2x2 max pool with stride 2;
# "LRN" AlexNet's local response norm; "1x1-256" a 1x1 convolution with 256 filters.
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x1-256", "M", 512, 512, "1x1-512", "M",
          512, 512, "1x1-512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg: Sequence, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """conv3x3 (pad 1, keeps the size) - [bn] - relu per number, 2x2 pool per "M",
    LRN per "LRN", conv1x1 - [bn] - relu per "1x1-F"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "LRN":
            from .alexnet import paper_lrn  # the VGG paper uses AlexNet's settings
            layers.append(paper_lrn())
        else:
            k = 1 if isinstance(v, str) and v.startswith("1x1-") else 3
            v = int(v[4:]) if k == 1 else v
            layers.append(nn.Conv2d(in_channels, v, kernel_size=k, padding=k // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """x: (N, in_channels, H, W), H, W >= 32 (224 as published) -> (N, num_classes).

    `cfg` is one of "A", "B", "D", "E" (VGG-11, 13, 16, 19), "A-LRN", "C", or a list as in CONFIGS.
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


@register_model
def vgg11_lrn(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG configuration A-LRN (VGG-11 with LRN after conv1): 132,863,336 parameters (the paper's 133M)."""
    return _vgg("A-LRN", False, num_classes, in_channels, **kwargs)


@register_model
def vgg16_c(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> VGG:
    """VGG configuration C (16 layers, three of them 1x1 convolutions): 133,638,952 parameters
    (the paper's 134M)."""
    return _vgg("C", False, num_classes, in_channels, **kwargs)
