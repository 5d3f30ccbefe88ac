"""The errors of ONNX export, and the lazy import of the `onnx` package."""
from __future__ import annotations

from typing import Any

INSTALL_HINT = 'pip install "chainrule[onnx]"'


class ExportError(ValueError):
    """The model cannot be written as ONNX as it is (the message says why and where)."""


class UnsupportedOpError(ExportError, NotImplementedError):
    """A recorded op has no ONNX converter; the message names the op and the module that ran it."""


class TracerWarning(UserWarning):
    """Something the trace stored as it was for the example input (as torch.jit's TracerWarning)."""


def require_onnx() -> Any:
    """The `onnx` module, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError(f"ONNX export needs the onnx package: {INSTALL_HINT}") from e
    return onnx
