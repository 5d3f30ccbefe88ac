"""Weight initialisation for the zoo (torchvision's schemes), and `skip_init`.

The big models re-initialise every convolution and linear layer after
building them, so drawing the layers' own default weights first is wasted
work (VGG-16's first fully connected layer alone holds 102M numbers, ~1-2 s
of random draws). `deferred_init(classes)` builds those layers without their
default draw; the model then draws once, in the parameters' own dtype.
`skip_init()` skips every draw, for building a model only to load weights into it.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .. import nn
from ..rng import get_generator

_skip_all = False


def _noop(self) -> None:
    pass


@contextmanager
def deferred_init(*classes: type) -> Iterator[None]:
    """Within the block, `classes` (e.g. nn.Linear, nn.Conv2d) are built without
    drawing their default weights (the caller initialises them)."""
    saved = {cls: cls.__dict__["reset_parameters"] for cls in classes if "reset_parameters" in cls.__dict__}
    for cls in saved:
        cls.reset_parameters = _noop
    try:
        yield
    finally:
        for cls, fn in saved.items():
            cls.reset_parameters = fn


@contextmanager
def skip_init() -> Iterator[None]:
    """Build models without drawing any weights: convolution and linear
    parameters are left uninitialised (whatever the memory held), so load
    weights into them before use. Much faster for the big models.

        with cr.models.skip_init():
            net = cr.models.vgg16()
        cr.models.load_pretrained(net, "vgg16.safetensors")
    """
    global _skip_all
    prev, _skip_all = _skip_all, True
    try:
        with deferred_init(nn.Linear, nn.Conv2d):
            yield
    finally:
        _skip_all = prev


def normal_(t, std: float, mean: float = 0.0) -> None:
    """N(mean, std^2), drawn in the parameter's dtype (float32 draws are ~2x faster)."""
    if _skip_all:
        return
    a = t.data
    if a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        get_generator().standard_normal(dtype=a.dtype, out=a)  # no temporary copy
    else:
        a[...] = get_generator().standard_normal(a.shape)
    a *= a.dtype.type(std)
    if mean:
        a += a.dtype.type(mean)


def trunc_normal_(t, std: float, a: float = -2.0, b: float = 2.0) -> None:
    """N(0, std^2) values, redrawing those outside [a, b] (absolute bounds, as torch's)."""
    if _skip_all:
        return
    normal_(t, std)
    x = t.data
    bad = (x < a) | (x > b)
    while bad.any():
        x[bad] = get_generator().standard_normal(int(bad.sum())) * std
        bad = (x < a) | (x > b)


def kaiming_normal_fan_out_(t) -> None:
    """He init for a ReLU network counted on the outputs: std = sqrt(2 / fan_out),
    fan_out = out_channels * kh * kw (torchvision's choice for ResNet and VGG convs)."""
    w = t.data
    fan_out = w.shape[0] * int(np.prod(w.shape[2:], dtype=np.int64))
    normal_(t, math.sqrt(2.0 / fan_out))


def constant_(t, value: float) -> None:
    t.data[...] = value


def resnet_init_(model: nn.Module) -> None:
    """ResNet's scheme (He et al. 2015, torchvision): He normal (fan_out) for every
    convolution, scale 1 and shift 0 for every batch norm."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            kaiming_normal_fan_out_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            constant_(m.weight, 1.0)
            constant_(m.bias, 0.0)


def default_init_(m: nn.Module) -> None:
    """PyTorch's own default for a layer built under deferred_init."""
    if not _skip_all:
        type(m).reset_parameters(m)
