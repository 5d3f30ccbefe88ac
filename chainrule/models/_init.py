"""Weight initialisation for the zoo (torchvision's schemes), and `skip_init`.

The big models re-initialise every convolution and linear layer after
building them, so drawing the layers' own default weights first is wasted
work (VGG-16's first fully connected layer alone holds 102M numbers, ~1-2 s
of random draws). `deferred_init(classes)` builds those layers without their
default draw; the model then draws once (with nn.init).
`skip_init()` skips every draw, for building a model only to load weights into it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .. import nn
from ..nn import init
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


def drawing() -> bool:
    """False inside `skip_init()`: the zoo's own initialisation loops skip their draws then."""
    return not _skip_all


def trunc_normal_(t, std: float, a: float = -2.0, b: float = 2.0) -> None:
    """N(0, std^2) values, redrawing those outside [a, b] (absolute bounds, as torch's)."""
    if _skip_all:
        return
    init.normal_(t, 0.0, std)
    x = t.data
    bad = (x < a) | (x > b)
    while bad.any():
        x[bad] = get_generator().standard_normal(int(bad.sum())) * std
        bad = (x < a) | (x > b)


def resnet_init_(model: nn.Module) -> None:
    """ResNet's scheme (He et al. 2015, torchvision): He normal (fan_out) for every
    convolution, scale 1 and shift 0 for every batch norm."""
    if _skip_all:
        return
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            init.constant_(m.weight, 1.0)
            init.constant_(m.bias, 0.0)

