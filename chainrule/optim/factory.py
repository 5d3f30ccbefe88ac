"""`cr.optim.create`: an optimizer from a short name, as the Solver and the CLI spell it.

    opt = cr.optim.create("nesterov", model.parameters(), lr=0.05, weight_decay=5e-4)

Names (case-insensitive): "sgd", "momentum" (SGD, momentum 0.9), "nesterov" (SGD,
Nesterov momentum 0.9), "adagrad", "rmsprop", "adam", "adamw". Keyword arguments go
to the optimizer's constructor and override the name's defaults
(`create("momentum", p, lr=0.1, momentum=0.95)`).

`resolve` / `resolve_schedule` also accept a built optimizer / scheduler or a
factory, as the Solver's `optimizer=` and `lr_schedule=` do.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["create", "resolve", "resolve_schedule", "OPTIMIZERS"]

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


def resolve(spec: Any, params: Iterable[Any], lr: float = 1e-3, **kwargs: Any) -> Optimizer:
    """An optimizer from what a caller such as the Solver accepts: a name (`create(spec, params,
    lr, **kwargs)`), an Optimizer already built on (some of) `params`, or a factory params -> Optimizer."""
    params = list(params)
    if isinstance(spec, str):
        return create(spec, params, lr=lr, **kwargs)
    if isinstance(spec, Optimizer):
        own = {id(p) for p in params}
        if not {id(p) for g in spec.param_groups for p in g["params"]} <= own:
            raise ValueError("the optimizer given holds parameters that are not the model's")
        return spec
    if callable(spec):
        opt = spec(params)
        if not isinstance(opt, Optimizer):
            raise TypeError(f"the optimizer factory returned {type(opt).__name__}, not an Optimizer")
        return opt
    raise TypeError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}), an Optimizer or a factory "
                    f"params -> Optimizer, got {type(spec).__name__}")


def resolve_schedule(spec: Any, optimizer: Optimizer, epochs: int) -> lr_scheduler.LRScheduler | None:
    """A schedule from a string or None (`lr_scheduler.from_spec`), a scheduler built on
    `optimizer`, or a factory optimizer -> scheduler."""
    if spec is None or isinstance(spec, str):
        return lr_scheduler.from_spec(spec, optimizer, epochs)
    if isinstance(spec, lr_scheduler.LRScheduler):
        if spec.optimizer is not optimizer:
            raise ValueError("the lr scheduler given is built on another optimizer; pass the optimizer "
                             "too, or a factory optimizer -> scheduler")
        return spec
    if callable(spec):
        out = spec(optimizer)
        if not isinstance(out, lr_scheduler.LRScheduler):
            raise TypeError(f"the lr_schedule factory returned {type(out).__name__}, not a scheduler")
        return out
    raise TypeError(f"lr_schedule must be a string ({', '.join(lr_scheduler.SPEC_FORMS)}), a scheduler or "
                    f"a factory optimizer -> scheduler, got {type(spec).__name__}")
