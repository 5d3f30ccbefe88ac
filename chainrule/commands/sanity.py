"""`chainrule sanity`: the lecture's checks before training (initial loss, regularisation, overfit)."""
from __future__ import annotations

import argparse

from .. import models
from ..diagnostics.sanity import sanity_check
from ..rng import manual_seed
from . import CLIError, common

HELP = "sanity-check a model on a dataset: initial loss, loss up with reg, overfit 20 examples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="small_cnn", help="zoo model name (default small_cnn)")
    common.add_data_arguments(p)
    common.add_preprocess_argument(p)
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "svm"], help="(default cross_entropy)")
    p.add_argument("--reg", type=float, default=1e3, help="L2 strength of the 'loss goes up' check (default 1e3)")
    p.add_argument("--n-overfit", type=int, default=20, help="examples to overfit (default 20)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the overfit loop (default 1e-2)")
    p.add_argument("--iters", type=int, default=200, help="most iterations of the overfit loop (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the examples picked (default 0)")
    common.add_threads_argument(p)


def run(args: argparse.Namespace) -> int:
    if args.n_overfit < 1:
        raise CLIError(f"--n-overfit must be at least 1, got {args.n_overfit}")
    with common.threads(args.threads):
        data = common.load_data(args.data, args.data_dir, args.subsample, download=args.download)
        pre = common.fit_preprocess(args.preprocess, data.X_train)
        X = common.prepare(pre, data.X_train)
        manual_seed(args.seed)
        with common.option("--model"):
            model = models.build_for(args.model, data, input_shape=X.shape[1:])
        print(f"Sanity checks of {args.model} on {args.data} ({X.shape[0]} training examples, "
              f"{data.num_classes} classes, {args.loss} loss)\n")
        report = sanity_check(model, (X, data.y_train), loss=args.loss, reg=args.reg, n_overfit=args.n_overfit,
                              lr=args.lr, max_iters=args.iters, seed=args.seed, num_classes=data.num_classes)
    print(report)
    return 0 if report.passed else 1
