"""`chainrule train`: train a model from the zoo on a dataset, into a run folder.

With no arguments it trains the zoo's small_cnn on the built-in 8x8 digits
(cr.data.load("digits")) and prints where the results are and the test accuracy.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__, models
from ..callbacks import EarlyStopping, JSONLLogger
from ..data.transforms.spec import augment_from_spec, augment_help
from ..metrics import accuracy, predict_scores
from ..optim.factory import OPTIMIZERS
from ..optim.lr_scheduler import SPEC_FORMS
from ..optim.swa_utils import EMA
from ..rng import manual_seed
from ..serialization import save
from ..solver import Solver
from .. import distributed as dist
from . import CLIError, common, runfolder

HELP = "train a model (default: a small CNN on the built-in digits) into a run folder"

# The defaults are tuned for `chainrule train` with no arguments (see docs/training.md).
# The main job's recipe (issue 21 item 9): the cosine stops at lr/10 and the EMA (~100 steps) averages
# weights that still move, a small SWA: far steadier over seeds and roundings than cosine to 0 (README).
DEFAULTS = dict(model="small_cnn", data="digits", epochs=40, batch_size=common.BATCH_SIZE, optimizer="adam",
                lr=1e-2, lr_schedule="cosine:1e-3", weight_decay=1e-4, augment="crop:1", preprocess=common.PREPROCESS,
                ema=0.99, seed=0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument("--model", default=d["model"], help=f"zoo model name (default {d['model']})")
    p.add_argument("--model-args", default=None, metavar="JSON",
                   help='extra builder arguments as JSON, e.g. \'{"channels": [32, 64, 64]}\'')
    common.add_data_arguments(p, d["data"])
    p.add_argument("--epochs", type=int, default=None, help=f"epochs (default {d['epochs']}; with --resume: "
                   "train until this many epochs are done)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help=f"(default {d['batch_size']})")
    p.add_argument("--optimizer", default=d["optimizer"], help=f"{' | '.join(OPTIMIZERS)} (default {d['optimizer']})")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"learning rate (default {d['lr']})")
    p.add_argument("--lr-schedule", default=d["lr_schedule"], metavar="SPEC",
                   help=f"per-epoch schedule: {' | '.join(SPEC_FORMS)} (default {d['lr_schedule']})")
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"], help=f"(default {d['weight_decay']})")
    p.add_argument("--augment", default=d["augment"], metavar="SPEC",
                   help=f"comma list of {augment_help()} (default {d['augment']})")
    common.add_preprocess_argument(p, d["preprocess"])
    p.add_argument("--ema", type=float, default=d["ema"], metavar="DECAY",
                   help="keep an exponential moving average of the weights (updated every step), lowered for "
                        "short runs so that the initial weights fade (DECAY^steps <= 1e-3), and save it, or the "
                        "final raw weights if they score better on validation (said and recorded); "
                        f"0: off, save the best epoch's weights (default {d['ema']})")
    p.add_argument("--patience", type=int, default=None, help="early stopping on val_acc after this many epochs")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="also checkpoint every N iterations (default: every epoch)")
    p.add_argument("--seed", type=int, default=d["seed"],
                   help=f"seeds the weights, shuffling and augmentation; the data split stays fixed (default {d['seed']})")
    common.add_threads_argument(p)
    p.add_argument("--image-size", type=int, default=None, metavar="S",  # issue 23 (h-23data): train_stream.py
                   help="with --data folder:PATH: stream the folder (decoded as it is read, never held in memory) "
                        "at S x S, preprocessing fitted on a sample of 2,000 images")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="with --image-size: N worker processes decode the images (default 0: this process)")
    p.add_argument("--out", default=None, help="run folder (default runs/<model>-<data>-<time>)")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue a run: its folder runs/NAME (or its checkpoint, runs/NAME/checkpoints/"
                        "last.safetensors); --epochs may raise the number of epochs, other options come from the run")
    common.add_device_argument(p, default=None)  # None: cpu, or with --resume the run's own
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no per-epoch lines (metrics.jsonl has them); the start and the "
                        "result are still printed")
    p.add_argument("--nproc", type=int, default=None, metavar="N",  # issue 24 (h-24dist)
                   help="train data-parallel on N processes of this machine (mpiexec -n N; each takes a share "
                        "of every batch; needs the [distributed] extra); under mpiexec the ranks join by themselves")
    p.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="also log for TensorBoard, into DIR (default RUN/tensorboard; needs the [tensorboard] extra)")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "nproc", None):  # data parallel (issue 24): the same command as N MPI ranks
        from ..distributed import launch
        try:
            return launch.run(args.nproc, ["train", *launch.argv_from_namespace(add_arguments, args, skip=("nproc",))])
        except (RuntimeError, ValueError) as e:  # no mpiexec, a bad N
            raise CLIError(str(e)) from None
    backend = "nccl" if str(getattr(args, "device", None) or "").startswith("cuda") else "mpi"
    if dist.join_if_launched(backend):  # a rank > 0 of `mpiexec -n N chainrule train`: rank 0 prints
        sys.stdout = open(os.devnull, "w")
    if args.resume:
        run_dir, cfg = _resume_config(args)
    else:
        if args.out:  # a file, a name too long, no write permission: one line before anything else
            runfolder.check_writable(Path(args.out))
        run_dir, cfg = _new_run(args)
    a = argparse.Namespace(**cfg["args"])
    # one run per folder; checked writable before anything is written; a full disk said in words
    claim = runfolder.claim(run_dir, "train", fresh=not args.resume) if dist.get_rank() == 0 else \
        contextlib.nullcontext(run_dir)  # data parallel: rank 0 holds the folder and writes it
    with claim, common.threads(args.threads):
        return _train(run_dir, cfg, a, args)


def _new_run(args) -> tuple[Path, dict]:
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{args.model}-{args.data.replace(':', '_').replace('/', '_')}-{stamp}"
    else:
        out = Path(args.out)
    if (out / "config.json").exists():
        raise CLIError(f"run folder {out} already exists; choose another --out, or " + _how_to_continue(out))
    if args.epochs is None:
        args.epochs = DEFAULTS["epochs"]
    if args.device is None:
        args.device = "cpu"
    for name in ("epochs", "batch_size", "checkpoint_every", "patience"):
        common.at_least("--" + name.replace("_", "-"), getattr(args, name), 1)
    if not 0 <= args.ema < 1:
        raise CLIError(f"--ema: the decay must be in [0, 1) (0: off), got {args.ema}")
    common.absolute_data(args)
    saved = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("resume", "command")}
    cfg = {"chainrule_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": saved}
    return out, cfg


def _how_to_continue(run_dir: Path) -> str:
    """What to tell a user about an existing run folder: resume it, or that there is nothing to resume."""
    if (run_dir / "checkpoints" / "last.safetensors").is_file():
        return f"continue it with --resume {run_dir}"
    return (f"delete it: it has no checkpoint to continue from ({run_dir / 'checkpoints' / 'last.safetensors'} "
            "was never written: training stopped before the end of its first epoch)")


def _resume_config(args) -> tuple[Path, dict]:
    """(run folder, config) for --resume RUN_FOLDER or --resume its checkpoint file; sets
    args.resume to the checkpoint file."""
    given = Path(args.resume)
    if given.is_dir():
        run_dir = given
        common.read_config(run_dir)  # says so if it is not a run folder
        ck = run_dir / "checkpoints" / "last.safetensors"
        if not ck.is_file():
            raise CLIError(f"--resume {given}: this run has no checkpoint to continue from ({ck} was never "
                           "written: training stopped before the end of its first epoch); start it again "
                           "with another --out")
    elif given.is_file():
        if given.suffix != ".safetensors":
            raise CLIError(f"--resume {given}: expected a run folder (runs/NAME) or its checkpoint "
                           "(runs/NAME/checkpoints/last.safetensors)")
        ck = given
        run_dir = ck.parent.parent if ck.parent.name == "checkpoints" else ck.parent
        if not (run_dir / "config.json").is_file():
            raise CLIError(f"--resume {given}: no run folder around this checkpoint ({run_dir / 'config.json'} "
                           "does not exist); give the run folder made by `chainrule train`")
    else:
        raise CLIError(f"--resume {given}: does not exist (expected a run folder runs/NAME, or its checkpoint)")
    args.resume = str(ck)
    run_dir, cfg = common.read_config(run_dir)
    if args.epochs is not None:
        cfg["args"]["epochs"] = args.epochs
    if args.device is not None:  # a run may continue on another device
        cfg["args"]["device"] = args.device
    cfg["args"]["quiet"] = args.quiet
    cfg["args"].setdefault("download", False)
    return run_dir, cfg


def _model_args(text: str | None) -> dict:
    """--model-args JSON as a dict of builder arguments."""
    if not text:
        return {}
    try:
        extra = json.loads(text)
    except ValueError as e:
        raise CLIError(f"--model-args: not valid JSON ({e}); expected e.g. '{{\"channels\": [32, 64, 64]}}'") from None
    if not isinstance(extra, dict):
        raise CLIError(f"--model-args: expected a JSON object of builder arguments, e.g. "
                       f"'{{\"channels\": [32, 64, 64]}}', got {text!r}")
    return extra


def _check_optimizer(a: argparse.Namespace, model) -> None:
    """--optimizer, --lr, --weight-decay and --lr-schedule as the Solver will build them, so that a bad
    value is named here as an option (and anything the Solver raises later is a bug)."""
    from ..optim import factory

    if a.optimizer not in OPTIMIZERS:
        raise CLIError(f"--optimizer: unknown optimizer {a.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    with common.option("--lr/--weight-decay"):
        opt = factory.resolve(a.optimizer, model.parameters(), a.lr, weight_decay=float(a.weight_decay))
    with common.option("--lr-schedule"):
        factory.resolve_schedule(None if a.lr_schedule == "none" else a.lr_schedule, opt, a.epochs)


def _augment(spec: str | None, pre, X_train: np.ndarray):
    """The augmentation, built on (a seeded sample of) the preprocessed training images."""
    if not spec or spec == "none":
        return None
    n = X_train.shape[0]
    sample = X_train[np.sort(np.random.default_rng(0).choice(n, min(n, 5000), replace=False))]
    with common.option("--augment"):
        return augment_from_spec(spec, common.prepare(pre, sample))


def ema_decay(decay: float, n_train: int, a: argparse.Namespace) -> float:
    """`decay`, lowered for short runs so that the initial (random) weights keep at most 0.1% of
    the average at the end: decay ** steps <= 1e-3 (the default job's 680 steps allow 0.9899)."""
    steps = math.ceil(n_train / a.batch_size) * a.epochs
    return min(float(decay), math.exp(math.log(1e-3) / max(steps, 1)))


def _train(run_dir: Path, cfg: dict, a: argparse.Namespace, args: argparse.Namespace) -> int:
    from . import train_stream  # issue 23 (h-23data): --data folder:PATH --image-size S streams
    if train_stream.wanted(a):
        return train_stream.train(run_dir, cfg, a, args)
    t_start = time.perf_counter()
    device = common.resolve_device(getattr(a, "device", None))  # (older runs: none, the cpu)
    data = common.load_data(a.data, a.data_dir, a.subsample, download=getattr(a, "download", False))
    pre = common.fit_preprocess(a.preprocess, data.X_train)  # on the training split only
    info = common.data_info(data, pre)
    augment = _augment(a.augment, pre, data.X_train)
    ema = EMA(ema_decay(a.ema, data.X_train.shape[0], a)) if getattr(a, "ema", 0) else None  # (older runs: none)
    callbacks = ([ema] if ema else []) + [JSONLLogger(run_dir / "metrics.jsonl")]  # EMA first: logged
    if a.patience is not None:
        callbacks.append(EarlyStopping("val_acc", patience=a.patience))
    if getattr(a, "tensorboard", None) is not None:
        callbacks.append(_tensorboard(run_dir, a))
    common_kw = dict(augment=augment, callbacks=callbacks, verbose=not a.quiet, checkpoint_dir=run_dir / "checkpoints",
                     device=device)
    dist.barrier()  # every rank has checked the run folder before rank 0 writes into it
    if args.resume:
        solver = Solver.resume(args.resume, data, num_epochs=a.epochs, **common_kw)
        print(f"Resuming {run_dir} from epoch {solver.epoch}, iteration {solver.step} ({args.resume})")
    else:
        extra = _model_args(a.model_args)
        manual_seed(a.seed)  # the model's initial weights come from the seed too
        shape = common.prepare(pre, data.X_train[:1]).shape[1:]
        with common.option("--model" if not extra else "--model/--model-args"):
            try:
                model = models.build_for(a.model, data, input_shape=shape, **extra)
            except TypeError as e:  # an argument the builder does not take
                raise CLIError(f"--model-args: {e}") from None
        _check_optimizer(a, model)
        solver = Solver(model, data, optimizer=a.optimizer, lr=a.lr, weight_decay=a.weight_decay,
                        lr_schedule=None if a.lr_schedule == "none" else a.lr_schedule,
                        batch_size=a.batch_size, num_epochs=a.epochs, preprocess=pre,
                        seed=a.seed, checkpoint_every=a.checkpoint_every, **common_kw)
        cfg["data"] = info
        if dist.get_rank() == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "plots").mkdir(exist_ok=True)
            common.write_config(run_dir, cfg)
        n = sum(p.data.size for p in model.parameters())
        on = f" on {device}" if device.type == "cuda" else ""
        print(f"Training {a.model} ({n:,} parameters){on} on {a.data} ({info['counts']}) for {a.epochs} epochs "
              f"into {run_dir}")
    if (code := common.train_to_end(solver)) is not None:
        return code
    train_seconds = time.perf_counter() - t_start

    kept_weights, model = solver.choose_weights()  # with --ema: the average or the final raw weights
    if dist.get_rank() > 0:  # data parallel: rank 0 writes the results
        return 0
    save(model, run_dir / "model.safetensors", preprocess=solver.preprocess_, classes=data.classes, info=info)
    X_test = common.prepare(solver.preprocess_, data.X_test)
    test_acc = accuracy(predict_scores(model, X_test), data.y_test)
    if ema:  # the final raw weights beside the averaged ones, each evaluated
        save(solver.model, run_dir / "model_raw.safetensors", preprocess=solver.preprocess_,
             classes=data.classes, info=info)
    cfg["results"] = {"test_acc": test_acc, "best_val_acc": solver.best_val_acc, "best_epoch": solver.best_epoch,
                      "epochs_done": solver.epoch, "iterations": solver.step,
                      "wall_seconds": round(train_seconds, 2)}
    cfg["results"]["saved_weights"] = kept_weights  # "ema" | "raw"
    if ema:
        cfg["results"]["ema_val_acc"] = ema.val_acc_history[-1]
        cfg["results"]["raw_test_acc"] = accuracy(predict_scores(solver.model, X_test), data.y_test)
    common.write_config(run_dir, cfg)
    for m in (solver.model, model):  # the plots and the report read weights and activations as NumPy
        m.cpu()
    _plot(solver, model, run_dir, data)
    _report(run_dir, data)
    kept = f"saved the EMA weights, EMA val acc {ema.val_acc_history[-1]:.4f}" if kept_weights == "ema" else \
        (f"saved the final raw weights, val acc {solver.val_acc_history[-1]:.4f} (EMA val acc "
         f"{ema.val_acc_history[-1]:.4f}, lower)" if ema else
         f"best val acc {solver.best_val_acc:.4f} (epoch {solver.best_epoch})")
    raw = f" (raw weights {cfg['results']['raw_test_acc']:.4f}, model_raw.safetensors)" if ema else ""
    print(f"Done in {train_seconds:.1f}s: {kept}, test acc {test_acc:.4f}{raw}")
    print(f"Results in {run_dir}/ (report.html, model.safetensors, metrics.jsonl, config.json, checkpoints/, plots/)")
    print(f"  chainrule evaluate {run_dir}      chainrule predict {run_dir} IMAGE.png")
    return 0


