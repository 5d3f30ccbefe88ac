"""A CPU stand-in for CuPy, so the tests exercise chainrule's device code paths without a GPU.

Its arrays hold a NumPy array but behave like CuPy's where it matters for bugs:
they are not `np.ndarray`s, they refuse implicit conversion (`np.asarray(a)`
raises, as CuPy's does), they refuse to mix with NumPy arrays in ufuncs,
functions, indexing and assignment (CuPy raises TypeError there), reductions
give 0-d arrays rather than scalars, and ufunc methods other than a plain call
(`np.add.at`, `.reduce`) and `where=` are refused, so code must go through
`chainrule.backend`. What it cannot check is speed or CUDA itself: that is
tests/test_cuda.py's job on a real GPU.

    with fake_cupy.installed():
        x = cr.randn(3, device="cuda")
"""
from __future__ import annotations

import contextlib
import types
from typing import Any, Iterator

import numpy as np

from chainrule import backend


class _Flags:
    def __init__(self, a: np.ndarray):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class _DeviceId:
    id = 0

    def __repr__(self) -> str:
        return "<CUDA Device 0>"


def _strict(x: Any) -> Any:
    """x with fake arrays unwrapped; a NumPy array is an error, as in CuPy."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array mixed with a device array)")
    if isinstance(x, (list, tuple)):
        return type(x)(_strict(v) for v in x)
    return x


def _lenient(x: Any) -> Any:
    """x with fake arrays unwrapped, NumPy arrays allowed (asarray, array: host -> device copies)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(_lenient(v) for v in x)
    return x


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        return ndarray(r)
    if isinstance(r, np.generic):
        return ndarray(np.asarray(r))  # CuPy reductions give 0-d arrays, not scalars
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


class ndarray(np.lib.mixins.NDArrayOperatorsMixin):  # noqa: N801 (CuPy's name)
    """A device array stand-in: a NumPy array that will not mix with NumPy arrays."""

    __slots__ = ("_a",)

    def __init__(self, a: np.ndarray):
        object.__setattr__(self, "_a", a)

    # -- the protocols
    def __array__(self, *args: Any, **kwargs: Any):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise TypeError(f"fake cupy: ufunc method {method!r} is not supported (use chainrule.backend)")
        if "where" in kwargs:
            raise TypeError("fake cupy: ufuncs take no where= argument in CuPy")
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_strict(o) for o in (out if isinstance(out, tuple) else (out,)))
        result = ufunc(*(_strict(i) for i in inputs), **kwargs)
        if out is not None:
            return out if isinstance(out, tuple) and len(out) > 1 else (out[0] if isinstance(out, tuple) else out)
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        if "where" in kwargs:
            raise TypeError(f"fake cupy: {func.__name__} takes no where= argument in CuPy")
        return _wrap(func(*_strict(args), **{k: _strict(v) for k, v in kwargs.items()}))

    # -- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: ndarray(self._a.T))
    flags = property(lambda self: _Flags(self._a))
    device = property(lambda self: _DeviceId())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__array"):  # no __array_interface__/__array_struct__: NumPy must not convert us
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            return _wrap(attr(*_strict(args), **{k: _strict(v) for k, v in kwargs.items()}))

        return method

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "shape":
            self._a.shape = value
        else:
            raise AttributeError(name)

    # -- indexing, conversion
    def __getitem__(self, index):
        return _wrap(self._a[_strict(index)])

    def __setitem__(self, index, value) -> None:
        self._a[_strict(index)] = _strict(value)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "fake_cupy." + repr(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        return (ndarray, (self._a,))

    def get(self) -> np.ndarray:
        return self._a.copy()

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()


# -------------------------------------------------------------- the module
_LENIENT = {"asarray", "array", "asanyarray", "ascontiguousarray"}


def _function(name: str, fn: Any) -> Any:
    unwrap = _lenient if name in _LENIENT else _strict

    def call(*args, **kwargs):
        return _wrap(fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()}))

    call.__name__ = name
    return call


def _make_module() -> types.ModuleType:
    m = types.ModuleType("fake_cupy")
    m.ndarray = ndarray

    def getattr_(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(np, name)
        if isinstance(attr, (type, np.ufunc)) or not callable(attr):
            return attr  # dtypes, constants; ufuncs dispatch through ndarray.__array_ufunc__
        return _function(name, attr)

    m.__getattr__ = getattr_
    m.asnumpy = lambda a: a._a.copy() if isinstance(a, ndarray) else np.asarray(a)
    m.get_array_module = lambda *args: m if any(isinstance(a, ndarray) for a in args) else np
    m.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=_function("as_strided", np.lib.stride_tricks.as_strided)))

    class Device:
        def __init__(self, index: int = 0):
            if index != 0:
                raise RuntimeError(f"fake cupy has one device, not {index}")
            self.id = index

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def synchronize(self) -> None:
            return None

    m.cuda = types.SimpleNamespace(
        Device=Device,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, deviceSynchronize=lambda: None),
        is_available=lambda: True,
    )
    m.is_available = lambda: True
    return m


fake = _make_module()


def _scatter_add(out: ndarray, index: Any, values: Any) -> None:
    np.add.at(out._a, _strict(index), _strict(values))


fakex = types.SimpleNamespace(scatter_add=_scatter_add)


@contextlib.contextmanager
def installed() -> Iterator[types.ModuleType]:
    """Within the block, chainrule's "cuda" device is this stand-in."""
    before = backend.use_cupy(fake, fakex)
    try:
        yield fake
    finally:
        backend.use_cupy(*before)
