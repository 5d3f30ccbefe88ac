"""PyTorch's dtype names: `cr.float32`, `cr.float`, `cr.long`, `cr.bool`, ... and `cr.Size`.

A chainrule dtype is a thin name over a NumPy dtype: it prints as `chainrule.float32`, compares
equal to the NumPy dtype, its type and its name (`x.dtype == cr.float32`, `cr.float32 == np.float32`),
and NumPy and CuPy accept it wherever they take a dtype (through its `.dtype` attribute).
"""
from __future__ import annotations

from typing import Any

import numpy as np


class dtype:  # noqa: N801 (PyTorch's name)
    """A tensor element type: `.dtype` is the NumPy dtype; `is_floating_point`, `itemsize`."""

    __slots__ = ("dtype", "name")

    def __init__(self, np_dtype: Any, name: str):
        self.dtype = np.dtype(np_dtype)
        self.name = name

    @property
    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    @property
    def is_signed(self) -> bool:
        return self.dtype.kind in "fi"

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def __getattr__(self, attr: str) -> Any:  # kind, char, type, ...: the NumPy dtype's
        return getattr(object.__getattribute__(self, "dtype"), attr)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, dtype):
            return self.dtype == other.dtype
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return f"chainrule.{self.name}"


float16 = half = dtype(np.float16, "float16")
float32 = float = dtype(np.float32, "float32")  # noqa: A001
float64 = double = dtype(np.float64, "float64")
uint8 = dtype(np.uint8, "uint8")
int8 = dtype(np.int8, "int8")
int16 = short = dtype(np.int16, "int16")
int32 = int = dtype(np.int32, "int32")  # noqa: A001
int64 = long = dtype(np.int64, "int64")
bool = dtype(np.bool_, "bool")  # noqa: A001

_BY_NUMPY = {d.dtype: d for d in (float16, float32, float64, uint8, int8, int16, int32, int64, bool)}


def as_dtype(d: Any) -> dtype:
    """The chainrule dtype of a NumPy dtype, type or name."""
    nd = d.dtype if isinstance(d, dtype) else np.dtype(d)
    try:
        return _BY_NUMPY[nd]
    except KeyError:
        raise TypeError(f"no chainrule dtype for {nd}") from None


class Size(tuple):
    """A tensor's shape, as PyTorch's `torch.Size`: a tuple of ints that prints as one."""

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"chainrule.Size({list(self)})"

    def __getitem__(self, i):  # a slice stays a Size
        out = tuple.__getitem__(self, i)
        return Size(out) if isinstance(i, slice) else out
