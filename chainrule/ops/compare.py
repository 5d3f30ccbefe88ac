"""Comparisons and logical ops: they give boolean tensors and carry no gradient (as in PyTorch).
Each works on NumPy and CuPy arrays alike (NumPy's ufuncs dispatch to CuPy)."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor, wrap


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _ufunc(fn, *args: Any) -> Tensor:
    return wrap(backend.array_module(*[_raw(a) for a in args if isinstance(a, Tensor)]).asarray(
        fn(*[_raw(a) for a in args])))


# the operators, not the ufuncs: an object that defines its own comparison (pytest.approx) still can
def eq(a, b) -> Tensor: return _ufunc(operator.eq, a, b)
def ne(a, b) -> Tensor: return _ufunc(operator.ne, a, b)
def lt(a, b) -> Tensor: return _ufunc(operator.lt, a, b)
def le(a, b) -> Tensor: return _ufunc(operator.le, a, b)
def gt(a, b) -> Tensor: return _ufunc(operator.gt, a, b)
def ge(a, b) -> Tensor: return _ufunc(operator.ge, a, b)
def logical_and(a, b) -> Tensor: return _ufunc(np.logical_and, a, b)
def logical_or(a, b) -> Tensor: return _ufunc(np.logical_or, a, b)
def logical_xor(a, b) -> Tensor: return _ufunc(np.logical_xor, a, b)
def logical_not(a) -> Tensor: return _ufunc(np.logical_not, a)
def isnan(a) -> Tensor: return _ufunc(np.isnan, a)
def isinf(a) -> Tensor: return _ufunc(np.isinf, a)
def isfinite(a) -> Tensor: return _ufunc(np.isfinite, a)
def sign(a) -> Tensor: return _ufunc(np.sign, a)
def floor(a) -> Tensor: return _ufunc(np.floor, a)
def ceil(a) -> Tensor: return _ufunc(np.ceil, a)
def trunc(a) -> Tensor: return _ufunc(np.trunc, a)


def round(a, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round half to even, as PyTorch and NumPy."""
    return wrap(backend.array_module(_raw(a)).round(_raw(a), decimals))


def isclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    return wrap(backend.array_module(_raw(a)).isclose(_raw(a), _raw(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan).data.all())


def equal(a, b) -> bool:
    """True when both have the same shape and the same values."""
    return np.shape(_raw(a)) == np.shape(_raw(b)) and bool((_raw(a) == _raw(b)).all())
