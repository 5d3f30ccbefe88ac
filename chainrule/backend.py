"""Where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU.

Ops take their array module from their inputs and write `xp.zeros`, `xp.exp`,
... so one implementation runs on either device:

    xp = array_module(x)          # numpy or cupy
    out = xp.maximum(x, 0)

The few calls with no common spelling live here, one function each with a
NumPy and a CuPy branch: moving arrays between devices, strided views,
scatter-add, synchronising. CuPy is imported on first use only (the `[cuda]`
extra); a CPU-only program never loads it.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["Device", "device", "device_of", "array_module", "is_device_array", "to_device", "to_host",
           "is_available", "device_count", "synchronize", "cupy", "as_strided", "scatter_add",
           "owns_data", "fused", "is_device_spec", "new_array", "INSTALL_HINT"]

INSTALL_HINT = ("CUDA tensors need CuPy: pip install 'chainrule[cuda]' (CuPy for CUDA 12); "
                "with CUDA 13 drivers, pip install cupy-cuda13x")

_cupy: Any = None   # the cupy module once imported (tests may install a stand-in with use_cupy)
_cupyx: Any = None  # and its cupyx companion (scatter_add)


def cupy() -> Any:
    """The CuPy module, imported on first use; ImportError naming the pip install when it is missing."""
    global _cupy, _cupyx
    if _cupy is None:
        try:
            import cupy as cp
            import cupyx
        except ImportError as e:
            raise ImportError(INSTALL_HINT) from e
        _cupy, _cupyx = cp, cupyx
    return _cupy


def use_cupy(module: Any, cupyx: Any = None) -> tuple:
    """Install `module` (and `cupyx`) as the GPU array library; returns the previous pair.
    The tests use this to run the device code paths on a CPU stand-in (tests/fake_cupy.py)."""
    global _cupy, _cupyx
    before = (_cupy, _cupyx)
    _cupy, _cupyx = module, cupyx
    return before


# ----------------------------------------------------------------- devices
class Device:
    """PyTorch's `torch.device`: `Device("cpu")`, `Device("cuda")`, `Device("cuda:1")`, `Device("cuda", 1)`."""

    __slots__ = ("type", "index")

    def __init__(self, type: "str | Device", index: int | None = None):  # noqa: A002 (PyTorch's name)
        if isinstance(type, Device):  # torch.device(torch.device("cpu")) is allowed
            type, index = str(type), index
        if ":" in type:
            if index is not None:
                raise ValueError(f"device {type!r} already names an index; got index={index} too")
            name, _, idx = type.partition(":")
            if not idx.isdigit():
                raise ValueError(f"expected device 'cpu', 'cuda' or 'cuda:N', got {type!r}")
            type = name
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise ValueError(f"expected device 'cpu', 'cuda' or 'cuda:N', got {type!r}")
        if type == "cpu" and index not in (None, 0):
            raise ValueError(f"the cpu device has no index {index}")
        self.type = type
        self.index = None if type == "cpu" else (0 if index is None else int(index))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except ValueError:
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self) -> str:
        return "device(type='cpu')" if self.type == "cpu" else f"device(type='cuda', index={self.index})"


CPU = Device("cpu")


def device(spec: Any = None) -> Device:
    """A `Device` from "cpu", "cuda", "cuda:N", "auto" (cuda when available), an int N (cuda:N, as
    PyTorch), a Device or None (cpu)."""
    if spec is None:
        return CPU
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Device("cuda", spec)
    if spec == "auto":
        return Device("cuda") if is_available() else CPU
    if not isinstance(spec, str):
        raise TypeError(f"expected a device ('cpu', 'cuda', 'cuda:N', 'auto'), got {spec!r}")
    return Device(spec)


def is_device_spec(a: Any) -> bool:
    """Whether a `to(...)` argument names a device rather than a dtype: a Device, an int (a CUDA
    index), or a string that is no dtype name ("cpu", "cuda:1", "auto", and "gpu" too, so that
    `device()` says what is expected instead of NumPy saying it is no dtype)."""
    if isinstance(a, Device) or (isinstance(a, int) and not isinstance(a, bool)):
        return True
    if isinstance(a, str):
        try:
            np.dtype(a)
        except TypeError:
            return True
    return False


