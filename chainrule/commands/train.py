"""`chainrule train`: train a model from the zoo on a dataset, into a run folder.

With no arguments it trains the zoo's small_cnn on the built-in 8x8 digits
(cr.data.load("digits")) and prints where the results are and the test accuracy.
"""
from __future__ import annotations

import argparse
import json
import math
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
from ..solver import NonFiniteLossError, Solver, TrainingInterrupted
from . import CLIError, common, runfolder

HELP = "train a model (default: a small CNN on the built-in digits) into a run folder"

# The defaults are tuned for `chainrule train` with no arguments (see docs/training.md).
DEFAULTS = dict(model="small_cnn", data="digits", epochs=30, batch_size=common.BATCH_SIZE, optimizer="adam",
                lr=1e-2, lr_schedule="cosine", weight_decay=1e-4, augment="crop:1", preprocess=common.PREPROCESS,
                ema=0.98, seed=0)


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
                   help="keep an exponential moving average of the weights (updated every step) and save it "
                        f"as the model instead of the best epoch's weights, lowered for short runs so that the initial "
                        f"weights fade (DECAY^steps <= 1e-3); 0: off (default {d['ema']})")
    p.add_argument("--patience", type=int, default=None, help="early stopping on val_acc after this many epochs")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="also checkpoint every N iterations (default: every epoch)")
    p.add_argument("--seed", type=int, default=d["seed"],
                   help=f"seeds the weights, shuffling and augmentation; the data split stays fixed (default {d['seed']})")
    common.add_threads_argument(p)
    p.add_argument("--out", default=None, help="run folder (default runs/<model>-<data>-<time>)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue the run saved in runs/NAME/checkpoints/last.safetensors "
                        "(--epochs may raise the number of epochs; other options come from the run)")
    common.add_device_argument(p, default=None)  # None: cpu, or with --resume the run's own
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                   help="also log for TensorBoard, into DIR (default RUN/tensorboard; needs the [tensorboard] extra)")


def run(args: argparse.Namespace) -> int:
    if args.resume:
        run_dir, cfg = _resume_config(args)
    else:
        if args.out:  # a file, a name too long, no write permission: one line before anything else
            runfolder.check_writable(Path(args.out))
        run_dir, cfg = _new_run(args)
    a = argparse.Namespace(**cfg["args"])
    # one run per folder; checked writable before anything is written; a full disk said in words
    with runfolder.claim(run_dir, "train", fresh=not args.resume), common.threads(args.threads):
        return _train(run_dir, cfg, a, args)


def _new_run(args) -> tuple[Path, dict]:
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{args.model}-{args.data.replace(':', '_').replace('/', '_')}-{stamp}"
    else:
        out = Path(args.out)
    if (out / "config.json").exists():
        raise CLIError(f"run folder {out} already exists; choose another --out, or continue it with "
                       f"--resume {out / 'checkpoints' / 'last.safetensors'}")
    if args.epochs is None:
        args.epochs = DEFAULTS["epochs"]
    if args.device is None:
        args.device = "cpu"
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    saved = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("resume", "command")}
    cfg = {"chainrule_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": saved}
    return out, cfg


def _resume_config(args) -> tuple[Path, dict]:
    ck = Path(args.resume)
    if not ck.is_file():
        raise CLIError(f"checkpoint {ck} does not exist")
    run_dir = ck.parent.parent if ck.parent.name == "checkpoints" else ck.parent
    run_dir, cfg = common.read_config(run_dir)
    if args.epochs is not None:
        cfg["args"]["epochs"] = args.epochs
    if args.device is not None:  # a run may continue on another device
        cfg["args"]["device"] = args.device
    cfg["args"]["quiet"] = args.quiet
    return run_dir, cfg


def _augment(spec: str | None, pre, X_train: np.ndarray):
    """The augmentation, built on (a seeded sample of) the preprocessed training images."""
    if not spec or spec == "none":
        return None
    n = X_train.shape[0]
    sample = X_train[np.sort(np.random.default_rng(0).choice(n, min(n, 5000), replace=False))]
    return augment_from_spec(spec, common.prepare(pre, sample))


