"""`chainrule knn`: choose k for k-nearest neighbours by cross-validation, then test it."""
from __future__ import annotations

import argparse
import os

import numpy as np

HELP = "k-nearest neighbours: cross-validate k, report test accuracy, plot accuracy vs k"

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --data-dir, --subsample (shared with `chainrule linear`)."""
    parser.add_argument("--data", default="digits", choices=DATASETS,
                        help="dataset (default digits; the others are read from --data-dir)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding mnist / fashion-mnist / cifar10 files "
                             "(default: the data package's search path)")
    parser.add_argument("--subsample", type=int, default=None,
                        help="cap the training set at this many images (for the big datasets)")


def load_data(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], list[str]]:
    """The dataset as ({"X_train", "y_train", "X_val", ...}, class names).

    Images are float32 in [0, 1]: uint8 pixels are divided by 255.
    """
    from chainrule import data

    if args.subsample is not None and args.subsample < 1:
        raise ValueError(f"--subsample: expected a positive integer, got {args.subsample}")
    if args.data == "digits":
        splits = data.load_digits(subsample=args.subsample)
    else:
        loader = {"mnist": data.load_mnist, "fashion-mnist": data.load_fashion_mnist,
                  "cifar10": data.load_cifar10}[args.data]
        splits = loader(root=args.data_dir, subsample=args.subsample)
    arrays = {key: splits[key] for key in splits}
    for key, X in arrays.items():
        if key.startswith("X_") and X.dtype == np.uint8:
            arrays[key] = X.astype(np.float32) / np.float32(255.0)
    return arrays, list(splits.classes)


def parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ValueError(f"{what}: expected at least one integer, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--ks", default="1,3,5,8,10,12,15,20,50,100",
                        help="comma-separated values of k to cross-validate")
    parser.add_argument("--folds", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--metric", default="l2", choices=("l2", "l1"), help="distance (default l2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle")
    parser.add_argument("--out", default=os.path.join("runs", "knn"), help="folder for the plot")


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from chainrule.classifiers import KNearestNeighbor, cross_validate
    from chainrule.viz.classifiers import plot_cv_accuracy

    ks = sorted(set(parse_ints(args.ks, "--ks")))
    splits, _ = load_data(args)
    # Cross-validate on train + val together: the folds do the validating.
    X = np.concatenate([splits["X_train"], splits["X_val"]])
    y = np.concatenate([splits["y_train"], splits["y_val"]])
    fold_size = len(y) - int(np.ceil(len(y) / args.folds))
    if ks[-1] > fold_size:
        raise ValueError(f"--ks: k={ks[-1]} is larger than a cross-validation training fold "
                         f"({fold_size} samples); expected k <= {fold_size}")
    print(f"{args.data}: {len(y)} train+val images, {len(splits['y_test'])} test images; "
          f"{args.folds}-fold cross-validation, metric {args.metric}")
    res = cross_validate(partial(KNearestNeighbor, metric=args.metric), X, y, {"k": ks},
                         num_folds=args.folds, seed=args.seed)
    print(res.table())
    best_k = res.best_params["k"]
    knn = KNearestNeighbor(k=best_k, metric=args.metric).fit(X, y)
    test_acc = knn.score(splits["X_test"], splits["y_test"])
    print(f"best k = {best_k} (cross-validation accuracy {res.best_score:.4f} +- "
          f"{res.std[res.best_index]:.4f})")
    print(f"test accuracy with k = {best_k}, refit on train+val ({len(y)} images): {test_acc:.4f}")
    path = plot_cv_accuracy(ks, res.scores, os.path.join(args.out, f"knn_cv_{args.data}_{args.metric}.png"),
                            title=f"kNN ({args.metric}) on {args.data}: {args.folds}-fold cross-validation")
    print(f"saved accuracy-vs-k plot to {path}")
    return 0
