"""The model registry: `cr.models.get("resnet18", num_classes=10)` by name.

Each builder function registers itself with `@register_model`; the name is the
function's name, as in torchvision (`resnet18`, `vgg16_bn`, ...).
"""
from __future__ import annotations

from typing import Any, Callable

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: make `fn` available as `get(fn.__name__, **kwargs)`."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"a model named {fn.__name__!r} is already registered")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """The names `get` accepts, sorted."""
    _load_all()
    return sorted(_MODELS)


def get(name: str, **kwargs: Any):
    """Build the model registered as `name` with the builder's keyword arguments.

    >>> net = get("resnet20", num_classes=10)
    """
    _load_all()
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_MODELS))}") from None
    return builder(**kwargs)


def _load_all() -> None:
    # The builders register themselves when their module is imported.
    from . import alexnet, googlenet, resnet, resnet_cifar, small, vgg, vgg_cifar  # noqa: F401
    from . import lenet  # noqa: F401
