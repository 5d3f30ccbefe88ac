"""A restricted unpickler for the CIFAR python batches.

The official CIFAR-10 "python version" files are pickles. A pickle can name any
importable callable (e.g. os.system via __reduce__) and run it while loading, so
a planted file could run code. This unpickler resolves only the handful of
names those files need (NumPy's array reconstruction and the codec Python 3
uses for bytes in old-protocol pickles) and refuses everything else.
"""
from __future__ import annotations

import codecs
import io
import pickle

import numpy as np


def _allowed() -> dict[tuple[str, str], object]:
    from numpy._core import multiarray  # numpy >= 2; numpy.core is the old alias of it

    names = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[(mod, "_reconstruct")] = multiarray._reconstruct
        names[(mod, "scalar")] = multiarray.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        names[(mod, "_frombuffer")] = np._core.numeric._frombuffer
    names[("numpy", "ndarray")] = np.ndarray
    names[("numpy", "dtype")] = np.dtype
    names[("_codecs", "encode")] = codecs.encode
    return names


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose find_class admits only NumPy array/dtype names and _codecs.encode."""

    _ALLOWED = None

    def find_class(self, module: str, name: str):
        if RestrictedUnpickler._ALLOWED is None:
            RestrictedUnpickler._ALLOWED = _allowed()
        try:
            return RestrictedUnpickler._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}': only NumPy arrays, lists, dicts, "
                "numbers and strings are allowed in a dataset file") from None


def safe_load(data: bytes, encoding: str = "bytes"):
    """Unpickle `data` with `RestrictedUnpickler` (encoding='bytes' reads Python 2 pickles)."""
    obj = RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    _reject_object_arrays(obj)
    return obj


def _reject_object_arrays(obj) -> None:
    # object arrays hold arbitrary Python objects: a dataset never needs one
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise pickle.UnpicklingError("refusing an object-dtype array in a dataset file")
    if isinstance(obj, dict):
        for v in obj.values():
            _reject_object_arrays(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj[:1]:  # lists here are labels or names; checking the first suffices for type
            _reject_object_arrays(v)
