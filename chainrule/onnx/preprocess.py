"""A fitted preprocessor as the first nodes of the graph: raw images in, the model's input out.

The three preprocessors of chainrule.data.transforms are affine maps computed
in float32, written here with the same operations in the same order:

    MeanImage            x - mean                                   (C, H, W) mean
    PerChannelNormalize  (x - mean) / std                           per channel
    PCAWhiten            ((flat(x) - mean) @ components.T) * scale  [@ components, reshaped, if zca]

Their fitted arrays are read through `state_dict()` (mean_, std_, components_, scale_).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .builder import GraphBuilder
from .errors import ExportError


def _array(state: dict, *keys: str) -> np.ndarray:
    for k in keys:
        if k in state:
            return np.asarray(state[k], dtype=np.float32)
    raise ExportError(f"preprocessor state has none of {keys}; it has {sorted(state)}")


def _config(pre: Any) -> dict:
    return pre.to_config() if hasattr(pre, "to_config") else {"class": type(pre).__name__}


def add_preprocess(g: GraphBuilder, pre: Any, x: str, image_shape: tuple[int, ...]) -> str:
    """Nodes computing pre(x) from the float32 raw batch `x`: (N, *image_shape); returns the output name."""
    kind = type(pre).__name__
    if not hasattr(pre, "state_dict"):
        raise ExportError(f"cannot export preprocessing {kind}: it has no state_dict()")
    state, cfg = pre.state_dict(), _config(pre)
    g.scope = "preprocess"
    try:
        if kind == "MeanImage":
            return g.node("Sub", [x, g.const(_array(state, "mean_"), "mean")])
        if kind == "PerChannelNormalize":
            mean = _array(state, "mean_").reshape(1, -1, 1, 1)
            std = _array(state, "std_").reshape(1, -1, 1, 1)
            return g.node("Div", [g.node("Sub", [x, g.const(mean, "mean")]), g.const(std, "std")])
        if kind == "PCAWhiten":
            return _pca(g, state, cfg, x, image_shape)
    finally:
        g.scope = ""
    raise ExportError(f"cannot export preprocessing {kind}: only MeanImage, PerChannelNormalize and "
                      "PCAWhiten go into the ONNX graph")


def _pca(g: GraphBuilder, state: dict, cfg: dict, x: str, image_shape: tuple[int, ...]) -> str:
    comps = _array(state, "components_")  # (k, D)
    flat = g.node("Reshape", [x, g.ints([-1, comps.shape[1]])])
    z = g.node("MatMul", [g.node("Sub", [flat, g.const(_array(state, "mean_"), "mean")]),
                          g.const(np.ascontiguousarray(comps.T), "components_T")])
    z = g.node("Mul", [z, g.const(_array(state, "scale_"), "scale")])
    if not cfg.get("zca"):
        return z
    back = g.node("MatMul", [z, g.const(comps, "components")])
    return g.node("Reshape", [back, g.ints([-1, *image_shape])])
