"""ONNX export: `cr.onnx.export(model, example_input, "model.onnx")`.

Like `torch.onnx.export`, it traces: the model runs once in eval mode on the
example input with the autograd graph recorded, and each recorded op (a
`cr.Function`) becomes one or a few ONNX nodes. Parameters and buffers become
initializers named by their state-dict keys; the batch dimension is dynamic.
A fitted preprocessor (MeanImage, PerChannelNormalize, PCAWhiten) can be put
in front, so that raw images go in and the same probabilities as `chainrule
predict` come out. See docs/onnx.md.

Needs the `onnx` package (`pip install "chainrule[onnx]"`), imported on first use.
"""
from .errors import ExportError, TracerWarning, UnsupportedOpError  # noqa: F401
from .exporter import export, to_onnx  # noqa: F401
from .converters import supported_ops  # noqa: F401

__all__ = ["export", "to_onnx", "supported_ops", "ExportError", "UnsupportedOpError", "TracerWarning"]
