"""Keep freed memory in the process, so big arrays are not faulted back in every step.

glibc's malloc hands every block above 32 MiB (its mmap threshold) straight to the
kernel and returns it on free. A training step makes and frees dozens of such arrays
(a (128, 64, 32, 32) float32 activation is exactly 32 MiB), and the kernel must zero
and map each page again on first touch: measured here, np.maximum(x, 0) into a fresh
32 MiB array took 22 ms, into a reused one 10 ms. Raising the mmap and trim thresholds
lets malloc serve those arrays from memory the process already holds, as PyTorch's
caching allocator does on GPUs. Peak memory does not change (the same arrays are
alive at the peak); memory freed after the peak stays with the process.

`keep_freed_memory()` runs once when chainrule.ops is imported; set
CHAINRULE_KEEP_FREED_MEMORY=0 to leave malloc as it is. Other C libraries: nothing happens.
"""
from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
_LIMIT = 1 << 30  # arrays up to 1 GiB come from the heap; larger ones still go to mmap


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True if it did."""
    if os.environ.get("CHAINRULE_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: leave them alone
            return False
        ok = libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(_LIMIT))
        return bool(ok and libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(2 * _LIMIT - 1)))
    except (OSError, AttributeError):
        return False


KEPT = keep_freed_memory()