def is_device_array(a: Any) -> bool:
    """Whether `a` is a GPU (CuPy) array."""
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def array_module(*arrays: Any) -> Any:
    """numpy, or cupy when any argument is a CuPy array (CuPy's `get_array_module`)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(a: Any) -> Device:
    """The device an array lives on."""
    if is_device_array(a):
        return Device("cuda", a.device.id)
    return CPU


def to_device(a: Any, dev: Any) -> Any:
    """`a` on device `dev` (the array itself when it is there already)."""
    dev = device(dev)
    if dev.type == "cpu":
        return to_host(a)
    if is_device_array(a) and a.device.id == dev.index:
        return a
    cp = _gpu()
    with cp.cuda.Device(dev.index):
        return cp.asarray(a)


def new_array(kind: str, shape: tuple, dtype: Any, dev: Any = None) -> Any:
    """`xp.zeros`, `xp.ones` or `xp.empty` (kind) of shape and dtype, made on device `dev`."""
    dev = device(dev)
    if dev.type == "cpu":
        return getattr(np, kind)(shape, dtype)
    cp = _gpu()
    with cp.cuda.Device(dev.index):
        return getattr(cp, kind)(shape, dtype)


def _gpu() -> Any:
    """CuPy, once it is sure to have a device to put arrays on."""
    cp = cupy()
    if not is_available():
        raise RuntimeError("no CUDA device is available (cr.cuda.is_available() is False)")
    return cp


def to_host(a: Any) -> Any:
    """A NumPy array of `a` (copied from the GPU when it lives there; `a` itself otherwise)."""
    return _cupy.asnumpy(a) if is_device_array(a) else a


def is_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device."""
    return device_count() > 0


def device_count() -> int:
    """CUDA devices CuPy sees (0 without CuPy or a driver)."""
    try:
        return int(cupy().cuda.runtime.getDeviceCount())
    except Exception:  # no CuPy, no driver, no device: all mean "none"
        return 0


def synchronize() -> None:
    """Wait for the GPU to finish queued work (for timing); nothing on the CPU."""
    if _cupy is not None and is_available():
        _cupy.cuda.runtime.deviceSynchronize()


# ------------------------------------------------- calls spelled differently
def as_strided(a: Any, shape: tuple, strides: tuple) -> Any:
    """A strided view of `a` (NumPy's and CuPy's `lib.stride_tricks.as_strided`); read-only use only."""
    xp = array_module(a)
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def scatter_add(out: Any, index: Any, values: Any) -> None:
    """out[index] += values, adding once per occurrence of a repeated index (`np.add.at`)."""
    if is_device_array(out):
        at = getattr(_cupy.add, "at", None) if _cupy.__name__ == "cupy" else None
        if at is not None:  # CuPy >= 13; CuPy 14 deprecates cupyx.scatter_add for it
            at(out, index, values)
        else:
            _cupyx.scatter_add(out, index, values)
    else:
        np.add.at(out, index, values)


def owns_data(a: Any) -> bool:
    """Whether `a` owns its memory and may be written in place (CuPy arrays are always writeable)."""
    if is_device_array(a):
        return bool(a.flags.owndata)
    return bool(a.flags.owndata and a.flags.writeable)


# ------------------------------------------------------------ fused kernels
_kernels: dict = {}  # (name, module) -> CuPy ElementwiseKernel, or False where there is none


def fused(name: str, code: tuple[str, str, str], *args: Any) -> Any:
    """Run a CuPy ElementwiseKernel, code = (in_params, out_params, body), built once as
    "chainrule_<name>", on args (the first a CuPy array) and return what it returns. One launch
    instead of the several a plain CuPy expression takes. None where there is none, and the
    caller takes its plain path: a NumPy first argument, a module without ElementwiseKernel (the
    tests' CPU stand-in), or a kernel that failed before (warned once, then never tried again)."""
    if not is_device_array(args[0]):
        return None
    key = (name, _cupy)
    kernel = _kernels.get(key)
    if kernel is None:
        make = getattr(_cupy, "ElementwiseKernel", None)
        kernel = _kernels[key] = make(*code, "chainrule_" + name) if make else False
    if kernel is False:
        return None
    try:
        return kernel(*args)
    except Exception as e:  # a CUDA compile error: keep going on the plain path
        _kernels[key] = False
        warnings.warn(f"chainrule: fused kernel {name} failed ({type(e).__name__}: {e}); using plain CuPy",
                      RuntimeWarning, stacklevel=3)
        return None
