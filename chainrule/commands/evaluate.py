"""`chainrule evaluate RUN [RUN ...]`: accuracy of a run's saved model on its test (or val) split;
with several runs, also that of their ensemble (the mean of their softmax probabilities)."""
from __future__ import annotations

import argparse

import numpy as np

from ..data.transforms import TenCrop, predict_tta
from ..data.transforms.spec import crop_padding
from ..metrics import accuracy, predict_scores
from ..models.ensemble import average_probabilities
from ..ops.activation import softmax_array
from . import CLIError, common

HELP = "accuracy of a trained run's model on the test split (--tta: average over crops/flips)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", nargs="+",
                   help="run folder(s) made by `chainrule train` (runs/NAME); several: also their ensemble")
    p.add_argument("--split", choices=("test", "val", "train"), default="test", help="which split (default test)")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average the softmax over ten crops of the zero-padded "
                        "image (corners + centre, and their mirrors if the run trained with flips)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the dataset's folder (or the folder holding it), if not where training found it")
    p.add_argument("--batch-size", type=int, default=256, help="examples per forward pass (default 256)")
    p.add_argument("--topk", type=lambda s: tuple(int(k) for k in s.split(",")), default=None, metavar="K[,K]",
                   help="also top-k accuracy: the label among the k highest scores (e.g. 5 or 1,5; ILSVRC's top-5)")
    common.add_threads_argument(p)
    common.add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    runs = args.run  # nargs="+": always a list
    common.at_least("--batch-size", args.batch_size, 1)
    common.absolute_data(args)
    probs, y0 = [], None
    for r in runs:
        p, y = _evaluate_one(r, args)
        if y0 is not None and not np.array_equal(y, y0):
            raise CLIError(f"{r} has other {args.split} examples than {runs[0]}: an ensemble needs the same data")
        probs.append(p)
        y0 = y
    if len(runs) > 1:
        acc = accuracy(average_probabilities(probs), y0)
        how = " with TTA" if args.tta else ""
        print(f"ensemble of {len(runs)} runs: {args.split} accuracy{how} {acc:.4f} "
              f"({int(round(acc * len(y0)))}/{len(y0)})")
        _print_topk(average_probabilities(probs), y0, args.topk)
    return 0


def _print_topk(scores: np.ndarray, y: np.ndarray, topk: tuple[int, ...] | None) -> None:
    if topk:
        try:
            print("  " + ", ".join(f"top-{k} {a:.4f}" for k, a in zip(topk, accuracy(scores, y, topk=topk))))
        except ValueError as e:
            raise CLIError(f"--topk: {e}") from None


def _evaluate_one(run_arg: str, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Print one run's accuracy; return its (N, K) probabilities and the labels."""
    run_dir, cfg = common.read_config(run_arg)
    a = cfg["args"]
    model = common.load_model(run_dir, device=common.resolve_device(args.device))
    data = common.load_data(a["data"], args.data_dir or a.get("data_dir"), a.get("subsample"))
    X, y = data["X_" + args.split], data["y_" + args.split]
    if X.shape[0] == 0:
        raise CLIError(f"the {args.split} split of {a['data']} is empty")
    with common.threads(args.threads):
        Xp = common.prepare(model.preprocess, X)  # the preprocessing saved with the model
        if args.tta:
            scores = _tta(model, Xp, a.get("augment"), args.batch_size)
        else:
            scores = predict_scores(model, Xp, args.batch_size)
    acc = accuracy(scores, y)
    how = " with TTA" if args.tta else ""
    print(f"{run_dir}: {args.split} accuracy{how} {acc:.4f} ({int(round(acc * len(y)))}/{len(y)})")
    _print_topk(scores, y, args.topk)
    # TTA already averaged probabilities; plain scores are logits
    return (scores if args.tta else softmax_array(scores.astype(np.float64), axis=1)), y


def _tta(model, Xp: np.ndarray, augment: str | None, batch_size: int) -> np.ndarray:
    if Xp.ndim != 4:
        raise CLIError("--tta needs images; this run's preprocessing gives vectors")
    _, H, W = Xp.shape[1:]
    pad = crop_padding(augment, Xp.shape[1:]) or 1
    mirrors = "flip" in (augment or "")
    tencrop = TenCrop((H, W))

    def views(X):
        # crops of the zero-padded image (zero = the training mean after preprocessing), as in training
        Xpad = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        v = tencrop(Xpad)
        return v if mirrors else v[:5]  # mirrored digits are other shapes: skip them unless trained on

    return predict_tta(lambda v: predict_scores(model, v, batch_size), Xp, crops=views, logits=True,
                       batch_size=batch_size)
