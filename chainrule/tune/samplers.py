"""Optuna samplers and pruners by name: "random", "tpe", "grid"; "median" or None.

The random sampler is Optuna's idea with one change that matters for parallel runs:
each trial draws from its own generator seeded by (study seed, stream, trial number,
parameter name). Trial k therefore gets the same parameters whichever worker runs
it and in whatever order the workers interleave (Optuna's RandomSampler shares one
generator per process, so two workers seeded alike would draw the same values).
"""
from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from .space import Choice, Dimension, IntUniform, LogUniform, Uniform

SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("median", "none")


class PerTrialRandomSampler(optuna.samplers.BaseSampler):
    """Independent random sampling, reproducible per trial number.

    Floats on a log scale are drawn uniformly in log space (log-uniform), linear ones
    uniformly; ints uniformly over {low..high} (log-uniformly, then rounded, if log);
    categoricals uniformly over the choices.
    """

    def __init__(self, seed: int = 0, stream: int = 0) -> None:
        self.seed, self.stream = int(seed), int(stream)

    def trial_rng(self, trial_number: int, name: str) -> np.random.Generator:
        key = [self.seed & 0xFFFFFFFF, self.stream, int(trial_number), zlib.crc32(name.encode())]
        return np.random.default_rng(key)

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        rng = self.trial_rng(trial.number, param_name)
        d = param_distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[int(rng.integers(len(d.choices)))]
        if isinstance(d, IntDistribution):
            if d.log:
                v = round(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
            else:
                v = int(rng.integers(d.low, d.high + 1))
            return int(min(max(v, d.low), d.high))
        if isinstance(d, FloatDistribution):
            if d.log:
                v = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
            else:
                v = float(rng.uniform(d.low, d.high))
            return float(min(max(v, d.low), d.high))  # exp(log(x)) may overshoot by an ulp
        raise TypeError(f"PerTrialRandomSampler: unsupported distribution {d!r}")


def grid_values(dim: Dimension, points: int) -> list:
    """`points` values spread over a numeric range on its sampling scale; a Choice's choices."""
    if isinstance(dim, Choice):
        return list(dim.choices)
    if isinstance(dim, LogUniform):
        return [float(v) for v in np.geomspace(dim.low, dim.high, points)]
    if isinstance(dim, Uniform):
        return [float(v) for v in np.linspace(dim.low, dim.high, points)]
    if isinstance(dim, IntUniform):
        vals = np.geomspace(dim.low, dim.high, points) if dim.log else np.linspace(dim.low, dim.high, points)
        return sorted({int(round(v)) for v in vals})
    raise TypeError(f"grid: unsupported dimension {dim!r}")


def grid_for(space: Mapping[str, Dimension], n_trials: int) -> dict[str, list]:
    """A grid of about n_trials points: k values per numeric axis with k^d * (choices) <= n_trials
    (at least 2 per axis)."""
    n_numeric = sum(not isinstance(d, Choice) for d in space.values())
    n_cat = int(np.prod([len(d.choices) for d in space.values() if isinstance(d, Choice)] or [1]))
    k = 2
    if n_numeric:
        k = max(2, int(math.floor((max(n_trials, 1) / n_cat) ** (1.0 / n_numeric) + 1e-9)))
    return {name: grid_values(dim, k) for name, dim in space.items()}


def grid_size(grid: Mapping[str, list]) -> int:
    return int(np.prod([len(v) for v in grid.values()]))


def worker_seed(seed: int, worker: int) -> int:
    """A distinct, reproducible seed per worker process (worker 0 keeps `seed`)."""
    if worker == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(worker)]).generate_state(1)[0])


def make_sampler(kind: Any, space: Mapping[str, Dimension], n_trials: int, seed: int = 0,
                 worker: int = 0, stream: int = 0) -> optuna.samplers.BaseSampler:
    """An Optuna sampler from a name ("random", "tpe", "grid") or an Optuna sampler instance."""
    if isinstance(kind, optuna.samplers.BaseSampler):
        return kind
    if kind == "random":
        return PerTrialRandomSampler(seed=seed, stream=stream)
    if kind == "tpe":
        # One TPE per process; distinct seeds so that parallel workers do not propose the same points.
        return optuna.samplers.TPESampler(seed=worker_seed(seed + 7919 * stream, worker))
    if kind == "grid":
        # Grid trial k < grid size takes point k of the grid shuffled by `seed` (Optuna): every
        # worker must shuffle alike, so all get the study seed, and the grid is covered once.
        return optuna.samplers.GridSampler(grid_for(space, n_trials), seed=seed)
    raise ValueError(f"sampler: expected one of {', '.join(SAMPLERS)} or an optuna sampler, got {kind!r}")


def make_pruner(kind: Any) -> optuna.pruners.BasePruner:
    """"median": stop a trial whose reported value at a step is worse than the median of
    earlier trials at that step (after 5 finished trials, from the second report on);
    None/"none": never prune; or an Optuna pruner instance."""
    if isinstance(kind, optuna.pruners.BasePruner):
        return kind
    if kind is None or kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    raise ValueError(f"pruner: expected 'median', None or an optuna pruner, got {kind!r}")
