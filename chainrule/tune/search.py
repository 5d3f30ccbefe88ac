"""Random / TPE / grid search and coarse-to-fine, on Optuna, in one process or many.

A search is an Optuna study. Each worker (this process, local worker processes, or
`chainrule tune` on other machines sharing a database) repeats: count the trials the
study already has (finished or running); stop when the budget `n_trials` is used up;
otherwise run one trial. The count happens before a trial starts, so the budget is
not overshot by the number of workers (Optuna's MaxTrialsCallback counts only finished
trials, after each one); in the rare race where two workers both take the last slot, the
later trial number is marked FAIL with user attribute `chainrule.surplus` before any
parameter is sampled, and every report leaves it out. So a study ends with exactly
`n_trials` COMPLETE or PRUNED trials (unless an objective raises).
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..rng import get_rng_state, manual_seed, set_rng_state
from . import storage as _storage
from .report import SearchResult, format_table, is_surplus, rank_trials, trial_row
from .samplers import grid_for, grid_size, make_pruner, make_sampler
from .space import Dimension, check_space, is_numeric, space_from_dict, space_to_dict
from .trial import TuneTrial, call_objective

# Trials that use up the budget: finished ones and those some worker is running now.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class _Surplus(Exception):
    """Raised for a trial opened after the budget was used up by other workers."""


def trial_seed(seed: int, stream: int, number: int) -> int:
    """The per-trial seed: a function of the study seed, the round and the trial number only."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(stream), int(number), 1]).generate_state(1)[0])


@dataclass
class _Config:
    """Everything a worker needs; pickled to worker processes (so `objective` must be a
    top-level, importable function or a picklable object)."""

    objective: Callable
    space: dict[str, Dimension]
    n_trials: int
    sampler: Any = "random"
    pruner: Any = "median"
    seed: int = 0
    stream: int = 0
    verbose: bool = False
    callbacks: Sequence[Callable] = ()
    seed_chainrule: bool = True

    def budget(self) -> int:
        if self.sampler == "grid":
            return min(self.n_trials, grid_size(grid_for(self.space, self.n_trials)))
        return self.n_trials


class _TrialRunner:
    """The function Optuna calls for each trial: budget check, sampling, objective."""

    def __init__(self, cfg: _Config, worker: int) -> None:
        self.cfg, self.worker, self.surplus, self.ran = cfg, worker, False, []

    def __call__(self, trial: optuna.Trial) -> float:
        ahead = sum(1 for t in trial.study.get_trials(deepcopy=False, states=COUNTED) if t.number < trial.number)
        if ahead >= self.cfg.budget():
            trial.set_user_attr("chainrule.surplus", True)
            self.surplus = True
            raise _Surplus(f"trial {trial.number}: the budget of {self.cfg.budget()} trials is used up")
        self.ran.append(trial.number)
        params = {name: dim.suggest(trial, name) for name, dim in self.cfg.space.items()}
        seed = trial_seed(self.cfg.seed, self.cfg.stream, trial.number)
        trial.set_user_attr("chainrule.worker", self.worker)
        if self.cfg.seed_chainrule:
            # Objectives drawing from chainrule's generator (weight init, shuffling) become
            # reproducible per trial, whichever worker runs the trial.
            manual_seed(seed)
        return call_objective(self.cfg.objective, TuneTrial(trial, params, seed))


def progress_line(t: FrozenTrial, study_name: str = "", worker: int | None = None) -> str:
    params = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    value = "-" if t.value is None else f"{t.value:.4f}"
    dur = "" if t.duration is None else f" ({t.duration.total_seconds():.1f} s)"
    who = f"[{study_name}{'' if worker is None else f' w{worker}'}] "
    step = f" after step {t.last_step}" if t.state == TrialState.PRUNED and t.last_step is not None else ""
    return f"{who}trial {t.number:3d} {t.state.name:8s} value={value}{step}  {params}{dur}"


