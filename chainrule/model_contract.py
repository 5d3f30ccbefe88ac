"""What a trained model expects as input: its input contract, saved with it.

A model turns *preprocessed* images into scores. To classify an image file (`chainrule predict`)
or to put the preprocessing into an ONNX graph (`chainrule export`), one needs to know

    input_shape   [C, H, W] of one raw image (C: the channels)
    dtype         of the raw images ("uint8", "float32")
    value_range   [lo, hi] of the raw pixel values (0..255 for uint8, 0..1 for the built-in digits)
    preprocess    the fitted normalisation (saved as arrays), or "none"
    classes       the class names

These facts travel with the model: the Solver records them from the data it trains on
(`record`, as the model's `.preprocess`, `.classes` and `.info`, the attributes `cr.load` sets),
`cr.save` writes them (`fill`: explicit arguments win), and `require` refuses to go on when one
is missing, naming it and how to supply it. Nothing is ever guessed: a float array's minimum and
maximum are not its value range.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UsageError

FIELDS = ("input_shape", "value_range", "preprocess", "classes")


class _Unset:
    """The default of cr.save's preprocess: 'not given' (an explicit None means 'no preprocessing')."""

    def __repr__(self) -> str:
        return "<the model's own>"


UNSET: Any = _Unset()

# field -> (what it is, in words; the cr.save argument that supplies it)
_HOW = {
    "input_shape": ("its input shape", 'info={"input_shape": [C, H, W]}'),
    "value_range": ("the value range of its raw input pixels", 'info={"value_range": [LO, HI]}'),
    "preprocess": ("its normalisation (the fitted preprocessing, or that there is none)",
                   "preprocess=FITTED_PREPROCESSOR (or preprocess=None for none)"),
    "classes": ("its class names", "classes=[NAME, ...]"),
}


def describe_preprocess(pre: Any) -> str:
    """A preprocessor's name for the record ("none" for None)."""
    return "none" if pre is None else type(pre).__name__


def from_data(data: Any, preprocess: Any = None, classes: list[str] | None = None) -> dict[str, Any]:
    """The contract of a model trained on `data` (a cr.data Splits, or a CS231n dict of arrays)
    with the fitted `preprocess`: only what is known. The value range comes from the dataset's
    description (`data.info["value_range"]`, as every cr.data.load dataset has) or, for uint8
    images, from the dtype; a float array without a description has none recorded."""
    X = np.asarray(data["X_train"][:1]) if "X_train" in data else None
    info = dict(getattr(data, "info", None) or {})
    out: dict[str, Any] = {}
    if info.get("name"):
        out["name"] = str(info["name"])
    if X is not None:
        out["input_shape"] = [int(s) for s in X.shape[1:]]
        out["dtype"] = str(X.dtype)
    vr = info.get("value_range")
    if vr is None and X is not None and X.dtype == np.uint8:
        vr = (0, 255)  # the dtype's own range: a fact, not a guess
    if vr is not None:
        out["value_range"] = [float(v) for v in vr]
    out["preprocess"] = describe_preprocess(preprocess)
    if classes is None:
        classes = getattr(data, "classes", None)
    if classes is not None:
        out["classes"] = [str(c) for c in classes]
    if info.get("counts"):
        out["counts"] = dict(info["counts"])
    return out


def record(model: Any, data: Any, preprocess: Any = None, classes: list[str] | None = None) -> None:
    """Attach to `model` what it was trained on (the Solver calls this): `.preprocess` (the fitted
    preprocessor or None), `.classes` and `.info` (the contract), so that cr.save(model, path)
    writes them without being told."""
    info = from_data(data, preprocess, classes)
    model.preprocess = preprocess
    model.classes = info.get("classes")
    model.info = info


def fill(model: Any, preprocess: Any = UNSET, classes: list[str] | None = None,
         info: dict[str, Any] | None = None) -> tuple[Any, list[str] | None, dict[str, Any]]:
    """cr.save's (preprocess, classes, info): the arguments given, completed from what the model
    records (`record`, or a model from cr.load). An explicit `preprocess=None` records "none"."""
    merged = dict(getattr(model, "info", None) or {})
    merged.update(info or {})
    if preprocess is UNSET:
        preprocess = getattr(model, "preprocess", None)
        if preprocess is not None:
            merged["preprocess"] = describe_preprocess(preprocess)
    else:
        merged["preprocess"] = describe_preprocess(preprocess)
    if classes is None:
        classes = getattr(model, "classes", None) or merged.get("classes")
    if classes is not None:
        classes = [str(c) for c in classes]
        merged["classes"] = classes
    return preprocess, classes, merged


def missing(model: Any) -> list[str]:
    """The contract fields a loaded model (cr.load) does not record, in FIELDS order."""
    info = getattr(model, "info", None) or {}
    known = {
        "input_shape": info.get("input_shape") is not None,
        "value_range": info.get("value_range") is not None,
        "preprocess": getattr(model, "preprocess", None) is not None or "preprocess" in info,
        "classes": bool(getattr(model, "classes", None)),
    }
    return [f for f in FIELDS if not known[f]]


def require(model: Any, source: str, needed_for: str) -> dict[str, Any]:
    """The model's contract (its `.info`), or UsageError naming every missing field and the
    cr.save argument that supplies it. `source`: the file or run, `needed_for`: e.g. "predict"."""
    absent = missing(model)
    if absent:
        what = "; ".join(_HOW[f][0] for f in absent)
        args = ", ".join(_HOW[f][1] for f in absent)
        raise UsageError(
            f"{source}: the saved model does not record {what}, which {needed_for} needs and will not "
            f"guess. A model trained by `chainrule train` or cr.Solver records them; otherwise save it with "
            f"cr.save(model, path, {args})")
    info = dict(model.info)
    shape = info["input_shape"]
    if len(shape) != 3:
        raise UsageError(f"{source}: the model takes inputs of shape {list(shape)}, not images (C, H, W); "
                         f"{needed_for} needs an image model")
    lo, hi = info["value_range"]
    if not lo < hi:
        raise UsageError(f"{source}: the recorded value range [{lo}, {hi}] is empty")
    info.setdefault("dtype", "float32")
    return info
