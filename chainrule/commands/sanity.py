"""`chainrule sanity`: the lecture's checks before training (initial loss, regularisation, overfit)."""
from __future__ import annotations

import argparse

HELP = "sanity-check a model on a dataset: initial loss, loss up with reg, overfit 20 examples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="small_cnn", help="zoo model name (default small_cnn)")
    p.add_argument("--data", default="digits", help="digits | mnist | fashion-mnist | cifar10 | folder:PATH "
                   "(default digits)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files")
    p.add_argument("--subsample", type=int, default=None, help="use at most this many training examples")
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "svm"], help="(default cross_entropy)")
    p.add_argument("--reg", type=float, default=1e3, help="L2 strength of the 'loss goes up' check (default 1e3)")
    p.add_argument("--n-overfit", type=int, default=20, help="examples to overfit (default 20)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the overfit loop (default 1e-2)")
    p.add_argument("--iters", type=int, default=200, help="most iterations of the overfit loop (default 200)")
    p.add_argument("--preprocess", default="perchannel", help="perchannel | center | mean-image | none "
                   "(default perchannel)")
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: fastest for small nets on a busy machine; 0 = library default)")


def _model(name: str, data):
    """A zoo model when the zoo is there, else a small two-layer net."""
    try:
        from . import _runs

        return _runs.build_model(name, data)
    except ImportError:
        from .. import nn

        C, H, W = data.X_train.shape[1:]
        return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 100), nn.ReLU(), nn.Linear(100, data.num_classes))


def run(args: argparse.Namespace) -> int:
    from . import _runs

    with _runs.blas_threads(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import chainrule as cr
    from ..cli import CLIError
    from ..diagnostics.sanity import sanity_check
    from . import _runs

    if not 1 <= args.n_overfit:
        raise CLIError(f"--n-overfit must be at least 1, got {args.n_overfit}")
    data = _runs.load_data(args.data, args.data_dir, args.subsample, seed=args.seed)
    X = data.X_train
    pre = _runs.build_preprocess(args.preprocess)
    if pre is not None:
        pre.fit(X)
        X = pre.transform(X) if hasattr(pre, "transform") else pre(X)
    cr.manual_seed(args.seed)
    model = _model(args.model, data)
    print(f"Sanity checks of {args.model} on {args.data} ({X.shape[0]} training examples, "
          f"{data.num_classes} classes, {args.loss} loss)\n")
    report = sanity_check(model, (X.astype("float32"), data.y_train), loss=args.loss, reg=args.reg,
                          n_overfit=args.n_overfit, lr=args.lr, max_iters=args.iters, seed=args.seed,
                          num_classes=data.num_classes)
    print(report)
    return 0 if report.passed else 1
