"""PyTorch's `torch.backends` for chainrule: the flags and checks scripts set at their top.

    cr.backends.mps.is_available()          # False: chainrule runs on the CPU or a CUDA GPU
    cr.backends.cudnn.benchmark = True      # accepted; chainrule does not use cuDNN

Not to be confused with `chainrule.backend`, which picks NumPy or CuPy arrays.
"""
from . import cuda, cudnn, mps  # noqa: F401

__all__ = ["cuda", "cudnn", "mps"]
