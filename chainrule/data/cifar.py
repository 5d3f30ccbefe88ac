"""CIFAR-10 from the official python batches or the official binary version.

Python version (cifar-10-batches-py/): data_batch_1..5, test_batch, batches.meta,
pickled dicts read through `safe_pickle.RestrictedUnpickler` (never plain pickle).
Binary version (cifar-10-batches-bin/): data_batch_1..5.bin, test_batch.bin,
records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major).
Batches of any length are accepted. Images come back uint8 (N, 3, 32, 32).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import download as _dl
from .archive import safe_extract
from .errors import DataFileError
from .paths import download_dir, locate
from .safe_pickle import safe_load
from .splits import Splits, make_splits

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
RECORD = 1 + 3 * 32 * 32


def _format_of(folder: Path) -> str | None:
    if (folder / "data_batch_1").is_file() and (folder / "test_batch").is_file():
        return "python"
    if (folder / "data_batch_1.bin").is_file() and (folder / "test_batch.bin").is_file():
        return "binary"
    return None


def _train_files(folder: Path, suffix: str) -> list[Path]:
    files, i = [], 1
    while (folder / f"data_batch_{i}{suffix}").is_file():
        files.append(folder / f"data_batch_{i}{suffix}")
        i += 1
    return files


def read_python_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (uint8 (N, 3, 32, 32), int64 (N,)), every field checked."""
    path = Path(path)
    try:
        d = safe_load(path.read_bytes())
    except Exception as e:  # UnpicklingError, EOFError (truncated), ValueError...
        raise DataFileError(f"{path}: cannot read CIFAR python batch: {type(e).__name__}: {e}") from e
    if not isinstance(d, dict):
        raise DataFileError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DataFileError(f"{path}: missing key {'data' if 'data' not in d else 'labels'!r} "
                            f"(keys: {sorted(d)})")
    X, y = d["data"], np.asarray(d["labels"])
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 3072:
        raise DataFileError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got "
                            f"{getattr(X, 'dtype', type(X).__name__)} {getattr(X, 'shape', '')}")
    if y.shape != (X.shape[0],) or (y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9)):
        raise DataFileError(f"{path}: 'labels' must be {X.shape[0]} ints in 0..9, got "
                            f"{y.dtype} of shape {y.shape}")
    return X.reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_binary_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch of 3073-byte records -> (uint8 (N, 3, 32, 32), int64 (N,))."""
    path = Path(path)
    raw = np.fromfile(path, np.uint8)
    if raw.size % RECORD:
        raise DataFileError(f"{path}: size {raw.size} bytes is not a multiple of the {RECORD}-byte "
                            f"CIFAR record (truncated? {raw.size % RECORD} bytes left over)")
    rec = raw.reshape(-1, RECORD)
    y = rec[:, 0].astype(np.int64)
    if y.size and y.max() > 9:
        bad = int(np.argmax(y > 9))
        raise DataFileError(f"{path}: record {bad} has label {y[bad]}, expected 0..9")
    return rec[:, 1:].reshape(-1, 3, 32, 32), y


def _label_names(folder: Path, fmt: str) -> list[str]:
    if fmt == "python" and (folder / "batches.meta").is_file():
        try:
            meta = safe_load((folder / "batches.meta").read_bytes())
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
        except Exception as e:
            raise DataFileError(f"{folder / 'batches.meta'}: cannot read label names: {e}") from e
        return names
    if fmt == "binary" and (folder / "batches.meta.txt").is_file():
        names = [ln.strip() for ln in (folder / "batches.meta.txt").read_text().splitlines()]
        return [n for n in names if n]
    return list(CLASSES)


def load_cifar10(root=None, download: bool = False, val_size: int | float | None = 1000,
                 subsample: int | None = None, seed: int = 0, url: str | None = None) -> Splits:
    """CIFAR-10: 32x32 colour images of 10 classes (official: 50,000 train, 10,000 test).

    root: a folder holding the batches (python or binary), or one containing
    cifar-10-batches-py/ or cifar-10-batches-bin/ (default: $CHAINRULE_DATA/cifar-10,
    then ~/.cache/chainrule/cifar-10). download: fetch and safely extract
    cifar-10-python.tar.gz (md5-verified) from `url` (default https://www.cs.toronto.edu/~kriz/).
    Images uint8 (N, 3, 32, 32); the default validation set is 1000 training images (CS231n).
    """
    sub = ("cifar-10-batches-py", "cifar-10-batches-bin")
    how = (f"Download it with download=True, or get {_dl.base_url('cifar-10', url)}{ARCHIVE} "
           "and extract it there")
    has = lambda d: _format_of(d) is not None  # noqa: E731
    try:
        folder = locate("cifar-10", root, has, how, extra=sub)
    except FileNotFoundError:
        if not download:
            raise
        dest = download_dir("cifar-10", root)
        archive = _dl.fetch("cifar-10", ARCHIVE, ARCHIVE_MD5, dest, url)
        safe_extract(archive, dest)
        folder = locate("cifar-10", root, has, how, extra=sub)
    fmt = _format_of(folder)
    t0 = time.perf_counter()
    suffix, read = ("", read_python_batch) if fmt == "python" else (".bin", read_binary_batch)
    files = _train_files(folder, suffix)
    train = [read(f) for f in files]
    Xte, yte = read(folder / f"test_batch{suffix}")
    Xtr = np.concatenate([b[0] for b in train])
    ytr = np.concatenate([b[1] for b in train])
    info = dict(name="cifar-10", source=str(folder), format=fmt, image_shape=(3, 32, 32),
                dtype="uint8", value_range=(0, 255), batches=[f.name for f in files],
                load_seconds=round(time.perf_counter() - t0, 3),
                official_counts={"train": int(Xtr.shape[0]), "test": int(Xte.shape[0])})
    return make_splits(Xtr, ytr, Xte, yte, _label_names(folder, fmt), info,
                       val_size=val_size, subsample=subsample, seed=seed)
