"""Datasets by name: the one list every command and `cr.data.load` share.

    data = cr.data.load("digits")                      # built in, no files needed
    data = cr.data.load("mnist", root="~/data/mnist", download=True)
    data = cr.data.load("folder:photos/", subsample=500)

Like torchvision's `datasets.MNIST(root, download=...)`, but one function: the name picks
the loader, and every loader returns a `Splits` of raw images (uint8 or float32 (N, C, H, W))
and int64 labels. Preprocessing is not applied here: it is fitted on the training split by
whoever trains (see `cr.data.transforms.spec`).
"""
from __future__ import annotations

import os
from typing import Callable

from ..errors import UsageError
from .cifar import load_cifar10
from .digits import load_digits
from .image_folder import load_image_folder
from .mnist import load_fashion_mnist, load_mnist
from .splits import Splits

# name -> (loader, takes root and download)
DATASETS: dict[str, tuple[Callable[..., Splits], bool]] = {
    "digits": (load_digits, False),
    "mnist": (load_mnist, True),
    "fashion-mnist": (load_fashion_mnist, True),
    "cifar10": (load_cifar10, True),
}
FOLDER_PREFIX = "folder:"
NAMES = (*DATASETS, FOLDER_PREFIX + "PATH")


def load(name: str, root: str | os.PathLike | None = None, subsample: int | None = None,
         val_size: int | float | None = None, seed: int = 0, download: bool = False) -> Splits:
    """The dataset `name` (one of NAMES) as train/val/test Splits.

    root: the dataset's folder, or the folder holding it as root/<name>/ (default: chainrule's
        search path, see cr.data.paths);
        the built-in digits need none. `folder:PATH` reads images under PATH/<class>/.
    subsample: keep at most this many training examples (stratified, seeded).
    val_size: examples (int) or fraction (float) held out from training for validation;
        None keeps the dataset's default (digits 360, mnist 5000, cifar10 1000, folder 0.1).
    seed: seeds which examples go to validation (and test, where the dataset has no
        official test split) and the subsample.
    download: fetch missing files (mnist, fashion-mnist, cifar10), checksum-verified.
    """
    if not isinstance(name, str):
        raise TypeError(f"cr.data.load: name must be a str, got {type(name).__name__}")
    kwargs: dict = {"subsample": subsample, "seed": seed}
    if val_size is not None:
        kwargs["val_size"] = val_size
    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):]
        if not path:
            raise UsageError(f"cr.data.load: {name!r} names no folder; expected folder:PATH")
        return load_image_folder(path, **kwargs)
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")
    loader, has_files = DATASETS[name]
    if has_files:
        kwargs.update(root=root, download=download)
    return loader(**kwargs)
