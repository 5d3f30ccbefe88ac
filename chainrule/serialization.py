"""`cr.save` / `cr.load`: a trained model in one .safetensors file, usable on another machine.

    cr.save(model, "digits.safetensors", preprocess=norm, classes=data.classes)
    model = cr.load("digits.safetensors")   # architecture rebuilt, weights loaded, eval mode
    model = cr.load("digits.safetensors", device="cuda")  # ... on the GPU
    model.preprocess(X_raw)                 # the fitted preprocessing (or None)
    model.classes                           # class names (or None)

The file holds the weights (state_dict, copied to the host from a GPU model) as tensors, and as JSON metadata the
architecture (`chainrule.nn.config.module_to_config`), the preprocessing (its
config; its arrays are tensors) and the class names. No pickle: loading can
only rebuild chainrule's (or registered) module classes.

`cr.load` also reads the Solver's checkpoints (it takes their current weights).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .checkpoint import CheckpointError, load_state, save_state
from .data.transforms.preprocess import preprocessor_from_state, preprocessor_to_state
from .model_contract import UNSET, fill
from .nn.config import module_from_config, module_to_config
from .nn.module import Module

__all__ = ["save", "load"]


def save(model: Module, path: str | os.PathLike, preprocess: Any = UNSET, classes: list[str] | None = None,
         info: dict[str, Any] | None = None) -> Path:
    """Write model (architecture + weights), preprocessing and class names to `path` (atomically).

    preprocess: a fitted cr.data.transforms preprocessor, or None for none; not given: the model's
        own (a model the Solver trained records its data's input contract, see model_contract).
    info: extra JSON-able facts, e.g. {"input_shape": [1, 8, 8], "value_range": [0, 1]}.
    Raises ValueError if the model's architecture cannot be described as a config
    (a custom Module class not registered with chainrule.nn.config.register_module).
    """
    if not isinstance(model, Module):
        raise TypeError(f"cr.save expects a cr.nn.Module, got {type(model).__name__}")
    preprocess, classes, info = fill(model, preprocess, classes, info)  # the input contract (h-21cli)
    state = {"model_config": module_to_config(model), "model": dict(model.state_dict()),
             "preprocess": preprocessor_to_state(preprocess),
             "classes": None if classes is None else [str(c) for c in classes],
             "info": dict(info or {})}
    return save_state(path, state, kind="model")


def load(path: str | os.PathLike, device: Any = None) -> Module:
    """The model saved by `cr.save` (or the current weights of a Solver checkpoint), in eval mode,
    with attributes `preprocess` (fitted preprocessor or None), `classes` (list or None) and
    `info` (dict) attached. device: where the model goes ("cpu" by default, "cuda", "auto"):
    files hold host arrays, so a model saved from either device loads on either."""
    state, meta = load_state(path)
    if meta.get("kind") not in ("model", "checkpoint"):
        raise CheckpointError(f"{path} holds a chainrule {meta.get('kind')!r}, not a model")
    if state.get("model_config") is None:
        raise CheckpointError(f"{path} has no architecture config (the model was a custom, unregistered "
                              "module): rebuild it yourself and load_state_dict the weights")
    try:
        model = module_from_config(state["model_config"])
        weights = {k: np.asarray(v) for k, v in state["model"].items()}
        saved = {v.dtype for v in weights.values() if v.dtype.kind == "f"}
        if len(saved) == 1:  # a float64 model comes back float64 (the config builds float32 modules)
            model.to(saved.pop())
        model.load_state_dict(weights)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the model ({e})") from None
    model.eval()
    if device is not None:
        model.to(backend.device(device))
    model.preprocess = preprocessor_from_state(state.get("preprocess"))
    model.classes = state.get("classes")
    model.info = state.get("info") or {}
    return model
