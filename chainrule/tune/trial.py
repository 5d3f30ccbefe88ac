"""What an objective sees of a trial, and the three objective forms `search` accepts.

1. `objective(params, report) -> float`: `params` is a plain dict of sampled values;
   `report(value, step)` records an intermediate value (validation accuracy after
   an epoch) and raises `optuna.TrialPruned` when the pruner says the trial is hopeless.
2. `objective(trial) -> float`: `trial` is a `TuneTrial`: a read-only dict of the
   params (`trial["lr"]`) with `.params`, `.number`, `.seed`, `.report(value, step)`
   and `.should_prune()` (Optuna's protocol: report, then `if trial.should_prune():
   raise optuna.TrialPruned()`), or `.report_and_prune(value, step)` doing both.
3. A solver factory `factory(params) -> Solver`: the same one-argument call, but it
   returns an untrained `cr.Solver`; search trains it with a `PruningCallback`
   (which reports val_acc each epoch) and the trial's value is `solver.best_val_acc`.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterator, Mapping

import optuna

from ..callbacks import Callback


class TuneTrial(Mapping):
    """The sampled parameters of one trial plus the reporting protocol."""

    def __init__(self, trial: optuna.Trial, params: Mapping[str, Any], seed: int) -> None:
        self.optuna_trial = trial
        self._params = dict(params)
        self.seed = int(seed)  # a per-trial seed (derived from the study seed and the trial number)

    # Mapping protocol: a TuneTrial can be used wherever a params dict is expected.
    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"TuneTrial(number={self.number}, params={self._params})"

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def number(self) -> int:
        return self.optuna_trial.number

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value (e.g. validation accuracy after epoch `step`)."""
        self.optuna_trial.report(float(value), int(step))

    def should_prune(self) -> bool:
        return self.optuna_trial.should_prune()

    def report_and_prune(self, value: float, step: int) -> None:
        """Report, then raise optuna.TrialPruned if the pruner wants this trial stopped."""
        self.report(value, step)
        if self.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step} with value {value:.4g}")

    def set_user_attr(self, key: str, value: Any) -> None:
        self.optuna_trial.set_user_attr(key, value)


class PruningCallback(Callback):
    """A Solver callback reporting val_acc after every epoch and raising optuna.TrialPruned
    when the pruner says so; the Solver lets it propagate, which stops training."""

    def __init__(self, trial: TuneTrial, monitor: str = "val_acc") -> None:
        self.trial, self.monitor = trial, monitor
        self.reports = 0  # the step reported: 0 after the first epoch, 1 after the second, ...

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        # Count epochs here rather than trust the Solver's numbering (it counts from 1), so that
        # the pruner's warm-up means "not before the second epoch" for any epoch convention.
        step, self.reports = self.reports, self.reports + 1
        num_epochs = getattr(self.solver, "num_epochs", None)
        if num_epochs is not None and self.reports >= num_epochs:
            self.trial.report(float(value), step)  # the last epoch: nothing left to save by pruning
            return
        self.trial.report_and_prune(float(value), step)


def is_solver(obj: Any) -> bool:
    return callable(getattr(obj, "train", None)) and hasattr(obj, "val_acc_history")


def train_solver(solver: Any, trial: TuneTrial) -> float:
    """Train a Solver with a pruning callback; the trial's value is its best val accuracy."""
    callbacks = list(getattr(solver, "callbacks", None) or [])
    if not any(isinstance(cb, PruningCallback) for cb in callbacks):
        # A factory that did not attach one: the Solver reads `solver.callbacks` when train() starts.
        cb = PruningCallback(trial)
        cb.set_solver(solver)
        callbacks.append(cb)
        solver.callbacks = callbacks
    solver.train()
    trial.set_user_attr("val_acc_history", [float(v) for v in solver.val_acc_history])
    return float(solver.best_val_acc)


def n_positional(fn: Callable) -> int:
    """How many positional arguments `fn` takes (2 -> the (params, report) form)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(sig.parameters.values())
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in params)


def call_objective(objective: Callable, trial: TuneTrial) -> float:
    """Run one of the three objective forms on `trial` and return its value.

    A run that diverges (a NaN/inf value, or a FloatingPointError such as the Solver's
    NonFiniteLossError) is a result of the search, not a crash: the trial is closed as
    PRUNED with user attribute `chainrule.diverged` saying why (and counts in the budget)."""
    try:
        if n_positional(objective) >= 2:
            result = objective(trial.params, trial.report_and_prune)
        else:
            result = objective(trial)
        if is_solver(result):
            return train_solver(result, trial)
    except FloatingPointError as e:
        _diverged(trial, f"{type(e).__name__}: {e}")
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise TypeError(
            f"tune objective: expected a number or a Solver from {getattr(objective, '__name__', objective)!r}, "
            f"got {type(result).__name__}") from None
    if not math.isfinite(value):
        _diverged(trial, f"the objective returned {value}")
    return value


def _diverged(trial: TuneTrial, why: str) -> None:
    trial.set_user_attr("chainrule.diverged", why)
    raise optuna.TrialPruned(f"diverged: {why}")
