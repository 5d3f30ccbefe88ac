"""MNIST and Fashion-MNIST from their official IDX .gz files.

Images come back as uint8 (N, 1, 28, 28), values 0..255; labels int64 0..9.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import download as _dl
from .errors import DataFileError
from .idx import read_idx
from .paths import download_dir, locate
from .splits import Splits, make_splits

FILES = {  # role -> official file name
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}


def _file(folder: Path, gz_name: str) -> Path:
    """The .gz file, or its uncompressed twin if only that exists."""
    p = folder / gz_name
    return p if p.exists() or not (folder / gz_name[:-3]).exists() else folder / gz_name[:-3]


def _has_all(folder: Path) -> bool:
    return all(_file(folder, f).exists() for f in FILES.values())


def _load_idx_dataset(name: str, root, download: bool, url: str | None, val_size, subsample,
                      seed: int) -> Splits:
    how = (f"Download it with download=True, or fetch the four files {', '.join(FILES.values())} "
           f"from {_dl.base_url(name, url)}")
    if download:
        try:
            folder = locate(name, root, _has_all, how)
        except FileNotFoundError:
            folder = download_dir(name, root)
            for fname in FILES.values():
                _dl.fetch(name, fname, MD5[name][fname], folder, url)
    else:
        folder = locate(name, root, _has_all, how)
    t0 = time.perf_counter()
    arrays = {role: read_idx(_file(folder, f), ndim=3 if role.endswith("images") else 1)
              for role, f in FILES.items()}
    for part in ("train", "test"):
        X, y = arrays[part + "_images"], arrays[part + "_labels"]
        if X.shape[0] != y.shape[0]:
            raise DataFileError(f"{folder}: {FILES[part + '_images']} has {X.shape[0]} images but "
                                f"{FILES[part + '_labels']} has {y.shape[0]} labels")
        if X.dtype != np.uint8 or y.dtype != np.uint8:
            raise DataFileError(f"{folder}: {part} files must hold uint8 data")
        if y.size and y.max() >= 10:
            raise DataFileError(f"{folder}: {FILES[part + '_labels']} has label {y.max()}, expected 0..9")
    Xtr, Xte = arrays["train_images"][:, None], arrays["test_images"][:, None]
    info = dict(name=name, source=str(folder), image_shape=tuple(Xtr.shape[1:]), dtype="uint8",
                value_range=(0, 255), load_seconds=round(time.perf_counter() - t0, 3),
                official_counts={"train": int(Xtr.shape[0]), "test": int(Xte.shape[0])})
    return make_splits(Xtr, arrays["train_labels"].astype(np.int64), Xte,
                       arrays["test_labels"].astype(np.int64), CLASSES[name], info,
                       val_size=val_size, subsample=subsample, seed=seed)


def load_mnist(root=None, download: bool = False, val_size: int | float | None = 5000,
               subsample: int | None = None, seed: int = 0, url: str | None = None) -> Splits:
    """MNIST handwritten digits: 60,000 training (minus `val_size`) and 10,000 test images.

    root: folder with the four IDX .gz files (default: $CHAINRULE_DATA/mnist, then
    the user cache ~/.cache/chainrule/mnist). download: fetch missing files from `url`
    (default https://ossci-datasets.s3.amazonaws.com/mnist/), md5-verified.
    Images uint8 (N, 1, 28, 28).
    """
    return _load_idx_dataset("mnist", root, download, url, val_size, subsample, seed)


def load_fashion_mnist(root=None, download: bool = False, val_size: int | float | None = 5000,
                       subsample: int | None = None, seed: int = 0, url: str | None = None) -> Splits:
    """Zalando's Fashion-MNIST: 28x28 grey images of 10 kinds of clothing, same layout as MNIST.

    Also found where Debian's dataset-fashion-mnist package installs it
    (/usr/share/datasets/fashion-mnist/). Images uint8 (N, 1, 28, 28).
    """
    return _load_idx_dataset("fashion-mnist", root, download, url, val_size, subsample, seed)