def run_worker(study: optuna.Study, cfg: _Config, worker: int = 0) -> list[int]:
    """Run trials in this process until the study's budget is used up; returns the numbers
    of the trials this worker ran."""
    study.sampler = make_sampler(cfg.sampler, cfg.space, cfg.n_trials, cfg.seed, worker, cfg.stream)
    study.pruner = make_pruner(cfg.pruner)
    runner = _TrialRunner(cfg, worker)

    def progress(st: optuna.Study, t: FrozenTrial) -> None:
        if cfg.verbose and not is_surplus(t):
            print(progress_line(t, st.study_name, worker), flush=True)

    budget = cfg.budget()
    rng_state = get_rng_state()  # trials reseed chainrule's generator; give the caller theirs back
    # ERROR: also hides Optuna's warning for the (expected) surplus trial; real objective
    # errors still propagate as exceptions.
    try:
        with _storage.quiet_optuna(logging.ERROR):
            while not runner.surplus:
                if len(study.get_trials(deepcopy=False, states=COUNTED)) >= budget:
                    break
                study.optimize(runner, n_trials=1, catch=(_Surplus,), callbacks=[progress, *cfg.callbacks],
                               gc_after_trial=False)
    finally:
        if cfg.seed_chainrule:
            set_rng_state(rng_state)
    return runner.ran


def _worker_main(storage_spec: Any, study_name: str, cfg: _Config, worker: int) -> list[int]:
    """Entry point of a local worker process: open the storage, load the study, run trials."""
    # The parent created the study (and the tables), so this worker may skip the schema checks.
    study = _storage.load_study(_storage.get_storage(storage_spec, prepared=True), study_name)
    return run_worker(study, cfg, worker)


