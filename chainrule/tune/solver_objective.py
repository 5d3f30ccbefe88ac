"""The objective behind `chainrule tune --model NAME --data NAME`: a picklable solver factory.

Sampled params named like Solver arguments (lr, weight_decay, batch_size, optimizer,
lr_schedule, num_epochs, loss) go to `cr.Solver`; every other param goes to the model
builder (`cr.models.build_for`: hidden_dim, num_filters, dropout, ...), which also sizes
the model for the data. The data are what `chainrule train` sees: `cr.data.load` with
the same fixed split, preprocessed by `preprocess` fitted on the training split only.
Architecture as a hyperparameter: list-valued settings are searched with a ListChoice
(`--space hidden_dims=64,128|128,128`), and `depth` (with an optional `width`) stands for
hidden_dims = (width,) * depth on a builder that takes hidden_dims but no depth of its own (fc_net;
resnet_cifar takes its own `depth`). A name neither the Solver nor the builder takes is an error
naming the builder's arguments, before any trial runs (`check_names`).
Each trial's Solver is seeded with the trial's seed and carries a PruningCallback, so the
pruner sees val_acc after every epoch; the trial's value is `solver.best_val_acc`.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable, Mapping

from .. import models
from ..data import load
from ..data.transforms.spec import preprocess_from_spec
from ..solver import Solver
from .trial import PruningCallback, TuneTrial

SOLVER_KEYS = ("optimizer", "lr", "weight_decay", "lr_schedule", "batch_size", "num_epochs", "loss")
DERIVED = ("input_dim", "num_classes", "in_channels", "input_size")  # build_for sets these from the data


class SolverObjective:
    """A solver factory `(params) -> Solver` for `search`, picklable for worker processes.

    data_dir, subsample: as `cr.data.load`'s root and subsample. preprocess: a spec of
    `cr.data.transforms.spec` ("perchannel", "zca", "none", ...), as `chainrule train --preprocess`.
    fixed: model/Solver arguments every trial gets (the sampled params win). device: where each
    trial's model trains ("cpu", "cuda", "cuda:N"); the data stay on the host, batches move.
    """

    def __init__(self, model: str, data: str, epochs: int = 3, batch_size: int = 64,
                 optimizer: str = "adam", data_dir: str | None = None, subsample: int | None = None,
                 preprocess: str | None = "perchannel", fixed: Mapping[str, Any] | None = None,
                 device: str = "cpu") -> None:
        self.model, self.data, self.epochs = model, data, int(epochs)
        self.batch_size, self.optimizer = int(batch_size), optimizer
        self.data_dir, self.subsample, self.preprocess = data_dir, subsample, preprocess
        self.fixed = dict(fixed or {})
        self.device = str(device)
        self._prepared = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_prepared"] = None  # each worker loads the data itself
        return state

    def prepared(self) -> tuple[Any, Any]:
        """(the Splits, the preprocessor fitted on their training split or None), loaded once."""
        if self._prepared is None:
            splits = load(self.data, root=self.data_dir, subsample=self.subsample)
            pre = preprocess_from_spec(self.preprocess)
            self._prepared = (splits, pre.fit(splits.X_train) if pre is not None else None)
        return self._prepared

    def _builder_params(self) -> Mapping[str, inspect.Parameter]:
        return inspect.signature(models.get_builder(self.model)).parameters

    def _depth_means_hidden_dims(self) -> bool:
        params = self._builder_params()
        return "hidden_dims" in params and "depth" not in params

    def check_names(self, names: Iterable[str]) -> None:
        """ValueError naming the model's arguments when a searched or fixed name is neither a
        Solver argument nor one the builder takes (nor depth/width standing for hidden_dims)."""
        params = self._builder_params()
        takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
        known = set(SOLVER_KEYS) | (set(params) - set(DERIVED))
        if self._depth_means_hidden_dims():
            known |= {"depth", "width"}
        unknown = [n for n in list(names) + list(self.fixed) if n not in known]
        if unknown and not takes_any:
            args = ", ".join(sorted(set(params) - set(DERIVED)))
            extra = " (and depth, width: hidden_dims = (width,) * depth)" if self._depth_means_hidden_dims() else ""
            raise ValueError(f"model {self.model} takes no argument {unknown[0]!r}: it takes {args}{extra}; "
                             f"the Solver takes {', '.join(SOLVER_KEYS)}")

    def _architecture(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """depth / width -> hidden_dims for a builder without its own depth (fc_net)."""
        if not self._depth_means_hidden_dims() or not ({"depth", "width"} & set(kwargs)):
            return kwargs
        default = tuple(self._builder_params()["hidden_dims"].default)
        depth = int(kwargs.pop("depth", len(default)))
        width = int(kwargs.pop("width", default[0] if default else 100))
        if depth < 0:
            raise ValueError(f"depth must be at least 0 hidden layers, got {depth}")
        return {**kwargs, "hidden_dims": (width,) * depth}

    def __call__(self, params: Mapping[str, Any]) -> Solver:
        splits, pre = self.prepared()
        values = {**self.fixed, **dict(params)}
        self.check_names(dict(params))
        model_kwargs = self._architecture({k: v for k, v in values.items() if k not in SOLVER_KEYS})
        solver_kwargs = {"optimizer": self.optimizer, "batch_size": self.batch_size, "num_epochs": self.epochs}
        solver_kwargs.update({k: v for k, v in values.items() if k in SOLVER_KEYS})
        shape = (pre(splits.X_train[:1]) if pre is not None else splits.X_train[:1]).shape[1:]
        model = models.build_for(self.model, splits, input_shape=shape, **model_kwargs)
        trial = isinstance(params, TuneTrial)
        return Solver(model, splits, preprocess=pre, seed=params.seed if trial else 0, verbose=False,
                      callbacks=[PruningCallback(params)] if trial else [], device=self.device, **solver_kwargs)
