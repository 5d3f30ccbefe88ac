"""`chainrule linear`: train a linear SVM or softmax classifier by SGD and show its templates."""
from __future__ import annotations

import argparse
import os

from . import common

HELP = "linear SVM / softmax classifier by SGD: accuracies, loss curve, class templates"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loss", default="svm", choices=("svm", "softmax"), help="loss (default svm)")
    common.add_data_arguments(parser)
    common.add_preprocess_argument(parser)
    parser.add_argument("--features", default=None, metavar="LIST",
                        help="classify image features instead of pixels: hog, hsv or hog,hsv (chainrule.features; "
                             "standardised on the training split; replaces --preprocess)")
    # Defaults tuned on digits with the default preprocessing.
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    parser.add_argument("--reg", type=float, default=1e-4, help="regularisation strength (default 1e-4)")
    parser.add_argument("--reg-type", default="l2", choices=("l2", "l1", "elastic"),
                        help="weight penalty (default l2)")
    parser.add_argument("--beta", type=float, default=0.5, help="L2 weight inside the elastic penalty")
    parser.add_argument("--iters", type=int, default=1500, help="SGD iterations (default 1500)")
    parser.add_argument("--batch-size", type=int, default=common.BATCH_SIZE,
                        help=f"minibatch size (default {common.BATCH_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and batches")
    parser.add_argument("--out", default=os.path.join("runs", "linear"), help="folder for the plots")


def run(args: argparse.Namespace) -> int:
    from chainrule.classifiers import LinearSVM, Softmax, visualize_templates  # scikit-learn
    from chainrule.viz.classifiers import plot_loss_curve  # matplotlib

    splits, classes = common.inputs_splits(args)
    X = {p: splits["X_" + p] for p in ("train", "val", "test")}
    cls = LinearSVM if args.loss == "svm" else Softmax
    with common.option("--lr/--reg/--reg-type/--beta/--iters/--batch-size"):
        clf = cls(lr=args.lr, reg=args.reg, reg_type=args.reg_type, beta=args.beta, num_iters=args.iters,
                  batch_size=args.batch_size, seed=args.seed)
        clf._check_params()  # the options' values, checked before the data is touched
    print(f"{args.data}: training {cls.__name__} on {len(X['train'])} images "
          f"({common.describe_inputs(args)}), {args.iters} iterations of batch {args.batch_size}, "
          f"lr {args.lr:g}, reg {args.reg:g} ({args.reg_type})")
    clf.fit(X["train"], splits["y_train"])
    print(f"loss: first {clf.loss_history_[0]:.4f}, last {clf.loss_history_[-1]:.4f}")
    for part in ("train", "val", "test"):
        print(f"{part} accuracy: {clf.score(X[part], splits['y_' + part]):.4f}")
    stem = os.path.join(args.out, f"{args.loss}_{args.data}")
    path = plot_loss_curve(clf.loss_history_, stem + "_loss.png",
                           title=f"{cls.__name__} on {args.data}: minibatch loss")
    print(f"saved loss curve to {path}")
    if X["train"].ndim == 4:  # PCA gives vectors: no images to show
        visualize_templates(clf, X["train"].shape[1:], path=stem + "_templates.png",
                            class_names=classes)
        print(f"saved class templates to {stem}_templates.png")
    return 0