def _worker_context() -> Any:
    """'forkserver' where the platform has it, else 'spawn'. Both give workers a clean process
    (no forked locks, threads or open database connections of the caller); the objective
    therefore travels by pickle and must be importable. The fork server imports chainrule.tune
    and Optuna's database layer once and forks each worker from it, which saves every worker
    those imports (seconds on a busy machine; a module that fails to import is skipped)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["chainrule.tune.search", "optuna.storages._rdb.models", "psycopg"])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_workers(storage_spec: Any, study: optuna.Study, cfg: _Config, n_workers: int) -> dict[int, list[int]]:
    if n_workers == 1:
        return {0: run_worker(study, cfg, 0)}
    if not _storage.shareable(storage_spec):
        raise ValueError(
            f"n_workers={n_workers}: worker processes need a storage they can open themselves: pass "
            "storage='RUN_DIR/study.journal' (a journal file) or a database URL, not "
            f"{_storage.describe(storage_spec)}")
    ctx = _worker_context()
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        futures = {w: pool.submit(_worker_main, storage_spec, study.study_name, cfg, w) for w in range(n_workers)}
        return {w: f.result() for w, f in futures.items()}


def search(objective: Callable, space: Mapping[str, Any], n_trials: int, sampler: Any = "random",
           pruner: Any = "median", storage: Any = None, study_name: str | None = None, n_workers: int = 1,
           seed: int = 0, direction: str = "maximize", verbose: bool = False,
           callbacks: Sequence[Callable] = (), warn_border: bool = True, _stream: int = 0) -> SearchResult:
    """Search `space` for the hyperparameters that maximize (or minimize) `objective`.

    objective: `f(params, report) -> float`, `f(trial) -> float`, or a solver factory
        `f(params) -> Solver` (see chainrule/tune/trial.py). With n_workers > 1 it must be a
        top-level function (or picklable object) importable by a fresh Python process.
    space: {"lr": LogUniform(1e-5, 1e-1), "hidden_dim": Choice([64, 128]), ...}
    n_trials: the study's trial budget (COMPLETE + PRUNED), shared by all its workers; running
        search again on an existing study only tops it up to n_trials.
    sampler: "random" (log-uniform for log ranges; seeded per trial), "tpe", "grid", or an Optuna sampler.
    pruner: "median" (stop a trial below the median of earlier ones at the same epoch) or None.
    storage: None (memory), a journal-file path, or a database URL (see chainrule.tune.storage).
    n_workers: local worker processes (each opens `storage`, so it must be a path or URL).
    seed: the study seed; the random sampler's trial k and the seed chainrule's RNG gets before
        trial k depend only on (seed, k).
    Warns TuneBorderWarning for best values in the outer 10% of a numeric range.
    """
    space = check_space(space)
    _check_counts(n_trials, n_workers)
    name = study_name or "chainrule-tune"
    st = _storage.get_storage(storage)
    attrs = {"space": space_to_dict(space), "n_trials": int(n_trials), "seed": int(seed),
             "sampler": sampler if isinstance(sampler, str) else type(sampler).__name__, "direction": direction}
    study = _storage.create_or_load(st, name, direction, attrs)
    cfg = _Config(objective, space, int(n_trials), sampler, pruner, int(seed), int(_stream), verbose,
                  tuple(callbacks))
    t0 = time.perf_counter()
    worker_trials = _run_workers(storage, study, cfg, n_workers)
    if n_workers > 1:  # the parent's study object has not seen the workers' writes yet
        study = _storage.load_study(st, name)
    result = SearchResult(study=study, space=space, direction=direction)
    result.worker_trials = worker_trials
    result.seconds = time.perf_counter() - t0
    if warn_border:
        result.warn_border()
    return result


def _check_counts(n_trials: int, n_workers: int) -> None:
    if int(n_trials) < 1:
        raise ValueError(f"n_trials: expected a positive integer, got {n_trials!r}")
    if int(n_workers) < 1:
        raise ValueError(f"n_workers: expected a positive integer, got {n_workers!r}")


# --------------------------------------------------------------------------- coarse to fine


def narrow_space(space: Mapping[str, Dimension], original: Mapping[str, Dimension],
                 result: SearchResult, keep_top: float = 0.2, margin: float = 0.1) -> dict[str, Dimension]:
    """The next round's space: each numeric range becomes [min, max] of the values of the top
    `keep_top` fraction of COMPLETE trials (at least one trial), widened by `margin` times the
    current width on each side (log space for log ranges), clipped to the original range.
    Choices are kept as they are."""
    if not 0 < keep_top <= 1:
        raise ValueError(f"keep_top: expected a fraction in (0, 1], got {keep_top!r}")
    done = [t for t in rank_trials(result.trials, result.direction) if t.state == TrialState.COMPLETE]
    if not done:
        return dict(space)
    top = done[: max(1, int(round(keep_top * len(done))))]
    new: dict[str, Dimension] = {}
    for name, dim in space.items():
        if is_numeric(dim):
            vals = [t.params[name] for t in top if name in t.params]
            new[name] = original[name].narrow(vals, margin=margin, current=dim)
        else:
            new[name] = dim
    return new


def _wait_finished(study: optuna.Study, timeout: float | None, verbose: bool, poll: float = 1.0) -> None:
    """Wait until no trial of the study is running (other machines may still be in this round)."""
    start, said = time.monotonic(), False
    while True:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
        if not running:
            return
        if verbose and not said:
            print(f"[{study.study_name}] waiting for {len(running)} running trial(s) on other workers", flush=True)
            said = True
        if timeout is not None and time.monotonic() - start > timeout:
            raise RuntimeError(
                f"study {study.study_name!r}: trials {[t.number for t in running]} still RUNNING after "
                f"{timeout:g} s (a worker may have died; see docs/tuning.md)")
        time.sleep(poll)


class CoarseToFineResult(SearchResult):
    """All rounds of a coarse-to-fine search. `rounds[i]` is round i+1's SearchResult and
    `spaces[i]` the space it searched; `trials`, the table and the plot cover every round (a
    `round` column tells them apart); best_* is the best COMPLETE trial over all rounds; the
    border warning is checked against the original space."""

    def __init__(self, rounds: list[SearchResult], spaces: list[dict[str, Dimension]]) -> None:
        self.rounds, self.spaces = rounds, spaces
        self._round_of = {id(t): i + 1 for i, r in enumerate(rounds) for t in r.trials}
        super().__init__(study=rounds[-1].study, space=spaces[0], direction=rounds[0].direction,
                         trials=[t for r in rounds for t in r.trials])

    def round_of(self, t: FrozenTrial) -> int:
        return self._round_of[id(t)]

    def rows(self, top: int | None = None) -> list[dict[str, Any]]:
        ranked = rank_trials(self.trials, self.direction)[:top]
        return [{"round": self.round_of(t), **trial_row(t, list(self.space))} for t in ranked]

    def columns(self) -> list[str]:
        return ["round", *super().columns()]

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["rounds"] = [{"study": r.study_name, "space": space_to_dict(s)} for r, s in zip(self.rounds, self.spaces)]
        return d

    def summary(self, top: int = 10) -> str:
        lines = []
        for i, (r, s) in enumerate(zip(self.rounds, self.spaces), start=1):
            ranges = ", ".join(f"{k}={v!r}" for k, v in s.items())
            lines.append(f"round {i} ({r.study_name}): {len(r.trials)} trials over {ranges}")
        lines.append(format_table(self.rows(top)))
        return "\n".join(lines)


def coarse_to_fine(objective: Callable, space: Mapping[str, Any], n_trials: int | Sequence[int],
                   rounds: int = 2, keep_top: float = 0.2, margin: float = 0.1, sampler: Any = "random",
                   pruner: Any = "median", storage: Any = None, study_name: str | None = None,
                   n_workers: int = 1, seed: int = 0, direction: str = "maximize", verbose: bool = False,
                   callbacks: Sequence[Callable] = (), wait_timeout: float | None = None,
                   warn_border: bool = True) -> CoarseToFineResult:
    """Search in `rounds` rounds; each round after the first searches the numeric ranges
    narrowed around the previous round's best trials (see `narrow_space`).

    n_trials: trials per round (an int), or one budget per round (a list).
    Each round is its own study in the same storage, named STUDY-r1, STUDY-r2, ...; its space is
    stored in the study's user attribute `chainrule.space` (and its round in `chainrule.round`).
    Workers on several machines may each call this (or `chainrule tune --rounds`): a worker
    that finishes its share of a round waits (up to `wait_timeout` s, default forever) until no
    trial of the round is still running anywhere, then computes the next range from the same
    finished trials as everybody else; a round's space, once stored, is read back, not recomputed.
    Other arguments as in `search`.
    """
    space = check_space(space)
    if int(rounds) < 1:
        raise ValueError(f"rounds: expected a positive integer, got {rounds!r}")
    budgets = [int(n_trials)] * int(rounds) if np.isscalar(n_trials) else [int(n) for n in n_trials]
    if len(budgets) != int(rounds):
        raise ValueError(f"n_trials: expected an int or {rounds} per-round budgets, got {n_trials!r}")
    base = study_name or "chainrule-tune"
    # One storage object for every round, so that the in-memory default keeps all of them.
    st = storage if _storage.shareable(storage) else _storage.get_storage(storage)
    results: list[SearchResult] = []
    spaces: list[dict[str, Dimension]] = []
    current = space
    for r in range(1, int(rounds) + 1):
        name = f"{base}-r{r}"
        if r > 1:
            _wait_finished(_storage.load_study(st, results[-1].study_name), wait_timeout, verbose)
            prev = SearchResult(study=_storage.load_study(st, results[-1].study_name), space=current,
                                direction=direction)
            results[-1] = prev
            current = narrow_space(current, space, prev, keep_top, margin)
            stored = _storage.study_attrs(_storage.create_or_load(
                st, name, direction, {"space": space_to_dict(current), "round": r}))
            if "space" in stored:
                current = space_from_dict(stored["space"])  # another machine decided first: use its range
        else:
            _storage.create_or_load(st, name, direction, {"space": space_to_dict(current), "round": r})
        if verbose:
            print(f"round {r}/{rounds} ({name}): " + ", ".join(f"{k}={v!r}" for k, v in current.items()), flush=True)
        res = search(objective, current, budgets[r - 1], sampler=sampler, pruner=pruner, storage=st,
                     study_name=name, n_workers=n_workers, seed=seed, direction=direction, verbose=verbose,
                     callbacks=callbacks, warn_border=False, _stream=r - 1)
        results.append(res)
        spaces.append(current)
    _wait_finished(_storage.load_study(st, results[-1].study_name), wait_timeout, verbose)
    results[-1] = SearchResult(study=_storage.load_study(st, results[-1].study_name), space=current,
                               direction=direction)
    out = CoarseToFineResult(results, spaces)
    if warn_border:
        out.warn_border()
    return out

