"""`chainrule train --data folder:PATH --image-size S [--workers N]`: train on a folder that is
decoded as it is read (issue 23), never held in memory.

The folder becomes train/val Datasets (cr.data.folder_datasets: a class-stratified, seeded 10%
for validation; training images get RandomResizedCrop(S) + horizontal flip, validation images the
whole image resized to S x S, as `chainrule predict` reads one); the preprocessing statistics are
fitted on a sample of at most 2,000 training images (cr.data.fit_on_sample) and saved with the
model; the Solver loads batches with N worker processes. There is no test split: the folder's
held-out images are the validation set.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as crdata
from .. import distributed as dist
from .. import models
from ..callbacks import EarlyStopping, JSONLLogger
from ..data.transforms.preprocess import MeanImage, PerChannelNormalize
from ..data.transforms.spec import preprocess_from_spec
from ..model_contract import describe_preprocess
from ..optim.swa_utils import EMA
from ..rng import manual_seed
from ..serialization import save
from ..solver import Solver
from . import CLIError, common

FIT_SAMPLES = 2000  # images the preprocessing statistics are fitted on
VAL_SIZE = 0.1


def wanted(a: argparse.Namespace) -> bool:
    """Whether the run streams: --image-size given (with --data folder:PATH, else a CLIError)."""
    size, workers = getattr(a, "image_size", None), getattr(a, "workers", 0) or 0
    folder = (a.data or "").startswith(crdata.catalog.FOLDER_PREFIX)
    if size is None:
        if workers:
            raise CLIError("--workers streams a folder: use it with --data folder:PATH --image-size S")
        return False
    if not folder:
        raise CLIError(f"--image-size goes with --data folder:PATH (a folder decoded as it is read); "
                       f"{a.data} is loaded whole at its own size")
    common.at_least("--image-size", size, 8)
    common.at_least("--workers", workers, 0)
    return True


def splits(a: argparse.Namespace):
    """The folder's train/val Datasets (cr.data.FolderSplits); only the file list is read."""
    common.at_least("--subsample", a.subsample, 2)
    path = a.data[len(crdata.catalog.FOLDER_PREFIX):]
    with common.option("--data"):
        try:
            return crdata.folder_datasets(path, a.image_size, val_size=VAL_SIZE, seed=0, subsample=a.subsample)
        except FileNotFoundError as e:
            raise CLIError(f"--data {a.data}: {e}") from None


def fitted_preprocess(spec: str | None, train_view, workers: int):
    """The --preprocess preprocessor fitted on at most FIT_SAMPLES training images (streamed)."""
    with common.option("--preprocess"):
        pre = preprocess_from_spec(spec)
    if pre is None:
        return None
    if not isinstance(pre, (PerChannelNormalize, MeanImage)):
        raise CLIError(f"--preprocess {spec}: with --image-size use perchannel, mean or none (whitening "
                       "needs the images in memory)")
    return crdata.fit_on_sample(pre, train_view, max_samples=FIT_SAMPLES, num_workers=workers)


def contract(data, pre) -> dict[str, Any]:
    """The model's input contract (as common.data_info gives for arrays) from the folder's description."""
    i = data.info
    return {"name": i["name"], "input_shape": list(i["image_shape"]), "dtype": i["dtype"],
            "value_range": [float(v) for v in i["value_range"]], "preprocess": describe_preprocess(pre),
            "classes": list(data.classes), "counts": dict(i["counts"])}


def train(run_dir: Path, cfg: dict, a: argparse.Namespace, args: argparse.Namespace) -> int:
    """`chainrule train`'s _train for a streamed folder: the same run folder, without a test split,
    plots or report (they need the images in memory)."""
    from .train import _check_optimizer, _model_args, _tensorboard, ema_decay

    t_start = time.perf_counter()
    device = common.resolve_device(getattr(a, "device", None))
    data = splits(a)
    workers = int(a.workers or 0)
    n_train = len(data.train)
    ema = EMA(ema_decay(a.ema, n_train, a)) if getattr(a, "ema", 0) else None
    callbacks = ([ema] if ema else []) + [JSONLLogger(run_dir / "metrics.jsonl")]
    if a.patience is not None:
        callbacks.append(EarlyStopping("val_acc", patience=a.patience))
    if getattr(a, "tensorboard", None) is not None:
        callbacks.append(_tensorboard(run_dir, a))
    kw = dict(callbacks=callbacks, verbose=not a.quiet, checkpoint_dir=run_dir / "checkpoints", device=device,
              val_data=data.val, num_workers=workers, classes=data.classes, eval_batch_size=a.batch_size)
    dist.barrier()
    if args.resume:
        solver = Solver.resume(args.resume, data.train, num_epochs=a.epochs, **kw)
        pre = solver.preprocess_
        print(f"Resuming {run_dir} from epoch {solver.epoch}, iteration {solver.step} ({args.resume})")
    else:
        pre = fitted_preprocess(a.preprocess, data.fit_view, workers)
        extra = _model_args(a.model_args)
        manual_seed(a.seed)
        shape = (3, a.image_size, a.image_size)
        sized = {"X_train": np.zeros((1, *shape), np.float32), "y_train": np.array([len(data.classes) - 1])}
        with common.option("--model" if not extra else "--model/--model-args"):
            try:
                model = models.build_for(a.model, sized, input_shape=shape, **extra)
            except TypeError as e:
                raise CLIError(f"--model-args: {e}") from None
        _check_optimizer(a, model)
        solver = Solver(model, data.train, optimizer=a.optimizer, lr=a.lr, weight_decay=a.weight_decay,
                        lr_schedule=None if a.lr_schedule == "none" else a.lr_schedule, batch_size=a.batch_size,
                        num_epochs=a.epochs, preprocess=pre, seed=a.seed, checkpoint_every=a.checkpoint_every, **kw)
        cfg["data"] = contract(data, pre)
        if dist.get_rank() == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            common.write_config(run_dir, cfg)
        n = sum(p.data.size for p in model.parameters())
        print(f"Training {a.model} ({n:,} parameters) on {a.data} streamed at {a.image_size}x{a.image_size} "
              f"with {workers} workers ({cfg['data']['counts']}; augmentation: RandomResizedCrop + flip per "
              f"image, --augment is for in-memory data) for {a.epochs} epochs into {run_dir}")
    if (code := common.train_to_end(solver)) is not None:
        return code
    seconds = time.perf_counter() - t_start
    kept_weights, model = solver.choose_weights()
    if dist.get_rank() > 0:
        return 0
    info = contract(data, solver.preprocess_)
    save(model, run_dir / "model.safetensors", preprocess=solver.preprocess_, classes=data.classes, info=info)
    cfg["results"] = {"test_acc": None, "best_val_acc": solver.best_val_acc, "best_epoch": solver.best_epoch,
                      "epochs_done": solver.epoch, "iterations": solver.step, "wall_seconds": round(seconds, 2),
                      "saved_weights": kept_weights}
    common.write_config(run_dir, cfg)
    print(f"Done in {seconds:.1f}s: best val acc {solver.best_val_acc:.4f} (epoch {solver.best_epoch}); "
          f"saved {kept_weights} weights (no test split: the folder's held-out 10% is validation)")
    print(f"Results in {run_dir}/ (model.safetensors, metrics.jsonl, config.json, checkpoints/)")
    return 0
