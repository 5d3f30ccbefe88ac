"""PyTorch's `torch.cuda` for chainrule: is a GPU there, how many, wait for it.

    if cr.cuda.is_available():
        model.to("cuda")

The arrays themselves are CuPy's (the `[cuda]` extra); see `chainrule.backend`.
"""
from __future__ import annotations

from .backend import device_count, is_available, synchronize

__all__ = ["is_available", "device_count", "synchronize", "current_device"]


def current_device() -> int:
    """The index of the CUDA device new arrays go to (CuPy's current device)."""
    from .backend import cupy

    return int(cupy().cuda.Device().id)
