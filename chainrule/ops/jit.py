"""Compiled CPU kernels (Numba), for the few passes NumPy cannot make in one go.

A memory-bound op such as batch norm costs what it reads and writes. In NumPy
every small step (centre, square, sum, scale, shift) is its own pass over the
data, so batch norm's forward and backward made about ten; a compiled loop
makes two each. The kernels are written as plain Python loops beside the
NumPy reference they replace (e.g. `norm_jit` beside `norm`), and compiled by
Numba on first use (`cache=True`: once per machine, not per process).

They release the GIL (`nogil=True`) and run inside `parallel.blocks`, one block
of examples per thread, exactly as the NumPy passes do: no second thread pool.

Numba is a core dependency, so this is the default path. With
`CHAINRULE_JIT=0` in the environment, after `set_enabled(False)`, or where
Numba cannot be imported (a broken llvmlite, a platform without wheels), every
op takes its NumPy reference path; the tests compare the two.

    cr.ops.jit.is_available()        # Numba importable?
    cr.ops.jit.set_enabled(False)    # NumPy paths only
    with cr.ops.jit.enabled(False):  # temporarily
        ...
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Any, Callable, Iterator

__all__ = ["is_available", "is_enabled", "set_enabled", "enabled", "kernel", "require"]

INSTALL = "pip install numba  (a dependency of chainrule; this environment lacks it)"


@functools.lru_cache(maxsize=None)
def is_available() -> bool:
    """Whether Numba can be imported (checked once)."""
    try:
        import numba  # noqa: F401
    except Exception:  # ImportError, or OSError from a broken llvmlite: fall back to NumPy
        return False
    return True


def _from_environment() -> bool:
    return os.environ.get("CHAINRULE_JIT", "1").strip().lower() not in ("0", "false", "no", "off")


_enabled = _from_environment()


def is_enabled() -> bool:
    """Whether the ops use their compiled kernels now: Numba is there and they are switched on."""
    return _enabled and is_available()


def require() -> None:
    """Raise, naming the install, when Numba is missing."""
    if not is_available():
        raise ImportError(f"chainrule's compiled kernels need Numba: {INSTALL}")


def set_enabled(flag: bool) -> None:
    """Switch the compiled kernels on (needs Numba) or off (NumPy paths only)."""
    global _enabled
    if flag:
        require()
    _enabled = bool(flag)


@contextlib.contextmanager
def enabled(flag: bool) -> Iterator[None]:
    """`with enabled(False): ...` runs the NumPy paths inside, then restores the setting."""
    global _enabled
    before = _enabled
    set_enabled(flag)
    try:
        yield
    finally:
        _enabled = before  # restored as it was, Numba or not


# Reductions may be reordered (so that they vectorise); elementwise kernels keep
# NumPy's exact arithmetic.
REDUCTION = frozenset({"reassoc"})


def kernel(fastmath: frozenset = frozenset()) -> Callable[[Callable], Callable]:
    """Decorator: the function, compiled with numba.njit(nogil=True, cache=True) on its
    first call. The module that defines kernels imports without Numba; calling one
    without it raises the install message."""

    def wrap(fn: Callable) -> Callable:
        compiled = None
        lock = threading.Lock()  # one dispatcher for every thread (each dispatcher compiles its own)

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            nonlocal compiled
            if compiled is None:
                with lock:
                    if compiled is None:
                        require()
                        import numba

                        compiled = numba.njit(nogil=True, cache=True, fastmath=set(fastmath))(fn)
            return compiled(*args)

        call.py_func = fn  # the plain Python loops, for reading and for tests
        return call

    return wrap