def ema_decay(decay: float, n_train: int, a: argparse.Namespace) -> float:
    """`decay`, lowered for short runs so that the initial (random) weights keep at most 0.1% of
    the average at the end: decay ** steps <= 1e-3 (the default job's 510 steps allow 0.986)."""
    steps = math.ceil(n_train / a.batch_size) * a.epochs
    return min(float(decay), math.exp(math.log(1e-3) / max(steps, 1)))


def _train(run_dir: Path, cfg: dict, a: argparse.Namespace, args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    device = common.resolve_device(getattr(a, "device", None))  # (older runs: none, the cpu)
    data = common.load_data(a.data, a.data_dir, a.subsample)
    info = common.data_info(data)
    pre = common.fit_preprocess(a.preprocess, data.X_train)  # on the training split only
    augment = _augment(a.augment, pre, data.X_train)
    ema = EMA(ema_decay(a.ema, data.X_train.shape[0], a)) if getattr(a, "ema", 0) else None  # (older runs: none)
    callbacks = ([ema] if ema else []) + [JSONLLogger(run_dir / "metrics.jsonl")]  # EMA first: logged
    if a.patience is not None:
        callbacks.append(EarlyStopping("val_acc", patience=a.patience))
    if getattr(a, "tensorboard", None) is not None:
        callbacks.append(_tensorboard(run_dir, a))
    common_kw = dict(augment=augment, callbacks=callbacks, verbose=not a.quiet, checkpoint_dir=run_dir / "checkpoints",
                     device=device)
    if args.resume:
        solver = Solver.resume(args.resume, data, num_epochs=a.epochs, **common_kw)
        print(f"Resuming {run_dir} from epoch {solver.epoch}, iteration {solver.step} ({args.resume})")
    else:
        extra = json.loads(a.model_args) if a.model_args else {}
        manual_seed(a.seed)  # the model's initial weights come from the seed too
        shape = common.prepare(pre, data.X_train[:1]).shape[1:]
        model = models.build_for(a.model, data, input_shape=shape, **extra)
        solver = Solver(model, data, optimizer=a.optimizer, lr=a.lr, weight_decay=a.weight_decay,
                        lr_schedule=None if a.lr_schedule == "none" else a.lr_schedule,
                        batch_size=a.batch_size, num_epochs=a.epochs, preprocess=pre,
                        seed=a.seed, checkpoint_every=a.checkpoint_every, **common_kw)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "plots").mkdir(exist_ok=True)
        cfg["data"] = info
        common.write_config(run_dir, cfg)
        n = sum(p.data.size for p in model.parameters())
        on = f" on {device}" if device.type == "cuda" else ""
        print(f"Training {a.model} ({n:,} parameters){on} on {a.data} ({info['counts']}) for {a.epochs} epochs "
              f"into {run_dir}")
    try:
        solver.train()
    except TrainingInterrupted as e:
        print(f"\nchainrule train: {e}", file=sys.stderr)
        return 130
    except NonFiniteLossError as e:
        raise CLIError(str(e)) from None
    train_seconds = time.perf_counter() - t_start

    model = ema.model if ema else solver.model  # the averaged weights, or the best epoch's
    save(model, run_dir / "model.safetensors", preprocess=solver.preprocess_, classes=data.classes, info=info)
    X_test = common.prepare(solver.preprocess_, data.X_test)
    test_acc = accuracy(predict_scores(model, X_test), data.y_test)
    if ema:  # the raw (best-epoch) weights beside the averaged ones, each evaluated
        save(solver.model, run_dir / "model_raw.safetensors", preprocess=solver.preprocess_,
             classes=data.classes, info=info)
    cfg["results"] = {"test_acc": test_acc, "best_val_acc": solver.best_val_acc, "best_epoch": solver.best_epoch,
                      "epochs_done": solver.epoch, "iterations": solver.step,
                      "wall_seconds": round(train_seconds, 2)}
    if ema:
        cfg["results"]["ema_val_acc"] = ema.val_acc_history[-1]
        cfg["results"]["raw_test_acc"] = accuracy(predict_scores(solver.model, X_test), data.y_test)
    common.write_config(run_dir, cfg)
    for m in (solver.model, model):  # the plots and the report read weights and activations as NumPy
        m.cpu()
    _plot(solver, model, run_dir, data)
    _report(run_dir, data)
    kept = f"EMA val acc {ema.val_acc_history[-1]:.4f}" if ema else \
        f"best val acc {solver.best_val_acc:.4f} (epoch {solver.best_epoch})"
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
