"""`torch.backends.mps` for chainrule: Apple's Metal GPUs are not supported, so both answers are False."""
from __future__ import annotations


def is_available() -> bool:
    """False: chainrule runs on the CPU or an NVIDIA GPU (CuPy)."""
    return False


def is_built() -> bool:
    """False: chainrule has no Metal build."""
    return False
