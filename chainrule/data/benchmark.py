"""Measure dataset load times and augmentation throughput.

    python -m chainrule.data.benchmark [DATA_DIR]

DATA_DIR holds mnist/, fashion-mnist/ and a CIFAR-10 folder (default: $CHAINRULE_DATA).
Each load is timed `--repeat` times (best reported: the OS file cache is warm after the first).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), times[0], out


def main(argv=None) -> int:
    from . import ArrayLoader, load_cifar10, load_digits, load_fashion_mnist, load_mnist
    from . import transforms as T

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", nargs="?", default=os.environ.get("CHAINRULE_DATA"))
    p.add_argument("--cifar", default=None, help="CIFAR-10 folder (default: DATA_DIR/cifar-10, "
                   "or DATA_DIR/cifar-10-subset-batches-py)")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    root = Path(a.data_dir) if a.data_dir else None
    jobs = [("digits", lambda: load_digits())]
    if root:
        cifar = a.cifar or next((str(root / d) for d in ("cifar-10", "cifar-10-subset-batches-py")
                                 if (root / d).is_dir()), None)
        jobs += [("mnist", lambda: load_mnist(root / "mnist")),
                 ("fashion-mnist", lambda: load_fashion_mnist(root / "fashion-mnist"))]
        if cifar:
            jobs.append(("cifar-10", lambda: load_cifar10(cifar)))
    print(f"{'dataset':<14} {'first s':>8} {'best s':>8}  train/val/test")
    splits = {}
    for name, fn in jobs:
        best, first, s = _best(fn, a.repeat)
        splits[name] = s
        c = s.info["counts"]
        print(f"{name:<14} {first:8.3f} {best:8.3f}  {c['train']}/{c['val']}/{c['test']}")
    if "cifar-10" in splits:
        X = splits["cifar-10"].X_train
        tf = T.Compose([T.ToFloat(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
        heavy = T.Compose([T.ToFloat(), T.RandomScaleCrop(32, 40, 32), T.RandomHorizontalFlip(),
                           T.ColorJitter(0.4, 0.4, 0.4), T.PCALighting(0.1).fit(X[:1000] / 255.0)])
        X = X[:4096]
        W = np.random.default_rng(0).standard_normal((3 * 32 * 32, 256)).astype(np.float32)

        def step(xb):  # stand-in for a training step: NumPy matmuls release the GIL
            return np.maximum(xb.reshape(len(xb), -1) @ W, 0) @ W.T

        print(f"{len(X)} CIFAR images in batches of 128; 'with step' adds a fixed matmul per batch")
        for label, t in (("crop+flip", tf), ("scale+flip+jitter+lighting", heavy)):
            for work in (False, True):
                for prefetch in (False, True):
                    loader = ArrayLoader(X, np.zeros(len(X), np.int64), 128, transform=t,
                                         prefetch=prefetch)
                    t0 = time.perf_counter()
                    n = 0
                    for xb, _ in loader:
                        n += len(xb)
                        if work:
                            step(xb)
                    dt = time.perf_counter() - t0
                    print(f"  {label:<27} {'with step' if work else 'loading only':<12} "
                          f"prefetch={prefetch!s:<5} {n / dt:8.0f} images/s  ({dt:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
