"""`cr.optim.create`: an optimizer from a short name, as the Solver and the CLI spell it.

    opt = cr.optim.create("nesterov", model.parameters(), lr=0.05, weight_decay=5e-4)

Names (case-insensitive): "sgd", "momentum" (SGD, momentum 0.9), "nesterov" (SGD,
Nesterov momentum 0.9), "adagrad", "rmsprop", "adam", "adamw". Keyword arguments go
to the optimizer's constructor and override the name's defaults
(`create("momentum", p, lr=0.1, momentum=0.95)`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["create", "OPTIMIZERS"]

# name -> (class, the defaults the name stands for)
OPTIMIZERS: dict[str, tuple[Callable[..., Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}


def create(spec: str, params: Iterable[Any], lr: float = 1e-3, **kwargs: Any) -> Optimizer:
    """The optimizer named `spec` on `params` with learning rate `lr`.

    kwargs: constructor arguments (weight_decay, betas, momentum, ...).
    Raises ValueError naming the accepted names for an unknown one.
    """
    if not isinstance(spec, str):
        raise TypeError(f"cr.optim.create: spec must be a name ({', '.join(OPTIMIZERS)}), "
                        f"got {type(spec).__name__}")
    key = spec.strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"cr.optim.create: unknown optimizer {spec!r}; expected one of {', '.join(OPTIMIZERS)}")
    cls, defaults = OPTIMIZERS[key]
    return cls(params, lr=float(lr), **{**defaults, **kwargs})
