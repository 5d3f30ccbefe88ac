"""The objective behind `chainrule tune --model NAME --data NAME`: a picklable solver factory.

Sampled params named like Solver arguments (lr, weight_decay, batch_size, optimizer,
lr_schedule, num_epochs, loss) go to `cr.Solver`; every other param goes to the model
builder (`cr.models` registry: hidden_dim, num_filters, dropout, ...). The builder also
gets the data's shape (in_channels, input_size, input_dim, num_classes) when it takes them;
a model taking `input_dim` (an MLP) gets a Flatten in front.
Each trial's Solver is seeded with the trial's seed and carries a PruningCallback, so the
pruner sees val_acc after every epoch; the trial's value is `solver.best_val_acc`.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping

import numpy as np

SOLVER_KEYS = ("optimizer", "lr", "weight_decay", "lr_schedule", "batch_size", "num_epochs", "loss")
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def solver_class() -> Any:
    """cr.Solver (imported here, not at module load, so worker processes start fast)."""
    from chainrule.solver import Solver

    return Solver


def load_data(name: str, root: str | None = None, subsample: int | None = None, seed: int = 0) -> Any:
    """A dataset by name as cr.data.Splits with float32 images in [0, 1]."""
    from chainrule import data as crdata

    loaders = {"digits": crdata.load_digits, "mnist": crdata.load_mnist,
               "fashion-mnist": crdata.load_fashion_mnist, "cifar10": crdata.load_cifar10}
    if name not in loaders:
        raise ValueError(f"--data: expected one of {', '.join(DATASETS)}, got {name!r}")
    kwargs: dict[str, Any] = {"subsample": subsample, "seed": seed}
    if name != "digits":
        kwargs["root"] = root
    splits = loaders[name](**kwargs)
    if splits.X_train.dtype == np.uint8:  # MNIST/CIFAR come as bytes
        arrays = {k: (v.astype(np.float32) / np.float32(255.0) if k.startswith("X_") else v)
                  for k, v in splits.items()}
        splits = crdata.Splits(**arrays, classes=splits.classes, info=splits.info)
    return splits


def _builder(model: str) -> Any:
    from chainrule.models import registry

    registry.list_models()  # imports every builder so that the registry is full
    builders = getattr(registry, "_MODELS", {})
    if model not in builders:
        raise ValueError(f"--model: unknown model {model!r}; available: {', '.join(registry.list_models())}")
    return builders[model]


def shape_kwargs(builder: Any, splits: Any) -> dict[str, Any]:
    """The data-dependent builder arguments the builder accepts."""
    c, h, w = splits.X_train.shape[1:]
    offered = {"in_channels": int(c), "input_size": int(h), "input_dim": int(c * h * w),
               "num_classes": int(len(splits.classes))}
    accepted = inspect.signature(builder).parameters
    return {k: v for k, v in offered.items() if k in accepted}


class SolverObjective:
    """A solver factory `(params) -> Solver` for `search`, picklable for worker processes."""

    def __init__(self, model: str, data: str, epochs: int = 3, batch_size: int = 128,
                 optimizer: str = "adam", data_root: str | None = None, subsample: int | None = None,
                 data_seed: int = 0, fixed: Mapping[str, Any] | None = None) -> None:
        self.model, self.data, self.epochs = model, data, int(epochs)
        self.batch_size, self.optimizer = int(batch_size), optimizer
        self.data_root, self.subsample, self.data_seed = data_root, subsample, int(data_seed)
        self.fixed = dict(fixed or {})
        self._splits = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_splits"] = None  # each worker loads the data itself
        return state

    def splits(self) -> Any:
        if self._splits is None:
            self._splits = load_data(self.data, self.data_root, self.subsample, self.data_seed)
        return self._splits

    def __call__(self, params: Mapping[str, Any]) -> Any:
        from .trial import TuneTrial, _make_pruning_callback

        Solver = solver_class()
        splits = self.splits()
        values = {**self.fixed, **dict(params)}
        builder = _builder(self.model)
        model_kwargs = {k: v for k, v in values.items() if k not in SOLVER_KEYS}
        solver_kwargs = {"optimizer": self.optimizer, "batch_size": self.batch_size, "num_epochs": self.epochs}
        solver_kwargs.update({k: v for k, v in values.items() if k in SOLVER_KEYS})
        shapes = shape_kwargs(builder, splits)
        model = builder(**shapes, **model_kwargs)
        if "input_dim" in shapes:  # an MLP (two_layer_net, fc_net) takes (N, D): flatten the images
            from chainrule import nn

            model = nn.Sequential(nn.Flatten(), model)
        seed = params.seed if isinstance(params, TuneTrial) else 0
        callbacks = [_make_pruning_callback(params)] if isinstance(params, TuneTrial) else []
        return Solver(model, splits, seed=seed, verbose=False, callbacks=callbacks, **solver_kwargs)
