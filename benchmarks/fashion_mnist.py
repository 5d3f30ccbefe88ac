"""Fashion-MNIST recipe: a small CNN with batch norm, flip + crop augmentation, Adam, cosine schedule.

    python benchmarks/fashion_mnist.py                      # chainrule, the full recipe
    python benchmarks/fashion_mnist.py --framework torch    # the same net and loop in PyTorch
    python benchmarks/fashion_mnist.py --epochs 1 --json out.json

The recipe (target: >= 92% test accuracy in <= 10 minutes on 2 cores):
- data: the official Fashion-MNIST IDX files (--data-dir, default ../shared/data/fashion-mnist next to the
  repository), 55,000 train / 5,000 validation (stratified, seed 0) / 10,000 test; per-channel
  normalisation fitted on the training split;
- augmentation on training batches: random horizontal flip (p=0.5) and a random 28x28 crop of the image
  zero-padded by 2 pixels;
- net (about 330k parameters): conv3x3(1->24)-BN-ReLU-maxpool2 -> conv3x3(24->48)-BN-ReLU-maxpool2 ->
  flatten (48*7*7) -> linear(->128)-BN-ReLU -> linear(->10);
- Adam, lr 2e-3, cosine annealing to 0 over the epochs (stepped per epoch), batch 128, 8 epochs, seed 0;
- the model with the best validation accuracy is kept (cr.Solver does this; the torch loop too).

Both frameworks use the same data pipeline (chainrule's DataLoader, transforms and preprocessing in
NumPy), so the comparison times the network and the optimiser. Threads: each library's defaults
(chainrule: the cores for its ops and the BLAS default; PyTorch: its own); --threads N sets
torch.set_num_threads, or for chainrule its ops' threads and (threadpoolctl) the BLAS threads.
benchmarks/steps.py --workloads d runs this recipe in both frameworks as workload (d).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

C1, C2, HIDDEN = 24, 48, 128


def chainrule_net():
    from chainrule import nn

    return nn.Sequential(
        nn.Conv2d(1, C1, 3, padding=1, bias=False), nn.BatchNorm2d(C1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(C1, C2, 3, padding=1, bias=False), nn.BatchNorm2d(C2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(C2 * 7 * 7, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))


def torch_net():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, C1, 3, padding=1, bias=False), nn.BatchNorm2d(C1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(C1, C2, 3, padding=1, bias=False), nn.BatchNorm2d(C2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(C2 * 7 * 7, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))


def pipeline(data_dir: str, subsample: int | None):
    import chainrule as cr
    from chainrule.data import transforms as T

    data = cr.data.load_fashion_mnist(root=data_dir, subsample=subsample)
    pre = T.PerChannelNormalize().fit(data.X_train)
    augment = T.Compose([T.RandomHorizontalFlip(0.5), T.RandomCrop(28, padding=2)])
    return data, pre, augment


def run_chainrule(args) -> dict:
    import chainrule as cr

    data, pre, augment = pipeline(args.data_dir, args.subsample)
    cr.manual_seed(args.seed)
    model = chainrule_net()
    solver = cr.Solver(model, data, optimizer="adam", lr=args.lr, lr_schedule="cosine", batch_size=args.batch_size,
                       num_epochs=args.epochs, augment=augment, preprocess=pre, seed=args.seed,
                       verbose=not args.quiet)
    t0 = time.perf_counter()
    solver.train()
    train_s = time.perf_counter() - t0
    test_acc = solver.check_accuracy(data.X_test, data.y_test)
    return {"val_acc_history": solver.val_acc_history, "best_val_acc": solver.best_val_acc,
            "test_acc": test_acc, "train_seconds": train_s}


def run_torch(args) -> dict:
    import torch
    import torch.nn.functional as F

    try:  # the array loader's own name (DataLoader(X, y) now takes a Dataset, as PyTorch's)
        from chainrule.data import ArrayLoader as DataLoader
    except ImportError:  # before the data API change
        from chainrule.data import DataLoader

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data, pre, augment = pipeline(args.data_dir, args.subsample)
    Xtr, Xva, Xte = (pre(data[k]) for k in ("X_train", "X_val", "X_test"))
    loader = DataLoader(Xtr, data.y_train, batch_size=args.batch_size, transform=augment, seed=args.seed)
    sub = np.sort(np.random.default_rng(args.seed).choice(len(Xtr), 1000, replace=False))
    model = torch_net()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)

    def accuracy(X, y):
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(torch.from_numpy(X[i:i + 256])).argmax(1) for i in range(0, len(X), 256)])
        return float((pred.numpy() == y).mean())

    best, best_state, hist = -1.0, None, []
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(torch.from_numpy(np.ascontiguousarray(xb))), torch.from_numpy(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        accuracy(Xtr[sub], data.y_train[sub])      # the Solver's train-accuracy check, for equal work
        val = accuracy(Xva, data.y_val)
        hist.append(val)
        if val > best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
        sched.step()
        if not args.quiet:
            print(f"(Epoch {epoch + 1} / {args.epochs}) val acc {val:.4f}  {time.perf_counter() - t0:.0f}s", flush=True)
    train_s = time.perf_counter() - t0
    model.load_state_dict(best_state)
    return {"val_acc_history": hist, "best_val_acc": best, "test_acc": accuracy(Xte, data.y_test),
            "train_seconds": train_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=("chainrule", "torch"), default="chainrule")
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "fashion-mnist"))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="chainrule's op and BLAS threads / torch threads (default: each library's own)")
    p.add_argument("--subsample", type=int, default=None, help="fewer training images (quick checks)")
    p.add_argument("--json", default=None, help="append the result as one JSON line to this file")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"Fashion-MNIST not found in {args.data_dir}: trying chainrule's search path "
              "($CHAINRULE_DATA, ~/.cache/chainrule)", file=sys.stderr)
        args.data_dir = None
    import contextlib

    from threadpoolctl import threadpool_limits

    from chainrule.ops import parallel

    limits = contextlib.nullcontext()
    if args.threads:
        parallel.set_num_threads(args.threads)   # chainrule's ops split examples over their own threads
        limits = threadpool_limits(limits=args.threads, user_api="blas")
    with limits:
        t0 = time.perf_counter()
        res = (run_chainrule if args.framework == "chainrule" else run_torch)(args)
        res["wall_seconds"] = time.perf_counter() - t0   # including data loading
    res.update(framework=args.framework, epochs=args.epochs, threads=args.threads, batch_size=args.batch_size,
               load_avg_end=os.getloadavg()[0], cpus=os.cpu_count())
    print(json.dumps(res))
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
