"""`cr.save` / `cr.load`: PyTorch's `torch.save` / `torch.load`, without pickle.

    cr.save(model.state_dict(), "model.pth")            # any name; the bytes are safetensors
    model.load_state_dict(cr.load("model.pth"))
    cr.save({"epoch": 3, "model": model.state_dict(), "optim": opt.state_dict(),
             "sched": sched.state_dict(), "loss": loss}, "ckpt.pth")
    ckpt = cr.load("ckpt.pth", map_location="cpu", weights_only=True)

    cr.save(model, "digits.safetensors", preprocess=norm, classes=data.classes)
    model = cr.load("digits.safetensors")   # architecture rebuilt, weights loaded, eval mode
    model = cr.load("digits.safetensors", device="cuda")  # ... on the GPU

Any object made of Tensors, Parameters, NumPy arrays, numbers, strings, None, and dicts
(str or int keys), lists and tuples of them is saved: the arrays as safetensors tensors, the
structure as JSON in the safetensors header (`chainrule.checkpoint.flatten_state`), and it loads
back as it went in (a Tensor as a Tensor, a tuple as a tuple, an int key as an int).

A whole model is saved as its architecture config (`chainrule.nn.config.module_to_config`), its
weights, and optionally its fitted preprocessing and class names and an `info` dict; loading
rebuilds only chainrule's (or `cr.nn.register_module`-registered) classes, in eval mode.
`cr.load` also reads the Solver's checkpoints (it takes their current weights) and plain
safetensors files (a dict of Tensors, e.g. the output of `chainrule convert-weights`).

No pickle, ever: a pickle or zip file (PyTorch's own .pt/.pth) is refused from its first bytes,
with a message naming `chainrule convert-weights`; nothing in it runs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import backend
from .checkpoint import CheckpointError, decode_state, read_file, save_state
from .data.transforms.preprocess import preprocessor_from_state, preprocessor_to_state
from .model_contract import UNSET, fill
from .nn.config import module_from_config, module_to_config
from .nn.module import Module
from .tensor import Tensor

__all__ = ["save", "load"]


def save(obj: Any, f: str | os.PathLike | Any, preprocess: Any = UNSET, classes: list[str] | None = None,
         info: dict[str, Any] | None = None) -> Path | None:
    """Write `obj` to `f` (a file name, written atomically, or a binary file object).

    obj: a Module (architecture + weights), or a state: a state_dict, an optimizer's or
        scheduler's state_dict, or any nesting of dicts/lists/tuples of tensors, arrays,
        numbers, strings and None.
    preprocess, classes, info (a Module only): a fitted cr.data.transforms preprocessor (None:
        none; not given: the model's own), the class names, and extra JSON-able facts, e.g.
        {"input_shape": [1, 8, 8]}; what is not given comes from the input contract the Solver
        recorded on the model (chainrule/model_contract.py).
    Raises ValueError for a Module whose class cannot be rebuilt from a config (a custom class
    not registered with `cr.nn.register_module`), naming both ways out.
    """
    if isinstance(obj, Module):
        preprocess, classes, info = fill(obj, preprocess, classes, info)  # the input contract (h-21cli)
        return save_state(f, _model_state(obj, preprocess, classes, info), kind="model")
    if preprocess is not UNSET and preprocess is not None or classes is not None or info is not None:
        raise TypeError("cr.save: preprocess, classes and info go with a whole model (a cr.nn.Module), "
                        f"got a {type(obj).__name__}")
    return save_state(f, obj, kind="object", exact=True)


def _model_state(model: Module, preprocess: Any, classes: Any, info: Any) -> dict[str, Any]:
    try:
        config = module_to_config(model)
    except ValueError as e:
        name = type(model).__name__
        raise ValueError(
            f"cr.save cannot save the whole model: {e}. Either save its weights, "
            f"cr.save(model.state_dict(), f), and later build {name}() and call "
            f"model.load_state_dict(cr.load(f)); or decorate the class with @cr.nn.register_module "
            "(where it is defined, before saving and before loading) to save the whole model"
        ) from None
    return {"model_config": config, "model": dict(model.state_dict()),
            "preprocess": preprocessor_to_state(preprocess),
            "classes": None if classes is None else [str(c) for c in classes],
            "info": dict(info or {})}


def load(f: str | os.PathLike | Any, map_location: Any = None, weights_only: bool | None = None,
         device: Any = None, mmap: bool | None = None) -> Any:
    """What `save` wrote to `f` (a file name or a binary file object).

    - a state (state_dict, checkpoint dict, ...): the same nesting back, Tensors as Tensors;
    - a whole model (or a Solver checkpoint): the model, in eval mode, with attributes
      `preprocess` (fitted preprocessor or None), `classes` (list or None) and `info` (dict);
    - a plain safetensors file: {name: Tensor}.
    map_location: where tensors go, as PyTorch: "cpu", "cuda", a cr.device, a dict
        {saved location: new location} (files hold host arrays, so their location is "cpu"),
        or a function (tensor, "cpu") -> tensor. device: the same, chainrule's older name.
    weights_only, mmap: accepted for PyTorch's scripts; these files hold only data, so every load
        is weights-only, and the file is read whole.
    Pickle/zip files (PyTorch's own format) raise CheckpointError naming `chainrule convert-weights`.
    """
    if map_location is not None and device is not None:
        raise TypeError("cr.load: give map_location or device, not both")
    where = device if device is not None else map_location
    tensors, meta = read_file(f)
    name = getattr(f, "name", f)
    if meta.get("format") is None:  # a plain safetensors file (e.g. from chainrule convert-weights)
        return {k: _place(Tensor(v), where) for k, v in tensors.items()}
    state = decode_state(tensors, meta, name)
    kind = meta.get("kind")
    if kind == "object":
        return _map_tensors(state, lambda t: _place(t, where))
    if kind in ("model", "checkpoint"):
        return _load_model(state, name, _model_device(where))
    raise CheckpointError(f"{name} holds a chainrule {kind!r}, which cr.load does not know")


def _load_model(state: dict[str, Any], name: Any, device: Any) -> Module:
    if state.get("model_config") is None:
        raise CheckpointError(f"{name} has no architecture config (the model was a custom, unregistered "
                              "module): rebuild it yourself and load_state_dict the weights")
    try:
        model = module_from_config(state["model_config"])
        weights = {k: np.asarray(v) for k, v in state["model"].items()}
        saved = {v.dtype for v in weights.values() if v.dtype.kind == "f"}
        if len(saved) == 1:  # a float64 model comes back float64 (the config builds float32 modules)
            model.to(saved.pop())
        model.load_state_dict(weights)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{name}: cannot rebuild the model ({e})") from None
    model.eval()
    if device is not None:
        model.to(device)
    model.preprocess = preprocessor_from_state(state.get("preprocess"))
    model.classes = state.get("classes")
    model.info = state.get("info") or {}
    return model


def _map_tensors(v: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    if isinstance(v, Tensor):
        return fn(v)
    if isinstance(v, dict):
        return {k: _map_tensors(x, fn) for k, x in v.items()}
    if isinstance(v, list):
        return [_map_tensors(x, fn) for x in v]
    if isinstance(v, tuple):
        return tuple(_map_tensors(x, fn) for x in v)
    return v


def _place(t: Tensor, where: Any) -> Tensor:
    """A loaded (host) tensor moved as map_location says."""
    if where is None:
        return t
    if callable(where) and not isinstance(where, (str, backend.Device)):
        out = where(t, "cpu")
        if not isinstance(out, Tensor):
            raise TypeError(f"cr.load: map_location function returned a {type(out).__name__}, expected a Tensor")
        return out
    dev = _model_device(where)
    return t if dev is None or dev == backend.CPU else _moved(t, dev)


def _moved(t: Tensor, dev: backend.Device) -> Tensor:
    out = t.to(dev)
    if out is not t and type(t) is not Tensor:  # a Parameter stays a Parameter
        out = type(t)(out.data, requires_grad=t.requires_grad)
    return out


def _model_device(where: Any) -> backend.Device | None:
    """The device named by map_location / device (a dict maps the files' one location, "cpu")."""
    if where is None:
        return None
    if isinstance(where, dict):
        where = where.get("cpu", where.get(backend.CPU, "cpu"))
    if callable(where) and not isinstance(where, (str, backend.Device)):
        return None  # a function: applied per tensor; a model stays on the CPU
    if hasattr(where, "type") and not isinstance(where, backend.Device):  # a torch.device
        where = str(where)
    return backend.device(where)
