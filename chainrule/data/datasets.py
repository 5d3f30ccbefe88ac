"""The built-in datasets as map-style Datasets.

- `Splits.dataset("train")`: the arrays of one split, sample i = (X[i] (C, H, W), y[i]) unchanged;
- torchvision's classes `MNIST`, `FashionMNIST`, `CIFAR10(root, train=True, transform=None,
  target_transform=None, download=False)`: sample i = (PIL image, int), the whole official train
  (or test) set, so PyTorch scripts run as written with `from chainrule.data import ...`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..utils.data.dataset import Dataset


class ArrayDataset(Dataset):
    """Samples from arrays X (N, ...) and y (N,): (transform(image), target_transform(int(y))).

    pil: hand the image over as a PIL image (L for 1 channel, RGB for 3; X uint8 (N, C, H, W)),
    as torchvision's datasets do; otherwise as the array X[i].
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, classes: Sequence[str] = (), transform: Callable | None = None,
                 target_transform: Callable | None = None, pil: bool = False):
        X, y = np.asarray(X), np.asarray(y)
        if X.shape[:1] != y.shape:
            raise ValueError(f"ArrayDataset: X {X.shape} and y {y.shape} differ in length")
        if pil and (X.dtype != np.uint8 or X.ndim != 4 or X.shape[1] not in (1, 3)):
            raise ValueError(f"ArrayDataset: PIL images need uint8 (N, 1 or 3, H, W), got {X.dtype} {X.shape}")
        self.data, self.targets, self.classes = X, y, list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform, self.target_transform, self.pil = transform, target_transform, pil

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img, target = self.data[index], int(self.targets[index])
        if self.pil:
            from PIL import Image
            img = Image.fromarray(img[0], "L") if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0), "RGB")
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def _official(load: Callable, root, train: bool, download: bool, transform, target_transform) -> ArrayDataset:
    """One official split (no validation carved out) of a loader returning Splits, PIL samples."""
    s = load(root=root, download=download, val_size=None)
    X, y = (s.X_train, s.y_train) if train else (s.X_test, s.y_test)
    return ArrayDataset(X, y, s.classes, transform, target_transform, pil=True)


class MNIST(ArrayDataset):
    """MNIST: 60,000 training or 10,000 test digits as (PIL 'L' image 28x28, int)."""

    def __init__(self, root=None, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        from .mnist import load_mnist
        d = _official(load_mnist, root, train, download, transform, target_transform)
        super().__init__(d.data, d.targets, d.classes, transform, target_transform, pil=True)
        self.train = train


class FashionMNIST(ArrayDataset):
    """Fashion-MNIST: 60,000 training or 10,000 test images as (PIL 'L' image 28x28, int)."""

    def __init__(self, root=None, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        from .mnist import load_fashion_mnist
        d = _official(load_fashion_mnist, root, train, download, transform, target_transform)
        super().__init__(d.data, d.targets, d.classes, transform, target_transform, pil=True)
        self.train = train


class CIFAR10(ArrayDataset):
    """CIFAR-10: 50,000 training or 10,000 test images as (PIL RGB image 32x32, int)."""

    def __init__(self, root=None, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        from .cifar import load_cifar10
        d = _official(load_cifar10, root, train, download, transform, target_transform)
        super().__init__(d.data, d.targets, d.classes, transform, target_transform, pil=True)
        self.train = train
