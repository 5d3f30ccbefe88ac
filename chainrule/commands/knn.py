"""`chainrule knn`: choose k for k-nearest neighbours by cross-validation, then test it."""
from __future__ import annotations

import argparse
import os
from functools import partial

import numpy as np

from ..data.splits import stratified_split
from . import CLIError, common

HELP = "k-nearest neighbours: cross-validate k, report test accuracy, plot accuracy vs k"


def parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise CLIError(f"{what}: expected at least one integer, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_data_arguments(parser, subsample_help="cross-validate on at most N images of train+val "
                              "(stratified, seeded); the test split stays whole")
    common.add_preprocess_argument(parser)
    parser.add_argument("--features", default=None, metavar="LIST",
                        help="classify image features instead of pixels: hog, hsv or hog,hsv (chainrule.features; "
                             "standardised on the training split; replaces --preprocess)")
    parser.add_argument("--ks", default="1,3,5,8,10,12,15,20,50,100",
                        help="comma-separated values of k to cross-validate")
    parser.add_argument("--folds", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--metric", default="l2", choices=("l2", "l1"), help="distance (default l2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle")
    parser.add_argument("--out", default=os.path.join("runs", "knn"), help="folder for the plot")


def run(args: argparse.Namespace) -> int:
    from chainrule.classifiers import KNearestNeighbor, cross_validate  # scikit-learn
    from chainrule.viz.classifiers import plot_cv_accuracy  # matplotlib

    ks = sorted(set(parse_ints(args.ks, "--ks")))
    common.at_least("--folds", args.folds, 2)
    pool, args.subsample = args.subsample, None  # --subsample applies to train+val together, below
    common.at_least("--subsample", pool, 1)
    splits, _ = common.inputs_splits(args)
    # Cross-validate on train + val together: the folds do the validating.
    X = np.concatenate([splits["X_train"], splits["X_val"]])
    y = np.concatenate([splits["y_train"], splits["y_val"]])
    if pool is not None and pool < len(y):
        _, keep = stratified_split(y, pool, seed=args.seed, what="--subsample")
        X, y = X[keep], y[keep]
    fold_size = len(y) - int(np.ceil(len(y) / args.folds))
    if ks[-1] > fold_size:
        raise CLIError(f"--ks: k={ks[-1]} is larger than a cross-validation training fold "
                         f"({fold_size} samples); expected k <= {fold_size}")
    print(f"{args.data}: {len(y)} train+val images, {len(splits['y_test'])} test images "
          f"({common.describe_inputs(args)}); {args.folds}-fold cross-validation, metric {args.metric}")
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