def _plot(solver, model, run_dir: Path, data) -> None:
    """Curves, first-layer filters, activation histograms, the confusion matrix and the
    misclassified validation examples, as PNGs in run_dir/plots."""
    from ..viz.training import save_training_plots  # matplotlib: loaded only when plotting

    try:
        save_training_plots(solver, run_dir / "plots", X_val=data.X_val, y_val=data.y_val,
                            classes=data.classes, model=model, preprocess=solver.preprocess_)
    except Exception as e:  # plots are a bonus: never lose a finished run over them
        print(f"(plots not written: {type(e).__name__}: {e})", file=sys.stderr)


def _tensorboard(run_dir: Path, a: argparse.Namespace):
    """cr.callbacks.TensorBoard into --tensorboard DIR (or RUN/tensorboard), with the command's arguments
    as the run's hyperparameters."""
    from ..callbacks import TensorBoard

    hparams = {k: v for k, v in vars(a).items() if k not in ("out", "quiet", "tensorboard", "data_dir", "threads")}
    try:
        return TensorBoard(a.tensorboard or run_dir / "tensorboard", hparams=hparams)
    except ImportError as e:
        raise CLIError(str(e)) from None


def _report(run_dir: Path, data) -> None:
    """run_dir/report.html: the run on one self-contained page (chainrule.viz.report)."""
    from ..viz.report import write_report  # matplotlib: loaded only when reporting

    try:
        write_report([run_dir], run_dir / "report.html", data=data)
    except Exception as e:  # a bonus like the plots: never lose a finished run over it
        print(f"(report not written: {type(e).__name__}: {e})", file=sys.stderr)
