"""`chainrule tune`: hyperparameter search (random in log space, TPE, grid; coarse-to-fine;
median pruning) on one machine or many. See docs/tuning.md."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any

from . import CLIError, common, runfolder

HELP = "search hyperparameters (random/TPE/grid, coarse-to-fine, pruning) on one machine or many"

# Options a worker on another machine may leave out: they are read back from the study.
STORED = ("model", "data", "data_dir", "subsample", "preprocess", "set", "objective", "trials", "space", "epochs", "batch_size",
          "optimizer", "sampler", "pruner", "rounds", "keep_top", "seed", "direction")
DEFAULTS = {"epochs": 3, "batch_size": common.BATCH_SIZE, "preprocess": common.PREPROCESS, "optimizer": "adam", "sampler": "random", "pruner": "median",
            "rounds": 1, "keep_top": 0.2, "seed": 0, "direction": "maximize", "workers": 1}


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_argument_group("what to tune (a model on a dataset, or your own objective)")
    what.add_argument("--model", help="model name in the cr.models registry, e.g. three_layer_convnet")
    common.add_data_arguments(what, default=None)
    common.add_preprocess_argument(what, default=None)
    what.add_argument("--epochs", type=int, help=f"epochs per trial (default {DEFAULTS['epochs']})")
    what.add_argument("--batch-size", type=int, help=f"(default {DEFAULTS['batch_size']})")
    what.add_argument("--optimizer", help=f"default {DEFAULTS['optimizer']}")
    what.add_argument("--set", action="append", metavar="NAME=VALUE",
                      help="repeatable: a fixed model/Solver argument, e.g. --set num_filters=16 --set momentum=0.9")
    what.add_argument("--objective", metavar="MODULE:FUNC",
                      help="an importable objective f(params, report) or f(trial) instead of --model/--data")
    how = p.add_argument_group("the search")
    how.add_argument("--space", action="append", metavar="NAME=SPEC",
                     help="repeatable: lr=1e-5:1e-1:log, dropout=0:0.5, depth=1:4:int (fc_net: hidden layers, "
                          "with width=...), hidden_dim=64,128,256 (a choice), hidden_dims=64,128|128,128 "
                          "(a choice of lists: '|' between lists, ',' inside one)")
    how.add_argument("--trials", type=int, help="trial budget (per round with --rounds)")
    how.add_argument("--sampler", choices=("random", "tpe", "grid"), help="default random")
    how.add_argument("--pruner", choices=("median", "none"), help="default median")
    how.add_argument("--rounds", type=int, help="coarse-to-fine rounds (default 1)")
    how.add_argument("--keep-top", type=float, help="fraction of best trials a round narrows to (default 0.2)")
    how.add_argument("--seed", type=int, help="study seed (default 0)")
    how.add_argument("--direction", choices=("maximize", "minimize"), help="default maximize (accuracy)")
    where = p.add_argument_group("storage and scale")
    where.add_argument("--out", help="run folder for the table, plot and default journal (default runs/STUDY)")
    where.add_argument("--storage", help="journal file path or database URL "
                                          "(postgresql://user:pw@host/db); default OUT/study.journal")
    where.add_argument("--study", help="study name (default: the --out folder's name, else 'tune')")
    where.add_argument("--workers", type=int, help="local worker processes (default 1)")
    common.add_device_argument(where)  # each worker's own choice: not stored with the study
    where.add_argument("--create-only", action="store_true",
                       help="create the study (with these settings) and exit; then start workers")
    where.add_argument("--wait-timeout", type=float, help="seconds to wait for other workers between rounds")
    show = p.add_argument_group("output")
    show.add_argument("--top", type=int, default=10, help="trials shown in the final table (default 10)")
    show.add_argument("--plot-x", help="x axis of the scatter (default: first log-scale param)")
    show.add_argument("--plot-y", help="y axis of the scatter (default: second log-scale param)")


def _names(args: argparse.Namespace) -> tuple[str, str, str]:
    """(study name, out folder, storage)."""
    study = args.study or (os.path.basename(os.path.normpath(args.out)) if args.out else "tune")
    out = args.out or os.path.join("runs", study)
    storage = args.storage or os.path.join(out, "study.journal")
    return study, out, storage


def _need_optional(args: argparse.Namespace) -> None:
    """Optuna (and psycopg for a PostgreSQL --storage): one line naming the pip install if missing."""
    from ..errors import require_module

    require_module("optuna", "tune", "chainrule tune")
    if args.storage and args.storage.startswith("postgres"):
        require_module("psycopg", "tune", f"--storage {args.storage.partition(':')[0]}://...")


def _check_same_study(storage: str, name: str, attrs: dict) -> None:
    """A study that already exists under this name must be the same search: trials of another
    --space (or model, data, objective, direction) would silently mix into it."""
    from chainrule.tune import storage as st

    if not st.is_url(storage) and not os.path.exists(storage):
        return
    try:
        stored = st.study_attrs(st.load_study(storage, name))
    except ValueError:  # no such study yet
        return
    if stored.get("space") not in (None, attrs["space"]):
        raise CLIError(f"study {name!r} in {st.describe(storage)} was made with another search space "
                       f"({_spaces(stored['space'])}; now {_spaces(attrs['space'])}): its trials would mix. "
                       "Use another --out (or --study), or the same --space to add trials to it")
    old, new = stored.get("cli") or {}, attrs["cli"]
    for key in ("model", "data", "objective", "direction", "subsample", "preprocess", "epochs"):
        if old.get(key) is not None and old.get(key) != new.get(key):
            raise CLIError(f"study {name!r} in {st.describe(storage)} was made with --{key.replace('_', '-')} "
                           f"{old[key]}, not {new.get(key)}: its trials would mix. Use another --out (or --study)")


def _spaces(space: dict) -> str:
    import json

    return json.dumps(space, sort_keys=True, separators=(",", ":"))


def _fill_from_study(args: argparse.Namespace, storage: str, study: str) -> str | None:
    """Options left out on this machine are taken from the settings stored at creation;
    returns the name of the study they were read from."""
    from chainrule.tune import storage as st

    for name in (study, f"{study}-r1"):
        try:
            stored = st.study_attrs(st.load_study(storage, name)).get("cli")
        except ValueError:
            continue
        if stored:
            for key in STORED:
                if getattr(args, key, None) is None and stored.get(key) is not None:
                    setattr(args, key, stored[key])
            return name
    return None


def _objective(args: argparse.Namespace) -> Any:
    if args.objective:
        if args.model or args.data:
            raise CLIError("give either --objective or --model/--data, not both")
        module, _, func = args.objective.partition(":")
        if not module or not func:
            raise CLIError(f"--objective: expected MODULE:FUNC, got {args.objective!r}")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like `python -m`: modules of the current folder
        try:
            return getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as e:
            raise CLIError(f"--objective {args.objective}: {e}") from None
    if not (args.model and args.data):
        raise CLIError("say what to tune: --model NAME --data NAME, or --objective MODULE:FUNC")
    from chainrule.tune.solver_objective import SolverObjective

    if args.download:  # fetch the files once, here, rather than in every trial
        common.load_data(args.data, args.data_dir, args.subsample, download=True)
    return SolverObjective(args.model, args.data, epochs=args.epochs, batch_size=args.batch_size,
                           optimizer=args.optimizer, data_dir=args.data_dir, subsample=args.subsample,
                           preprocess=args.preprocess, fixed=_fixed(args.set or []),
                           device=str(common.resolve_device(args.device)))


def _fixed(items: list[str]) -> dict[str, Any]:
    from chainrule.tune.space import parse_scalar

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"--set: expected NAME=VALUE, got {item!r}")
        out[name.strip()] = parse_scalar(value.strip())
    return out


def run(args: argparse.Namespace) -> int:
    _need_optional(args)  # before chainrule.tune, which imports Optuna
    with runfolder.claim(_names(args)[1], "tune"):  # one command per --out folder, checked writable first
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from chainrule.tune import coarse_to_fine, search
    from chainrule.tune import storage as st
    from chainrule.tune.report import TuneBorderWarning
    from chainrule.tune.space import parse_space

    study, out, storage = _names(args)
    if args.storage or args.study:
        _fill_from_study(args, storage, study)
    for key, value in DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not args.space:
        raise CLIError("give at least one --space NAME=SPEC (e.g. --space lr=1e-5:1e-1:log)")
    if not args.trials:
        raise CLIError("give the trial budget: --trials N")
    with common.option("--space"):
        space = parse_space(args.space)
    if args.rounds < 1 or args.workers < 1:
        raise CLIError("--rounds and --workers must be at least 1")
    first = study if args.rounds == 1 else f"{study}-r1"
    cli_attrs = {key: getattr(args, key) for key in STORED}
    from chainrule.tune.space import space_to_dict

    attrs = {"cli": cli_attrs, "space": space_to_dict(space), "n_trials": args.trials, "seed": args.seed,
             "sampler": args.sampler, "direction": args.direction}
    if args.rounds > 1:
        attrs["round"] = 1

    if args.create_only:
        try:
            st.create_study(storage, first, args.direction, attrs)
            print(f"created study {first!r} in {st.describe(storage)}")
        except ValueError as e:
            if "already exists" not in str(e):
                raise
            print(f"study {first!r} already exists in {st.describe(storage)}; nothing to do")
        print(f"now start workers (on each machine): chainrule tune --storage '{storage}' --study {study} "
              f"--out runs/{study}-$(hostname)")
        return 0

    _check_same_study(storage, first, attrs)
    objective = _objective(args)
    if hasattr(objective, "check_names"):  # a name the model does not take: say so before any trial
        try:
            objective.check_names(space)
        except ValueError as e:
            raise CLIError(f"--space/--set: {e}") from None
    print(f"tuning {args.model or args.objective}{' on ' + args.data if args.data else ''}: "
          f"{args.trials} trials{f' x {args.rounds} rounds' if args.rounds > 1 else ''}, "
          f"sampler {args.sampler}, pruner {args.pruner}, {args.workers} worker(s), "
          f"study {study!r} in {st.describe(storage)}", flush=True)
    st.create_or_load(storage, first, args.direction, attrs)
    pruner = None if args.pruner == "none" else args.pruner
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TuneBorderWarning)
        search_kw = dict(sampler=args.sampler, pruner=pruner, storage=storage, n_workers=args.workers,
                         seed=args.seed, direction=args.direction, verbose=True)
        if args.rounds > 1:
            result = coarse_to_fine(objective, space, args.trials, rounds=args.rounds, keep_top=args.keep_top,
                                    study_name=study, wait_timeout=args.wait_timeout, **search_kw)
        else:
            result = search(objective, space, args.trials, study_name=study, **search_kw)
    border = [str(w.message) for w in caught if issubclass(w.category, TuneBorderWarning)]
    for w in caught:
        if not issubclass(w.category, TuneBorderWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    print()
    print(result.summary(args.top))
    try:
        print(f"\nbest: trial {result.best_trial.number}  value={result.best_value:.4f}  "
              + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items()))
    except ValueError:
        print("\nno trial completed")
    for msg in border:
        print(f"WARNING (border): {msg}")
    paths = [runfolder.write_atomically(os.path.join(out, "trials.csv"), result.to_csv),
             runfolder.write_atomically(os.path.join(out, "trials.json"), result.to_json)]
    if len(space) >= 2:
        try:
            paths.append(runfolder.write_atomically(os.path.join(out, "scatter.png"),
                                                    lambda tmp: result.plot(tmp, x=args.plot_x, y=args.plot_y)))
        except ValueError as e:
            raise CLIError(str(e)) from None
    print("wrote " + ", ".join(paths))
    return 0
