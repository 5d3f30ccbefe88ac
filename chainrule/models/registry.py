"""The model registry: `cr.models.get("resnet18", num_classes=10)` by name, and
`cr.models.build_for("small_cnn", data)` sized for a dataset.

Each builder function registers itself with `@register_model` when its module is imported; the
name is the function's name, as in torchvision (`resnet18`, `vgg16_bn`, ...). Registration is by
the decorator alone, as in timm: this module imports no model module (models/__init__.py imports
them all, and importing anything under chainrule.models runs that first), so there is no circle.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from .. import nn

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: make `fn` available as `get(fn.__name__, **kwargs)`."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"a model named {fn.__name__!r} is already registered")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """The names `get` accepts, sorted."""
    return sorted(_MODELS)


def get_builder(name: str) -> Callable[..., Any]:
    """The builder function registered as `name` (ValueError naming the choices otherwise)."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_MODELS))}") from None


def get(name: str, **kwargs: Any):
    """Build the model registered as `name` with the builder's keyword arguments.

    >>> net = get("resnet20", num_classes=10)
    """
    return get_builder(name)(**kwargs)


def build_for(name: str, data: Any, *, input_shape: tuple[int, ...] | None = None, **kwargs: Any):
    """The model `name` sized for `data`, as timm's `create_model(name, num_classes=..., in_chans=...)`.

    data: a cr.data.Splits (or a mapping with X_train (N, C, H, W) and y_train).
    input_shape: the shape of one example as the model sees it, when preprocessing changes
        it (PCA gives vectors (D,)); default X_train.shape[1:].
    kwargs: more builder arguments; they win over the ones derived from the data.

    The builder gets those of in_channels, input_size (H), input_dim (C*H*W) and
    num_classes it takes; a builder taking input_dim (an MLP: two_layer_net, fc_net)
    gets an nn.Flatten in front, so it eats images too.
    """
    builder = get_builder(name)
    shape = tuple(int(s) for s in (input_shape if input_shape is not None else np.shape(data["X_train"])[1:]))
    params = inspect.signature(builder).parameters
    offered: dict[str, int] = {"num_classes": _num_classes(data), "input_dim": int(np.prod(shape))}
    if len(shape) == 3:
        offered.update(in_channels=shape[0], input_size=shape[1])
    elif "input_dim" not in params:
        raise ValueError(f"model {name!r} takes images (N, C, H, W) but the data are vectors {shape}: "
                         "use an MLP (two_layer_net, fc_net) or keep images (no PCA)")
    model = builder(**{**{k: v for k, v in offered.items() if k in params}, **kwargs})
    return nn.Sequential(nn.Flatten(), model) if "input_dim" in params else model


def _num_classes(data: Any) -> int:
    n = getattr(data, "num_classes", None)
    if n is None:
        y = np.asarray(data["y_train"])
        n = int(y.max()) + 1 if y.size else 0
    return int(n)

