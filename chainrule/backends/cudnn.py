"""`torch.backends.cudnn` for chainrule: the flags are accepted and read back, and change nothing.

chainrule's GPU path is CuPy's arrays and its own kernels, not cuDNN, so `is_available()` is
False; `benchmark`, `deterministic`, `enabled` and `allow_tf32` keep what a script sets (its
`cudnn.benchmark = True` line runs), with PyTorch's defaults.
"""
from __future__ import annotations

enabled: bool = True
benchmark: bool = False
deterministic: bool = False
allow_tf32: bool = True


def is_available() -> bool:
    """False: chainrule does not call cuDNN."""
    return False


def version() -> None:
    """None, as PyTorch answers without cuDNN."""
    return None
