"""`Splits`: the train/val/test arrays of a dataset, plus how they were split.

Every loader in `chainrule.data` returns one. It is also a read-only mapping
over the six arrays, so CS231n-style code keeps working:

    data = cr.data.load_digits()
    data.X_train.shape          # (1077, 1, 8, 8)
    data["y_val"]               # the same as data.y_val
    Solver(model, data)         # anything that takes the CS231n dict
    f(**data)                   # X_train=..., y_train=..., ..., y_test=...

`classes` (list of names) and `info` (dict) are attributes only, not keys, so
`**splits` passes exactly the six arrays.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

import numpy as np

KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


class Splits(Mapping):
    """Images `X_*` (N, C, H, W) and int64 labels `y_*` (N,) for train/val/test.

    classes: class names, `classes[y]` names label y.
    info: dict with at least `name`, `source`, `image_shape`, `counts`.
    """

    def __init__(self, X_train, y_train, X_val, y_val, X_test, y_test,
                 classes: list[str], info: dict[str, Any] | None = None):
        arrays = dict(X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val,
                      X_test=X_test, y_test=y_test)
        for part in ("train", "val", "test"):
            X, y = np.asarray(arrays["X_" + part]), np.asarray(arrays["y_" + part])
            if X.ndim != 4:
                raise ValueError(f"Splits: X_{part} must be (N, C, H, W), got shape {X.shape}")
            if y.shape != (X.shape[0],):
                raise ValueError(f"Splits: y_{part} must have shape ({X.shape[0]},), got {y.shape}")
            arrays["X_" + part], arrays["y_" + part] = X, y.astype(np.int64, copy=False)
        self._arrays = arrays
        self.classes = list(classes)
        info = dict(info or {})
        info.setdefault("image_shape", tuple(int(s) for s in arrays["X_train"].shape[1:]))
        info["counts"] = {p: int(arrays["y_" + p].shape[0]) for p in ("train", "val", "test")}
        info["num_classes"] = len(self.classes)
        self.info = info

    # attribute access: splits.X_train
    def __getattr__(self, name: str):
        arrays = self.__dict__.get("_arrays")
        if arrays is not None and name in arrays:
            return arrays[name]
        raise AttributeError(f"'Splits' object has no attribute {name!r}")

    # mapping protocol: splits["X_train"], keys(), items(), **splits
    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            raise KeyError(f"{key!r} (Splits keys are {', '.join(KEYS)}; "
                           "classes and info are attributes)")
        return self._arrays[key]

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)

    def dataset(self, part: str = "train", transform=None, target_transform=None):
        """One split as a map-style Dataset: sample i = (X_part[i] (C, H, W), int label), each passed
        through `transform` / `target_transform` if given (for DataLoader)."""
        from .datasets import ArrayDataset
        if part not in ("train", "val", "test"):
            raise ValueError(f"Splits.dataset: part must be 'train', 'val' or 'test', got {part!r}")
        return ArrayDataset(self._arrays["X_" + part], self._arrays["y_" + part], self.classes,
                            transform, target_transform)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={tuple(v.shape)} {v.dtype}" for k, v in self._arrays.items())
        return f"Splits({self.info.get('name', '?')}: {parts}, classes={len(self.classes)})"


# ---------------------------------------------------------------- splitting
def _count(size: int | float | None, n: int, what: str) -> int:
    """Turn an int count or a fraction in [0, 1) into a number of examples out of n."""
    if size is None:
        return 0
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int count or a float fraction, got {size!r}")
    if isinstance(size, (int, np.integer)):
        if not 0 <= size <= n:
            raise ValueError(f"{what}={size} is out of range: there are {n} examples")
        return int(size)
    if isinstance(size, (float, np.floating)):
        if not 0.0 <= size < 1.0:
            raise ValueError(f"{what} as a fraction must be in [0, 1), got {size}")
        return int(round(size * n))
    raise TypeError(f"{what} must be an int count or a float fraction, got {type(size).__name__}")


def stratified_split(y: np.ndarray, size: int | float, seed: int = 0,
                     what: str = "size") -> tuple[np.ndarray, np.ndarray]:
    """Pick `size` examples (count or fraction) with class proportions kept.

    Returns (rest, picked): sorted index arrays that partition range(len(y)).
    Each class gets its share rounded by largest remainder, so the total is
    exactly `size`; which examples is decided by `np.random.default_rng(seed)`.
    """
    y = np.asarray(y)
    n = y.shape[0]
    k = _count(size, n, what)
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = counts * (k / n) if n else counts * 0.0
    take = np.floor(quota).astype(np.int64)
    # hand out the leftover examples to the classes with the largest remainders
    # (ties broken by class order, so the result does not depend on the rng)
    short = k - int(take.sum())
    if short > 0:
        order = np.argsort(-(quota - take), kind="stable")
        take[order[:short]] += 1
    picked = []
    for c in range(len(classes)):
        idx = np.flatnonzero(inverse == c)
        picked.append(rng.permutation(idx)[: take[c]])
    picked = np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
    mask = np.ones(n, bool)
    mask[picked] = False
    return np.flatnonzero(mask), picked


def make_splits(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                classes: list[str], info: dict[str, Any], val_size: int | float | None,
                subsample: int | None = None, seed: int = 0) -> Splits:
    """Carve a stratified validation set out of the training set, then cap the training set.

    The validation set is taken first, so it stays the same whatever `subsample` is.
    subsample: keep at most this many training examples (stratified, seeded).
    """
    rest, val = stratified_split(y_train, val_size or 0, seed=seed, what="val_size")
    if subsample is not None:
        if not isinstance(subsample, (int, np.integer)) or isinstance(subsample, bool) or subsample < 1:
            raise ValueError(f"subsample must be a positive int, got {subsample!r}")
        if subsample < len(rest):
            _, keep = stratified_split(y_train[rest], int(subsample), seed=seed + 1,
                                       what="subsample")
            rest = rest[keep]
    info = dict(info, seed=seed, val_size=val_size, subsample=subsample)
    return Splits(X_train[rest], y_train[rest], X_train[val], y_train[val], X_test, y_test,
                  classes=classes, info=info)
