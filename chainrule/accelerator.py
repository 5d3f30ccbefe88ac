"""PyTorch's `torch.accelerator` for chainrule: the device check at the top of most scripts.

    device = cr.accelerator.current_accelerator().type if cr.accelerator.is_available() else "cpu"

chainrule's only accelerator is an NVIDIA GPU through CuPy (the `[cuda]` extra): the answers
are True / device(type='cuda') exactly when CuPy imports and sees a GPU, else False / None.
"""
from __future__ import annotations

from .backend import Device, device_count, is_available, synchronize

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "synchronize"]


def current_accelerator(check_available: bool = False) -> Device | None:
    """device(type='cuda') when a GPU is usable, else None (there is no other accelerator)."""
    return Device("cuda") if is_available() else None


def current_device_index() -> int:
    """The index of the current CUDA device (CuPy's); -1 without one, as PyTorch."""
    if not is_available():
        return -1
    from .cuda import current_device

    return current_device()
