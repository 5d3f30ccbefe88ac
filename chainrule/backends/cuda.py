"""`torch.backends.cuda` for chainrule: `is_built()` (CuPy importable) and the TF32 matmul flag.

`matmul.allow_tf32` is accepted and changes nothing (CuPy's matmuls keep float32).
"""
from __future__ import annotations

from types import SimpleNamespace

matmul = SimpleNamespace(allow_tf32=False)


def is_built() -> bool:
    """Whether CuPy (chainrule's CUDA arrays) can be imported."""
    import importlib.util

    return importlib.util.find_spec("cupy") is not None
