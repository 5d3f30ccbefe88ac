"""The objective behind `chainrule tune --model NAME --data NAME`: a picklable solver factory.

Sampled params named like Solver arguments (lr, weight_decay, batch_size, optimizer,
lr_schedule, num_epochs, loss) go to `cr.Solver`; every other param goes to the model
builder (`cr.models.build_for`: hidden_dim, num_filters, dropout, ...), which also sizes
the model for the data. The data are what `chainrule train` sees: `cr.data.load` with
the same fixed split, preprocessed by `preprocess` fitted on the training split only.
Each trial's Solver is seeded with the trial's seed and carries a PruningCallback, so the
pruner sees val_acc after every epoch; the trial's value is `solver.best_val_acc`.
"""
from __future__ import annotations

from typing import Any, Mapping

from .. import models
from ..data import load
from ..data.transforms.spec import preprocess_from_spec
from ..solver import Solver
from .trial import PruningCallback, TuneTrial

SOLVER_KEYS = ("optimizer", "lr", "weight_decay", "lr_schedule", "batch_size", "num_epochs", "loss")


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

    def __call__(self, params: Mapping[str, Any]) -> Solver:
        splits, pre = self.prepared()
        values = {**self.fixed, **dict(params)}
        model_kwargs = {k: v for k, v in values.items() if k not in SOLVER_KEYS}
        solver_kwargs = {"optimizer": self.optimizer, "batch_size": self.batch_size, "num_epochs": self.epochs}
        solver_kwargs.update({k: v for k, v in values.items() if k in SOLVER_KEYS})
        shape = (pre(splits.X_train[:1]) if pre is not None else splits.X_train[:1]).shape[1:]
        model = models.build_for(self.model, splits, input_shape=shape, **model_kwargs)
        trial = isinstance(params, TuneTrial)
        return Solver(model, splits, preprocess=pre, seed=params.seed if trial else 0, verbose=False,
                      callbacks=[PruningCallback(params)] if trial else [], device=self.device, **solver_kwargs)
