"""Where each heavy op runs: the one table of implementations and the one function that picks.

    op                    "numpy" (the reference)   "numba" (compiled)      "cupy" (GPU arrays)
    conv2d                conv_cpu                  (conv_jit, timed)       conv_device
    max_pool2d            pool_cpu.max_*            -                       pool_device.max_*
    avg_pool2d            pool_cpu.avg_*            -                       pool_device.avg_*
    adaptive_avg_pool2d   pool_cpu.adaptive_*       -                       pool_device.adaptive_*
    batch_norm            norm_cpu (NumPy passes)   norm_cpu + norm_jit     norm_device

(`_build` below is that table in code.) `choose(op, *args)` is called once per forward, by
`forward`: CuPy arrays take "cupy"; NumPy arrays take "numba" where the op has a compiled
implementation that accepts these inputs and the compiled kernels are on (`jit.is_enabled()`:
Numba importable, `CHAINRULE_JIT` not 0), else "numpy". The chosen `Impl` is kept on ctx, so
`backward` runs the same implementation without deciding again (Chainer's `forward_cpu` /
`forward_gpu`, minitorch's `TensorBackend`).

Inside the CPU convolution the algorithm (im2col columns, one product per kernel offset, the
compiled loop of `conv_jit`, ...) is a second, per-geometry choice, timed on this machine: see
`autotune` and `conv_wide.conv`.

    cr.ops.dispatch.where("batch_norm", x)       # -> "numba"
    cr.ops.dispatch.implementations("conv2d")    # -> {"numpy": Impl, "cupy": Impl}

`kernels` is the one cache of compiled GPU kernels (CuPy ElementwiseKernel / ReductionKernel
objects, keyed by op, name and geometry); Numba keeps its own machine code per function (`jit`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from .. import backend
from . import jit

__all__ = ["Impl", "choose", "where", "implementations", "forward", "backward", "kernels",
           "KernelCache", "on_device"]


@dataclass(frozen=True)
class Impl:
    """One implementation of an op: forward(ctx, *args) -> output, backward(ctx, grad) -> grads.
    `accepts(*args)`: whether it can take these inputs (None: any)."""

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    accepts: Callable[..., bool] | None = None


def on_device(a: Any) -> bool:
    """Whether `a` is a GPU (CuPy) array: the one test that sends an op to its "cupy" implementation."""
    return backend.is_device_array(a)


_table: dict[str, dict[str, Impl]] | None = None
_lock = threading.Lock()


def _build() -> dict[str, dict[str, Impl]]:
    """The table (imported here, on first use: the implementation modules import this one for
    `kernels`)."""
    from . import conv_cpu, conv_device, norm_cpu, norm_device, pool_cpu, pool_device

    return {
        "conv2d": {
            "numpy": Impl("numpy", conv_cpu.forward, conv_cpu.backward),
            "cupy": Impl("cupy", conv_device.forward, conv_device.backward),
        },
        "max_pool2d": {
            "numpy": Impl("numpy", pool_cpu.max_forward, pool_cpu.max_backward),
            "cupy": Impl("cupy", pool_device.max_forward, pool_device.max_backward),
        },
        "avg_pool2d": {
            "numpy": Impl("numpy", pool_cpu.avg_forward, pool_cpu.avg_backward),
            "cupy": Impl("cupy", pool_device.avg_forward, pool_device.avg_backward),
        },
        "adaptive_avg_pool2d": {
            "numpy": Impl("numpy", pool_cpu.adaptive_forward, pool_cpu.adaptive_backward),
            "cupy": Impl("cupy", pool_device.adaptive_forward, pool_device.adaptive_backward),
        },
        "batch_norm": {
            "numpy": Impl("numpy", norm_cpu.forward_reference, norm_cpu.backward),
            "numba": Impl("numba", norm_cpu.forward_compiled, norm_cpu.backward, norm_cpu.compiled_accepts),
            "cupy": Impl("cupy", norm_device.batch_norm_forward, norm_device.batch_norm_backward),
        },
    }


def implementations(op: str) -> dict[str, Impl]:
    """The named implementations of `op` ("numpy", "numba", "cupy")."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _build()
    try:
        return _table[op]
    except KeyError:
        raise KeyError(f"dispatch: no op {op!r}; the table has {sorted(_table)}") from None


def choose(op: str, *args: Any) -> Impl:
    """The implementation of `op` for these forward arguments (the first is the input array)."""
    impls = implementations(op)
    if on_device(args[0]):
        return impls["cupy"]
    compiled = impls.get("numba")
    if compiled is not None and jit.is_enabled() and (compiled.accepts is None or compiled.accepts(*args)):
        return compiled
    return impls["numpy"]


def where(op: str, *args: Any) -> str:
    """The name of the implementation `op` runs with these arguments: "numpy", "numba" or "cupy"."""
    return choose(op, *args).name


def forward(op: str, ctx: Any, *args: Any) -> Any:
    """Run `op`'s forward with the implementation `choose` picks; remembered on ctx for backward."""
    impl = ctx.impl = choose(op, *args)
    return impl.forward(ctx, *args)


def backward(ctx: Any, grad: Any) -> Any:
    """Run the backward of the implementation that ran forward."""
    return ctx.impl.backward(ctx, grad)


class KernelCache:
    """Compiled kernels by key: `kernels.get(key, build)` builds once (under a lock: two threads
    must not compile the same kernel twice), then hands out the same object."""

    def __init__(self) -> None:
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, build: Callable[[], Any]) -> Any:
        k = self._items.get(key)
        if k is None:
            with self._lock:
                k = self._items.get(key)
                if k is None:
                    k = self._items[key] = build()
        return k

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


kernels = KernelCache()
